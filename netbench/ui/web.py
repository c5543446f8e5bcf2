"""`netbench web`: the terminal UI in a browser, through textual-serve, behind a token.

textual-serve's `Server` serves a page with xterm.js and, for each
websocket, runs the app's command in a subprocess with Textual's web
driver. It has no access control: anyone who reaches the port gets a
netbench of their own, with its servers, clients and the session files
on this machine. So this subclass:

- serves every route under a random token, `/TOKEN/` (the page),
  `/TOKEN/ws`, `/TOKEN/static/...`; any other path, a wrong token included,
  gets 403 from a middleware that compares in constant time. The token is
  in the path, not the query: textual.js appends `?width=..&height=..` to
  the websocket URL it is given;
- builds the page's websocket URL from the request's own Host (the
  `public_url` textual-serve would use is wrong for `--port 0` and for
  `0.0.0.0`), renders its own page (a title naming netbench, no font from
  another site) with autoescaping, and refuses a websocket whose Origin is
  another site's;
- sends `Referrer-Policy: no-referrer` and `Cache-Control: no-store` (the
  token must not leak through a Referer or a shared cache), and
  `frame-ancestors 'none'`;
- runs on an `aiohttp` runner it owns, so the bound port is known and
  printed (textual-serve's `serve()` prints a logo and the port asked for).
  textual-serve's `/download/...` route is left out: netbench delivers no files.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

TEMPLATES = Path(__file__).resolve().parent / "web_templates"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FORBIDDEN = (
    "403 Forbidden: this netbench web session needs its token in the URL "
    "(printed where `netbench web` was started).\n"
)

_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


def new_token() -> str:
    """A secret for the URL: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


class TokenServer(Server):
    """textual-serve's Server, every route behind `/TOKEN/` (see the module's rules)."""

    def __init__(self, command: str, host: str, port: int, token: str, title: str) -> None:
        super().__init__(command, host=host, port=port, title=title, templates_path=TEMPLATES)
        self.token = token
        self.bound_port: int | None = None
        """The port listened on, once `start` returned."""
        self._runner: web.AppRunner | None = None

    @property
    def path(self) -> str:
        return f"/{self.token}/"

    def url(self, host: str | None = None) -> str:
        """The page's URL (what the user opens), token included."""
        name = host or self.host
        if ":" in name:
            name = f"[{name}]"
        return f"http://{name}:{self.bound_port or self.port}{self.path}"

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        first = request.path.split("/", 2)[1] if request.path.startswith("/") else ""
        if not hmac.compare_digest(first.encode(), self.token.encode()):
            response: web.StreamResponse = web.Response(status=403, text=FORBIDDEN)
        else:
            response = await handler(request)
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        aiohttp_jinja2.setup(
            app, loader=jinja2.FileSystemLoader(self.templates_path), autoescape=True
        )
        prefix = f"/{self.token}"
        app.add_routes(
            [
                web.get(prefix, self._to_page),
                web.get(prefix + "/", self.handle_index, name="index"),
                web.get(prefix + "/ws", self._websocket, name="websocket"),
                web.static(prefix + "/static", self.statics_path, name="static"),
            ]
        )
        return app

    async def _to_page(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(self.path)

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        scheme = "wss" if request.secure else "ws"
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}://{request.host}/{self.token}/ws",
            "config": {"static": {"url": f"/{self.token}/static/"}},
            "application": {"name": self.title},
        }

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in (
            f"http://{request.host}",
            f"https://{request.host}",
        ):
            return web.Response(status=403, text="403 Forbidden: a page of another site\n")
        return await self.handle_websocket(request)

    async def start(self) -> None:
        """Listen (on `port`, 0: a free one) and serve until `stop`."""
        app = await self._make_app()
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.bound_port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


async def serve_until_signal(server: TokenServer, on_listening: Callable[[str], None]) -> None:
    """Start, tell the URL, wait for SIGINT or SIGTERM, stop (the apps get `quit`)."""
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        on_listening(server.url())
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.stop()
