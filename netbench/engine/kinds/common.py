"""What several kinds share: the HTTP kinds' options and connections, path checks."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol

from netbench.engine.http_server import HttpServerConnection, RequestContext
from netbench.engine.registry import KindOption, KindRuntime, Listener
from netbench.model import HttpRequest
from netbench.protocol.responses import Reply


class Site(Protocol):
    def respond(
        self, request: HttpRequest, *, keep_alive: bool, date: bytes
    ) -> Reply | Awaitable[Reply]: ...


def existing_dir(path: Path) -> str | None:
    return None if path.is_dir() else f"{path} is not a directory"


def existing_file(path: Path) -> str | None:
    return None if path.is_file() else f"{path}: no such file"


def a_path(text: str) -> Path:
    return Path(text).expanduser()


KEEP_ALIVE = KindOption(
    "keep_alive",
    "keep the connection open after a response when the client allows (--close: close after each)",
    flag="--keep-alive",
    off_flag="--close",
    shape="switch",
    label="Keep-alive",
)
RESPONSE_FILE = KindOption(
    "response_file",
    "raw response to send (reloaded when saved)",
    flag="--response",
    metavar="FILE",
    parse=a_path,
    check=existing_file,
)
RULES_FILE = KindOption(
    "rules_file",
    "TOML method/path rules",
    flag="--rules",
    metavar="FILE",
    parse=a_path,
    check=existing_file,
)
RAW = KindOption(
    "raw", "send response files byte for byte, unfixed", flag="--raw", shape="flag", default=False
)

LIVE = (RESPONSE_FILE, RULES_FILE, RAW)
"""What `--response`/`--rules` need: every kind that answers HTTP requests on its own."""

HTTP_DEFAULTS = {"backlog": 128, "recv_size": 65536, "idle_timeout": 15.0}


def http_listener(runtime: KindRuntime, site: Site) -> Listener:
    """HttpServerConnections answering from `site` behind the live rules and intercept."""
    config = runtime.config

    def respond(request: HttpRequest, context: RequestContext) -> Reply | Awaitable[Reply]:
        return site.respond(request, keep_alive=context.keep_alive, date=context.date)

    handler = runtime.http_handler(respond)
    ctx = runtime.ctx
    options = runtime.stream_options()

    def connection() -> HttpServerConnection:
        return HttpServerConnection(
            ctx,
            handler,
            keep_alive=config.keep_alive,
            limits=config.limits,
            bound_host=config.host,
            **options,
        )

    return Listener(connection)
