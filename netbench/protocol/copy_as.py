"""The copy-as formats, by name: each turns a recorded request's bytes into a command. Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from netbench.protocol.curl import curl_export
from netbench.protocol.httpie import httpie_export
from netbench.protocol.nc import nc_export
from netbench.protocol.python_http import python_export
from netbench.protocol.wire_request import Export, WireRequest

__all__ = ["FORMATS", "Format", "export_request"]

Format = Literal["curl", "httpie", "python", "nc"]

FORMATS: dict[Format, tuple[str, Callable[[WireRequest, str, str], Export]]] = {
    "curl": ("curl", curl_export),
    "httpie": ("HTTPie", httpie_export),
    "python": ("Python (http.client)", python_export),
    "nc": ("raw bytes: printf | nc", nc_export),
}
"""name -> (label, exporter(wire, "host:port", body file))."""


def export_request(kind: Format, wire: WireRequest, server: str, body_file: str) -> Export:
    """`wire` as a `kind` command aimed at `server`; `body_file` is where a long body goes."""
    return FORMATS[kind][1](wire, server, body_file)
