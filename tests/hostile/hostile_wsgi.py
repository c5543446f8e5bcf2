"""The WSGI app the hostile suite runs under `netbench serve wsgi`: the page server's routes.

`/` answers 200 (any method, after reading the whole body), anything else
404, as the `http` kind does, so the same cases hold for both kinds. It
never echoes what it was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    stream = environ["wsgi.input"]
    while stream.read(65536):
        pass
    if environ["PATH_INFO"] == "/":
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [b"<!DOCTYPE html><p>hello from a WSGI app</p>\n"]
    start_response("404 Not Found", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<!DOCTYPE html><p>not here</p>\n"]
