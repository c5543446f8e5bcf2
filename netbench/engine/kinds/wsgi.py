"""`wsgi`: any PEP 3333 application on netbench's HTTP/1.1 server, every byte recorded.

With no MODULE:APP it serves seed 004's `test.py` (`application` answering
Hello World, as `uwsgi --http :8001 --wsgi-file test.py` did).

Rules:
- the app runs in a pool of daemon threads (`--threads`), never on the event
  loop: a blocking app holds up neither the loop nor other connections, and
  a hung one does not keep netbench from exiting;
- `wsgi.input` reads the body as it arrives (engine/request_body.py), chunked
  framing removed; it ends at the body's end (`wsgi.input_terminated`);
- each piece the app yields (or passes to `write()`) goes to the client
  before the app is asked for the next, with backpressure: past `OUTBOX`
  unsent bytes the app's thread waits for the socket;
- `close()` of the app's iterable is called in every case, also when the
  client left mid-response;
- an app that raises before its response began gets a 500 page naming the
  exception, its traceback in the exchange's record; after, the connection
  closes (the client sees a cut body) and the record says why.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import AsyncGenerator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from netbench import __version__
from netbench.engine.app_host import (
    AppHost,
    AppStream,
    app_listener,
    is_async_app,
    load_app,
    no_response,
    parse_app_spec,
)
from netbench.engine.app_threads import ClientGone, FirstAnswer, Outbox, Workers
from netbench.engine.http_server import Deferred, RequestContext
from netbench.engine.kinds.common import (
    HTTP_DEFAULTS,
    KEEP_ALIVE,
    LIVE,
    a_path,
    existing_dir,
)
from netbench.engine.registry import (
    KindError,
    KindOption,
    KindRuntime,
    Listener,
    ServerKind,
    register,
)
from netbench.engine.request_body import RequestBody, SpooledBody
from netbench.model import HttpRequest, Transport
from netbench.protocol.app_response import AppResponseError, ResponseFramer
from netbench.protocol.responses import Reply, error_page

SEED_APP = "netbench.engine.kinds.wsgi:application"
TRACEBACK_LIMIT = 16 * 1024


def application(env: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Seed 004's test.py, as `uwsgi --http :8001 --wsgi-file test.py` served it."""
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"Hello World"]


# -- one call of the app -----------------------------------------------------------------


class InputStream:
    """`wsgi.input`: a file-like view of the body, read as it arrives."""

    def __init__(self, body: RequestBody) -> None:
        self._body = body

    def read(self, size: int | None = -1) -> bytes:
        return self._body.read(-1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._body.readline(-1 if size is None else size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines, total = [], 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


def environ_for(request: HttpRequest, context: RequestContext, body: RequestBody) -> dict[str, Any]:
    """PEP 3333's environ: CGI names from the request, bytes as latin-1 strings."""
    target = request.target
    if target[:7].lower() == b"http://" or target[:8].lower() == b"https://":
        target = b"/" + target.split(b"://", 1)[1].partition(b"/")[2]
    path, _, query = target.partition(b"?")
    env: dict[str, Any] = {
        "REQUEST_METHOD": request.method.decode("latin-1"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_NAME": context.local.host,
        "SERVER_PORT": str(context.local.port),
        "SERVER_PROTOCOL": f"HTTP/{request.version}",
        "SERVER_SOFTWARE": f"netbench/{__version__}",
        "REMOTE_ADDR": context.peer.host,
        "REMOTE_PORT": str(context.peer.port),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": InputStream(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for raw_name, raw_value in request.headers:
        name = raw_name.decode("latin-1")
        if "_" in name:
            continue  # HTTP_X_A would not say if it was X-A or X_A (gunicorn and nginx drop these)
        key = name.upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        if key in env:
            value = env[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
        env[key] = value
    return env


class WsgiStream(AppStream):
    """One request through the app, in a worker thread; the loop writes what it makes."""

    def __init__(
        self,
        app: Any,
        environ: dict[str, Any],
        framer: ResponseFramer,
        workers: Workers,
        body: RequestBody,
    ) -> None:
        super().__init__(body)
        self.app = app
        self.environ = environ
        self.framer = framer
        self.workers = workers
        self._outbox: Outbox | None = None

    def start(self) -> None:
        if self._outbox is None:
            outbox = self._outbox = Outbox(asyncio.get_running_loop())
            self.workers.submit(lambda: self._run(outbox))

    def abandon(self) -> None:
        if self._outbox is not None:
            self._outbox.cancel()

    async def produce(self) -> AsyncGenerator[bytes, None]:
        self.start()
        outbox = self._outbox
        assert outbox is not None
        try:
            while True:
                items, ended = await outbox.take()
                for data in items:
                    yield data
                if ended:
                    break
        finally:
            outbox.cancel()

    def whole_reply(self, data: bytes) -> Reply:
        """The app answered in one piece: its reply as a page's (in the app's thread)."""
        self.body.discard()  # the app is done with it: a spooled upload's file closes now
        response = self.response or no_response("the app sent no response")
        return Reply((data,), response, self.keep_alive, "wsgi")

    def streamed_reply(self, outbox: Outbox) -> Reply:
        """The app streams: a reply whose pieces come through `outbox` (in the app's thread)."""
        self._outbox = outbox
        return Reply((self,), no_response("the app sent no response"), True, "wsgi")

    def _run(self, out: Outbox | FirstAnswer[Reply]) -> None:
        """The app's side (a worker thread)."""
        framer = self.framer
        chosen: list[tuple[int, bytes, list[tuple[bytes, bytes]]]] = []
        pending = [b""]  # framed bytes not handed over yet (they may ride with the end)
        flushed = [False]

        def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
            if exc_info is not None:
                try:
                    if framer.started:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif chosen:
                raise AssertionError("start_response called a second time without exc_info")
            chosen[:] = [_status(status, headers)]
            return write

        def send(data: bytes, total: int | None = None) -> None:
            if not framer.started:
                if not chosen:
                    raise AssertionError("the app sent its body before calling start_response")
                status, reason, headers = chosen[0]
                pending[0] += framer.start(status, reason, headers, total=total)
            pending[0] += framer.body(data)

        def flush() -> None:
            if pending[0]:
                data, pending[0] = pending[0], b""
                flushed[0] = True
                out.put(data)

        def write(data: bytes) -> None:
            if not isinstance(data, bytes):
                raise TypeError(f"write() takes bytes, not {type(data).__name__}")
            send(data)
            flush()

        result: Any = None
        try:
            result = self.app(self.environ, start_response)
            if isinstance(result, list | tuple) and len(result) == 1 and not framer.started:
                piece = result[0]
                if not isinstance(piece, bytes):
                    raise TypeError(f"the app yielded {type(piece).__name__}, not bytes")
                send(piece, total=len(piece) if piece or not framer.head_only else None)
            else:
                for piece in result:
                    if not isinstance(piece, bytes):
                        raise TypeError(f"the app yielded {type(piece).__name__}, not bytes")
                    if piece:
                        send(piece)
                        flush()  # before asking the app for more (PEP 3333: no delaying)
            if not framer.started:
                # Under HEAD most apps send no body: that tells nothing of GET's length.
                send(b"", total=None if framer.head_only else 0)
            pending[0] += framer.end()
            self.response = framer.response()
            self.keep_alive = framer.keep_alive
        except ClientGone:
            pass
        except BaseException as error:  # SystemExit too: the worker thread lives on
            pending[0] = self._failed(error, framer, began=flushed[0])
        finally:
            if hasattr(result, "close"):
                try:
                    result.close()
                except BaseException as error:  # SystemExit too: the answer still goes out
                    self.response = framer.response(
                        f"close() of the app's iterable raised {error!r}"
                    )
            out.end(pending[0])

    def _failed(self, error: BaseException, framer: ResponseFramer, *, began: bool) -> bytes:
        """What to send (a 500 page, or nothing once the response began) and to record."""
        trace = traceback.format_exc()[-TRACEBACK_LIMIT:]
        what = f"{type(error).__name__}: {error}"
        if began:
            self.response = framer.response(
                f"the app raised {what} after its response began\n{trace}"
            )
            self.keep_alive = False
            self.close_detail = f"the app raised {type(error).__name__} mid-response"
            return b""
        page = error_page(
            500,
            f"The application raised {what}. The traceback is in the exchange's record.",
            head_only=framer.head_only,
            date=framer.date,
            source="wsgi",
        )
        self.response = page.response._replace(error=f"the app raised {what}\n{trace}")
        self.keep_alive = False
        return page.simple or b""


def _status(status: str, headers: list[Any]) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    if not isinstance(status, str) or not status[:3].isdigit() or status[3:4] not in ("", " "):
        raise AppResponseError(f"the app's status {status!r} is not like '200 OK'")
    try:
        pairs = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        reason = status[4:].encode("latin-1")
    except (UnicodeEncodeError, ValueError, TypeError, AttributeError) as error:
        raise AppResponseError(
            f"the app's status or headers are not latin-1 text: {error}"
        ) from None
    return int(status[:3]), reason, pairs


class WsgiDeferred(Deferred):
    """A complete request through the app: when the app answers in one piece
    (most do), the loop is woken once and writes it as it writes a page."""

    def __init__(self, stream: WsgiStream) -> None:
        self.stream = stream

    def begin(self) -> asyncio.Future[Reply]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        stream = self.stream
        answer = FirstAnswer(loop, future, stream.whole_reply, stream.streamed_reply)
        stream.workers.submit(partial(stream._run, answer))
        return future


class WsgiHost(AppHost):
    def __init__(self, app: Any, workers: Workers) -> None:
        self.app = app
        self.workers = workers

    def call(
        self, request: HttpRequest, context: RequestContext, body: RequestBody
    ) -> Reply | Deferred:
        framer = ResponseFramer(
            method=request.method,
            version=request.version,
            keep_alive=context.keep_alive,
        )
        stream = WsgiStream(
            self.app,
            environ_for(request, context, body),
            framer,
            self.workers,
            body,
        )
        if isinstance(body, SpooledBody):  # the request is complete: nothing to stream in
            return WsgiDeferred(stream)
        return Reply((stream,), no_response("the app sent no response"), True, "wsgi")


# -- the kind ---------------------------------------------------------------------------


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 1024:
        raise ValueError("must be between 1 and 1024")
    return value


APP_DIR = KindOption(
    "app_dir",
    "directory put first on sys.path to import the app from (default: current), as "
    "gunicorn's --chdir",
    flag="--app-dir",
    metavar="DIR",
    parse=lambda text: a_path(text.strip()) if text.strip() else Path.cwd(),
    check=existing_dir,
    label="App dir",
    placeholder="directory to import it from",
)


async def _build(runtime: KindRuntime) -> Listener:
    config = runtime.config
    spec = str(config.value("app") or SEED_APP)
    app_dir = config.value("app_dir") or Path.cwd()
    assert isinstance(app_dir, Path)
    if not app_dir.is_dir():
        raise KindError(f"--app-dir {app_dir} is not a directory")
    app = await asyncio.to_thread(load_app, spec, app_dir)
    if is_async_app(app):
        raise KindError(
            f"{spec} is an ASGI application (async): serve it with `netbench serve asgi`"
        )
    threads = config.value("threads")
    workers = Workers(threads if isinstance(threads, int) else 8, f"wsgi-{runtime.server_id}")
    return app_listener(runtime, WsgiHost(app, workers), close=workers.stop)


register(
    ServerKind(
        "wsgi",
        "any PEP 3333 app (`MODULE:APP`, `--app-dir DIR`) on netbench's HTTP/1.1 server, in a "
        "thread pool (`--threads`), the body streamed to it; without `MODULE:APP` seed 004's "
        "`test.py` answering `Hello World` (`uwsgi --http :8001`)",
        Transport.TCP,
        http=True,
        answers="the WSGI app",
        port=8001,  # seed 004: uwsgi --http :8001
        defaults=HTTP_DEFAULTS,
        build=_build,
        options=(
            KindOption(
                "app",
                "the application, MODULE:APP (default: seed 004's Hello World)",
                shape="positional",
                metavar="MODULE:APP",
                parse=lambda text: parse_app_spec(text) if text.strip() else SEED_APP,
                label="App",
                placeholder="module:app (blank: seed 004's Hello World)",
                default=SEED_APP,
            ),
            APP_DIR,
            KindOption(
                "threads",
                "threads running the app (default 8)",
                flag="--threads",
                metavar="N",
                parse=_threads,
                default=8,
            ),
            KEEP_ALIVE,
            *LIVE,
        ),
        idle_note="keep-alive idle",
    )
)
