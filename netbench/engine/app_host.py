"""Hosting an application (WSGI, ASGI) on netbench's own HTTP/1.1 server.

The connection is the `http` kind's (every byte recorded, the same limits
and Host check), with one difference: the application starts when the
request's head is complete and reads the body as it arrives (a
`BodyPipe`), instead of after the whole request was read.

Rules:
- at the head, a request that intercept is holding or a live rule (or the
  response file) answers is not streamed: its body is spooled and, once the
  request is complete, it goes through the usual handler chain, whose site
  runs the app with the spooled body (a rule overrides the app's answer);
- a streamed request's reply is queued at its head, in request order, so
  pipelined requests are answered in order and an app runs only when the
  replies before its own are out;
- an app's reply (an `AppStream`) ends only once its request was read to
  the end: what the app did not read is dropped as it arrives, then the
  response is recorded, after the request, and a `close` takes effect;
- a request that fails while streaming (a limit, the client leaving) is
  recorded under the exchange the app answers: its page replaces the app's
  answer if nothing was sent yet, else the connection closes;
- the client's silence mid-body is idleness (the idle timeout closes); an
  app that is slow to read is not: the socket is paused, not idle.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import importlib
import inspect
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from netbench.engine.context import EngineContext
from netbench.engine.http_server import (
    CONTINUE_REPLY,
    INTERIM,
    Deferred,
    Handler,
    HttpServerConnection,
    RequestContext,
)
from netbench.engine.registry import KindError, KindRuntime, Listener
from netbench.engine.request_body import BodyPipe, RequestBody, SpooledBody
from netbench.engine.stream import RecordedStream
from netbench.model import EndReason, HttpRequest, HttpResponse
from netbench.protocol.http_parse import ParsedRequest, ParseFailure
from netbench.protocol.http_stream import RequestHead, StreamingRequestReader
from netbench.protocol.responses import HttpDate, Reply, Stream, error_page
from netbench.protocol.words import with_article

_DATE = HttpDate()
_PENDING = HttpResponse(None, b"", "", (), b"", 0, error="the application sent no response")


class AppStream(Stream):
    """An application's response: pieces from `produce`, then the rest of the request."""

    def __init__(self, body: RequestBody) -> None:
        self.body = body
        self.request_read = asyncio.Event()
        """Set when its request was read to the end (at once for a spooled body)."""
        if not isinstance(body, BodyPipe):
            self.request_read.set()
        self.failure: Reply | None = None
        """The request failed while streaming (413, cut short): the page to send instead."""
        self.answered = False
        """The app's whole response has been sent; only the rest of its request is awaited."""

    @abc.abstractmethod
    def produce(self) -> AsyncGenerator[bytes, None]:
        """Run the app (unless `start` did) and yield its response's bytes, framed."""

    def start(self) -> None:
        """Begin running the app now; what it makes waits for `produce` (its turn)."""

    def abandon(self) -> None:
        """Its turn will never come (the connection ended): stop the app's side."""

    async def pieces(self) -> AsyncGenerator[bytes, None]:
        sent = False
        if self.failure is not None:
            self.abandon()
        else:
            async with contextlib.aclosing(self.produce()) as produced:
                async for data in produced:
                    if self.failure is not None:
                        break
                    sent = True
                    yield data
        if self.failure is not None:
            self.keep_alive = False
            if not sent:
                self.response = self.failure.response
                for step in self.failure.steps:
                    if isinstance(step, bytes):
                        yield step
            else:
                self.close_detail = "the request failed while the app answered"
            return
        self.body.discard()
        self.answered = True
        await self.request_read.wait()
        if self.failure is not None:  # its framing is lost: nothing after it can be read
            self.keep_alive = False
            self.close_detail = "the request failed after the app answered"

    def fail(self, page: Reply) -> None:
        self.failure = page
        self.request_read.set()


class AppHost(Protocol):
    """What runs an application for one request."""

    def call(
        self, request: HttpRequest, context: RequestContext, body: RequestBody
    ) -> Reply | Deferred:
        """A reply whose Stream step runs the app, or a plain reply (a 501); for a
        complete request (a `SpooledBody`) it may be a Deferred instead."""
        ...


@dataclass(eq=False, slots=True)
class _Reading:
    """The request whose body is arriving."""

    body: RequestBody
    exchange_id: int | None = None
    """Set when it streams: its reply is already queued."""
    keep: bool = True
    stream: AppStream | None = None


class AppServerConnection(HttpServerConnection):
    """An HTTP connection whose application reads each body as it arrives."""

    reader_type = StreamingRequestReader
    reader: StreamingRequestReader
    spool_bodiless = True
    """A request without a body goes through the handler chain whole, as the http
    kind's do: a WSGI app then answers it in one hand-over (engine/app_threads.py)."""

    def __init__(
        self,
        ctx: EngineContext,
        handler: Handler,
        *,
        host: AppHost,
        answered_before_app: Callable[[HttpRequest], bool],
        **options: Any,
    ) -> None:
        super().__init__(ctx, handler, **options)
        self.host = host
        self.answered_before_app = answered_before_app
        self._reading: _Reading | None = None
        self._spooled: RequestBody | None = None
        self._input_paused = False

    # -- heads and body pieces -------------------------------------------------------

    def _on_stream(self, item: RequestHead | bytes) -> None:
        if isinstance(item, bytes):
            if self._reading is not None:
                self._reading.body.feed(item)
            return
        request = item.request
        if (
            (self.spool_bodiless and not has_body(request))
            or self._refusal(request) is not None
            or self.answered_before_app(request)
        ):
            # Answered once complete, as the http kind answers (the refusal page,
            # the intercept queue, a rule); the app, if it comes to it, reads the spool.
            # A request without a body is complete at its head: nothing to stream.
            self._reading = _Reading(SpooledBody())
            return
        exchange_id = self.ctx.next_exchange_id()
        keep = self.keep_alive and request.keep_alive
        pipe = BodyPipe(asyncio.get_running_loop(), self._pause_input)
        context = self.request_context(exchange_id, keep, pipe)
        reply = self.host.call(request, context, pipe)
        assert isinstance(reply, Reply)  # only a complete request's reply may be Deferred
        stream = next((step for step in reply.steps if isinstance(step, AppStream)), None)
        self._reading = _Reading(pipe, exchange_id, keep, stream)
        if stream is not None and not self._queue and self._pump is None:
            stream.start()  # its turn is now: the app runs while the reply's task starts
        self._queue.append((exchange_id, keep, reply))
        if self._pump is None:
            self._pump = self.ctx.tasks.spawn(self._run_queue(), f"http-conn-{self.conn_id}")

    def _on_request(self, parsed: ParsedRequest) -> None:
        reading, self._reading = self._reading, None
        if reading is None or reading.exchange_id is None:
            if reading is not None:
                reading.body.finish()
            self._spooled = reading.body if reading is not None else None
            try:
                super()._on_request(parsed)
            finally:
                self._spooled = None
            return
        self._publish_request(reading.exchange_id, parsed)
        reading.body.finish()
        if not reading.keep or parsed.upgrade:
            self._closing_after_reply = True  # the bytes after it are recorded, not parsed
            if reading.stream is not None:
                reading.stream.keep_alive = False
        if reading.stream is not None:
            reading.stream.request_read.set()

    def _request_body(self) -> RequestBody | None:
        return self._spooled

    def _invite_body(self, head: ParsedRequest) -> None:
        reading = self._reading
        if reading is None or reading.exchange_id is None:
            super()._invite_body(head)  # refused, or answered once complete: as the http kind
            return
        # The app's reply is queued already and waits for this body: the
        # `100 Continue` goes just before it, after the replies before it.
        at = next((i for i, entry in enumerate(self._queue) if entry[0] == reading.exchange_id), 0)
        self._queue.insert(at, (INTERIM, True, CONTINUE_REPLY))

    def _on_failure(self, failure: ParseFailure) -> None:
        reading, self._reading = self._reading, None
        if reading is None or reading.exchange_id is None:
            if reading is not None:
                reading.body.fail(failure.error)
            super()._on_failure(failure)
            return
        request = failure.request
        if request.error is None:
            request = request._replace(error=failure.error)
        self._publish_request(reading.exchange_id, replace(failure, request=request))
        self._closing_after_reply = True
        reading.body.fail(failure.error)
        why = "Malformed request: " if failure.status == 400 else ""
        page = error_page(failure.status, why + failure.error, date=_DATE.at(time.time()))
        if reading.stream is not None:
            reading.stream.fail(page)

    def on_closed(self, reason: EndReason) -> None:
        reading, self._reading = self._reading, None
        if reading is not None:
            if reading.exchange_id is not None and not self._closing_after_reply:
                how = "reset" if reason in (EndReason.RST_PEER, EndReason.RST_LOCAL) else "closed"
                cut_short = self.reader.feed_eof(how)
                if cut_short is not None:
                    self._publish_request(reading.exchange_id, cut_short)
            reading.body.fail(f"connection {reason.value}")
            if reading.stream is not None and reading.stream.answered:
                # The app answered before the body came (a client may stop sending
                # once it has its answer): that answer went out whole, so its reply
                # ends on its own and is recorded, instead of being cancelled as
                # an unanswered one would be.
                reading.stream.fail(error_page(400, f"connection {reason.value}"))
                self._pump = None
        for _exchange_id, _keep, pending in self._queue:
            steps = pending.steps if isinstance(pending, Reply) else ()
            for step in steps:
                if isinstance(step, AppStream):
                    step.abandon()
        super().on_closed(reason)

    def on_peer_fin(self) -> bool:
        reading = self._reading
        if reading is not None and reading.exchange_id is not None:
            return False  # its body can never be complete: closed and recorded cut short
        return super().on_peer_fin()

    def on_idle(self) -> None:
        reading = self._reading
        if reading is not None and reading.exchange_id is not None and not self._input_paused:
            RecordedStream.on_idle(self)  # the client went quiet in the middle of its body
            return
        super().on_idle()

    # -- flow control of the body -----------------------------------------------------

    def _pause_input(self, paused: bool) -> None:
        self._input_paused = paused
        transport = self.transport
        if transport is None or self.is_closing or self._peer_fin:
            return
        if paused:
            transport.pause_reading()
        elif not self.ctx.reading_paused:
            transport.resume_reading()

    def set_reading(self, reading: bool) -> None:
        if reading and self._input_paused:
            return  # the app is behind: its pipe resumes reading
        super().set_reading(reading)


def has_body(request: HttpRequest) -> bool:
    """Whether a body follows the head (RFC 9112 §6.3: Transfer-Encoding or a Content-Length)."""
    for name, value in request.headers:
        size = len(name)
        if size == 17 and name.lower() == b"transfer-encoding":
            return True
        if size == 14 and name.lower() == b"content-length" and value.strip() != b"0":
            return True
    return False


# -- loading an app ------------------------------------------------------------------------


def parse_app_spec(text: str) -> str:
    """`module:attribute` (dots allowed on both sides, `()` calls a factory)."""
    spec = text.strip()
    module, colon, attribute = spec.partition(":")
    names = [*module.split("."), *attribute.removesuffix("()").split(".")]
    if not colon or not all(name.isidentifier() for name in names):
        raise ValueError(
            # Quoted: unquoted, `(` is a syntax error in the shell it is pasted into.
            f"{text!r} is not MODULE:APP (for example myapp:app or 'pkg.web:create_app()')"
        )
    return spec


def load_app(spec: str, app_dir: Path) -> Any:
    """Import MODULE and get APP, with `app_dir` first on sys.path; KindError if it fails."""
    module_name, _, attribute = spec.partition(":")
    directory = str(app_dir.resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        target: Any = importlib.import_module(module_name)
        for name in attribute.removesuffix("()").split("."):
            target = getattr(target, name)
        if attribute.endswith("()"):
            target = target()
    except (Exception, SystemExit) as error:  # an app's import may call sys.exit()
        raise KindError(f"cannot load {spec}: {type(error).__name__}: {error}") from None
    if not callable(target):
        what = "None" if target is None else with_article(type(target).__name__)
        raise KindError(f"cannot load {spec}: it is {what}, not an application")
    return target


def is_async_app(app: Any) -> bool:
    """An ASGI app is a coroutine function (or an object whose __call__ is one)."""
    if inspect.iscoroutinefunction(app):
        return True
    call = getattr(app, "__call__", None)  # noqa: B004 (an instance's __call__)
    return call is not None and inspect.iscoroutinefunction(call)


def app_listener(
    runtime: KindRuntime, host: AppHost, *, close: Callable[[], Awaitable[None]] | None = None
) -> Listener:
    """Connections that run `host`'s app behind the live rules and intercept."""
    config = runtime.config

    def site(request: HttpRequest, context: RequestContext) -> Reply | Deferred:
        body = context.body if context.body is not None else SpooledBody(request.body)
        return host.call(request, context, body)

    handler = runtime.http_handler(site)
    ctx, options = runtime.ctx, runtime.stream_options()
    answered = runtime.answered_before_site

    def connection() -> AppServerConnection:
        return AppServerConnection(
            ctx,
            handler,
            host=host,
            answered_before_app=answered,
            keep_alive=config.keep_alive,
            limits=config.limits,
            bound_host=config.host,
            **options,
        )

    return Listener(connection, close)


def no_response(detail: str) -> HttpResponse:
    """The record of a response the app never finished."""
    return _PENDING._replace(error=detail)
