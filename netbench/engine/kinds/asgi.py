"""`asgi`: an ASGI 3 application (HTTP and lifespan) on netbench's HTTP/1.1 server.

Rules:
- the app runs on the event loop, as ASGI apps expect; `receive` hands it
  the body as it arrives (engine/request_body.py), then waits for the
  response to be sent or the client to leave (`http.disconnect`);
- `send` is flow-controlled: a body message waits while the socket is behind;
- lifespan: `startup` is sent when the server starts and must complete
  within `LIFESPAN_TIMEOUT` (a `startup.failed` message, or the timeout,
  is the server's start error); `shutdown` when it stops. An app that
  raises on the lifespan scope does not support it, and runs without
  (as uvicorn's `--lifespan auto` does); its state dict is copied into
  each request's scope;
- WebSocket is not supported yet: an upgrade request gets a 501 page
  saying so, and the app never sees it;
- an app that raises before its response began gets a 500 page naming the
  exception, its traceback in the exchange's record; after, the connection
  closes and the record says why.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from netbench.engine.app_host import (
    AppHost,
    AppStream,
    app_listener,
    is_async_app,
    load_app,
    no_response,
    parse_app_spec,
)
from netbench.engine.http_server import RequestContext
from netbench.engine.kinds.common import HTTP_DEFAULTS, KEEP_ALIVE, LIVE
from netbench.engine.kinds.wsgi import APP_DIR, TRACEBACK_LIMIT
from netbench.engine.registry import (
    KindError,
    KindOption,
    KindRuntime,
    Listener,
    ServerKind,
    register,
)
from netbench.engine.request_body import BodyError, RequestBody
from netbench.model import HttpRequest, Transport
from netbench.protocol.app_response import ResponseFramer, reason_for
from netbench.protocol.responses import Reply, error_page

ASGI = {"version": "3.0", "spec_version": "2.3"}
LIFESPAN_TIMEOUT = 30.0
WEBSOCKET_501 = (
    "This is netbench's ASGI host: it serves HTTP requests and the lifespan of an "
    "ASGI app, not WebSocket connections (yet). The upgrade was not passed to the app."
)


def scope_for(
    request: HttpRequest, context: RequestContext, state: dict[str, Any]
) -> dict[str, Any]:
    target = request.target
    if target[:7].lower() == b"http://" or target[:8].lower() == b"https://":
        target = b"/" + target.split(b"://", 1)[1].partition(b"/")[2]
    raw_path, _, query = target.partition(b"?")
    return {
        "type": "http",
        "asgi": ASGI,
        "http_version": request.version,
        "method": request.method.decode("latin-1"),
        "scheme": "http",
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in request.headers],
        "client": (context.peer.host, context.peer.port),
        "server": (context.local.host, context.local.port),
        "state": dict(state),
    }


class AsgiStream(AppStream):
    """One request through the app, on the loop; pieces go out as `send` makes them."""

    def __init__(
        self, app: Any, scope: dict[str, Any], framer: ResponseFramer, body: RequestBody
    ) -> None:
        super().__init__(body)
        self.app = app
        self.scope = scope
        self.framer = framer
        self._finished = asyncio.Event()
        """The response was sent whole (a later `receive` then says disconnect)."""

    async def produce(self) -> AsyncGenerator[bytes, None]:
        out: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
        task = asyncio.get_running_loop().create_task(self._run(out), name="asgi-app")
        try:
            while (data := await out.get()) is not None:
                yield data
        finally:
            self._finished.set()
            if not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=1.0)

    async def _run(self, out: asyncio.Queue[bytes | None]) -> None:
        framer = self.framer
        started: list[tuple[int, list[tuple[bytes, bytes]]]] = []
        body_done = False
        began = False

        async def receive() -> dict[str, Any]:
            nonlocal body_done
            if not body_done:
                try:
                    data = await self.body.next_chunk()
                except BodyError:
                    body_done = True
                    return {"type": "http.disconnect"}
                body_done = data is None
                return {"type": "http.request", "body": data or b"", "more_body": not body_done}
            await self._finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal began
            kind = message.get("type")
            if kind == "http.response.start":
                if started:
                    raise RuntimeError("http.response.start sent twice")
                headers = [
                    (bytes(name), bytes(value)) for name, value in message.get("headers", ())
                ]
                started.append((int(message["status"]), headers))
            elif kind == "http.response.body":
                if not started:
                    raise RuntimeError("http.response.body sent before http.response.start")
                if self._finished.is_set():
                    raise RuntimeError("http.response.body sent after the response ended")
                data = bytes(message.get("body", b""))
                more = bool(message.get("more_body", False))
                wire = b""
                if not framer.started:
                    status, headers = started[0]
                    wire = framer.start(
                        status,
                        reason_for(status),
                        headers,
                        # Under HEAD an app that sends no body tells nothing of GET's length.
                        total=None if more or (framer.head_only and not data) else len(data),
                    )
                wire += framer.body(data)
                if not more:
                    wire += framer.end()
                    self._finished.set()
                if wire:
                    began = True
                    await out.put(wire)
            else:
                raise RuntimeError(f"unexpected ASGI message type {kind!r} on an HTTP scope")

        try:
            await self.app(self.scope, receive, send)
            if not self._finished.is_set():
                raise RuntimeError("the app returned before its response was complete")
            self.response = framer.response()
            self.keep_alive = framer.keep_alive
        except Exception as error:  # a cancellation (the client left) ends it quietly
            page = self._failed(error, began)
            if page:
                await out.put(page)
        await out.put(None)

    def _failed(self, error: Exception, began: bool) -> bytes:
        trace = traceback.format_exc()[-TRACEBACK_LIMIT:]
        what = f"{type(error).__name__}: {error}"
        self.keep_alive = False
        if began:
            record = f"the app raised {what} after its response began\n{trace}"
            self.response = self.framer.response(record)
            self.close_detail = f"the app raised {type(error).__name__} mid-response"
            return b""
        page = error_page(
            500,
            f"The application raised {what}. The traceback is in the exchange's record.",
            head_only=self.framer.head_only,
            date=self.framer.date,
            source="asgi",
        )
        self.response = page.response._replace(error=f"the app raised {what}\n{trace}")
        return page.simple or b""


class AsgiHost(AppHost):
    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    def call(self, request: HttpRequest, context: RequestContext, body: RequestBody) -> Reply:
        upgrade = request.header(b"upgrade")
        if upgrade is not None and b"websocket" in upgrade.lower():
            body.discard()
            return error_page(501, WEBSOCKET_501, date=context.date, source="asgi")
        framer = ResponseFramer(
            method=request.method,
            version=request.version,
            keep_alive=context.keep_alive,
        )
        stream = AsgiStream(self.app, scope_for(request, context, self.state), framer, body)
        return Reply((stream,), no_response("the app sent no response"), True, "asgi")


class Lifespan:
    """The app's lifespan scope: startup when the server starts, shutdown when it stops."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.supported = True

    async def startup(self) -> None:
        """Run startup; KindError when the app says it failed or does not answer in time."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="asgi-lifespan")
        await self._events.put({"type": "lifespan.startup"})
        reply = await self._reply(LIFESPAN_TIMEOUT, "startup")
        if reply.get("type") == "lifespan.startup.failed":
            self._task.cancel()
            message = str(reply.get("message", "")) or "no message"
            raise KindError(f"the app's lifespan startup failed: {message}")

    async def shutdown(self) -> None:
        if self._task is None or self._task.done():
            return
        await self._events.put({"type": "lifespan.shutdown"})
        try:
            await self._reply(5.0, "shutdown")
        except KindError:
            self._task.cancel()

    async def _reply(self, timeout: float, what: str) -> dict[str, Any]:
        assert self._task is not None
        waiting = asyncio.ensure_future(self._replies.get())
        done, _ = await asyncio.wait(
            [waiting, self._task], timeout=timeout, return_when="FIRST_COMPLETED"
        )
        if waiting in done:
            return waiting.result()
        waiting.cancel()
        if self._task in done:  # it raised or returned: no lifespan (uvicorn's "auto")
            self.supported = False
            return {"type": f"lifespan.{what}.complete"}
        self._task.cancel()
        raise KindError(f"the app's lifespan {what} did not complete within {timeout:g} s")

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI, "state": self.state}

        async def receive() -> dict[str, Any]:
            return await self._events.get()

        async def send(message: dict[str, Any]) -> None:
            await self._replies.put(message)

        try:
            await self.app(scope, receive, send)
        except Exception:
            self.supported = False


async def _build(runtime: KindRuntime) -> Listener:
    config = runtime.config
    spec = str(config.value("app") or "")
    app_dir = config.value("app_dir") or Path.cwd()
    assert isinstance(app_dir, Path)
    if not app_dir.is_dir():
        raise KindError(f"--app-dir {app_dir} is not a directory")
    app = await asyncio.to_thread(load_app, spec, app_dir)
    if not is_async_app(app):
        raise KindError(
            f"{spec} is not an ASGI application (an async callable taking scope, receive, "
            "send): a WSGI app runs under `netbench serve wsgi`"
        )
    lifespan = Lifespan(app)
    await lifespan.startup()
    return app_listener(runtime, AsgiHost(app, lifespan.state), close=lifespan.shutdown)


register(
    ServerKind(
        "asgi",
        "an ASGI 3 app (`MODULE:APP`: FastAPI, Starlette...) with its lifespan, on netbench's "
        "HTTP/1.1 server, the body streamed to it; a WebSocket upgrade gets 501",
        Transport.TCP,
        http=True,
        answers="the ASGI app",
        port=8001,
        defaults=HTTP_DEFAULTS,
        build=_build,
        options=(
            KindOption(
                "app",
                "the application, MODULE:APP",
                shape="positional",
                metavar="MODULE:APP",
                parse=parse_app_spec,
                label="App",
                placeholder="module:app",
                required="asgi needs the application: MODULE:APP (for example main:app)",
            ),
            APP_DIR,
            KEEP_ALIVE,
            *LIVE,
        ),
        idle_note="keep-alive idle",
    )
)
