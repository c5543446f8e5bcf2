"""The HTTP/1.x server connection: parse with httptools, answer in order, record all.

Rules:
- requests are parsed from the recorded chunks (protocol/http_parse.py); each
  one is published the moment it is complete, before it is answered, so a
  held (intercepted) request is visible while it waits;
- replies go out strictly in request order, whatever order handlers finish
  in (pipelining); a handler may return a Reply or an awaitable of one;
- a reply that is one write goes out at once (the fast path); anything else
  (pauses, file slices, hang-ups) runs in a task that also drains;
- malformed bytes get a 400 page and the connection is closed: HTTP/1
  framing cannot be trusted after a parse error. The bytes stay recorded;
- limits (protocol/limits.py) are enforced by the reader and here: a request
  over one, a head slower than the header timeout, a Host that is not ours
  (DNS rebinding) gets its error page, recorded as an exchange like any other;
- a request cut short by a close or reset is recorded with its error and no
  response; the handler never sees a connection, only a request and a context;
- a head that asks for `100 Continue` (Expect, RFC 9110 §10.1.1) gets it at
  once, in its place among the replies, so the client sends its body without
  waiting (curl waits 1 s); a head that will be refused (413, 403 Host...)
  gets its refusal instead and the connection closes. The body is always read
  before the request is answered: a rule and the intercept queue both see the
  whole request. The 100 is recorded as an outbound chunk, not an exchange;
- a reply may hold a `Stream` (an application's response): its pieces are
  written as they come, with the same flow control, and what it says is read
  from the stream once it ends. Subclasses that answer before the body is
  read (engine/app_host.py) get heads and body pieces through `_on_stream`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from netbench.engine.context import EngineContext
from netbench.engine.stream import RecordedStream
from netbench.events import HttpRequestRecorded, HttpResponseRecorded
from netbench.model import Endpoint, EndReason, HttpRequest, HttpResponse
from netbench.protocol.http_parse import (
    HTTP09_ERROR,
    ParsedRequest,
    ParseFailure,
    RequestReader,
)
from netbench.protocol.limits import HttpLimits, host_refusal, request_host
from netbench.protocol.responses import (
    FileSlice,
    Hangup,
    HttpDate,
    Pause,
    Reply,
    Stream,
    error_page,
)

if TYPE_CHECKING:
    from netbench.engine.request_body import RequestBody
    from netbench.protocol.http_stream import RequestHead

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
INTERIM = -1
"""The exchange id of a queued `100 Continue`: bytes to send in order, not an answer."""
CONTINUE_REPLY = Reply((CONTINUE,), HttpResponse(100, b"Continue", "1.1", (), b"", 0))


class RequestContext(NamedTuple):
    """What a handler may know about the request besides the request itself.

    A NamedTuple: one is built per request on the hot path (0.3 µs, where a
    frozen dataclass takes over 1 µs)."""

    exchange_id: int
    conn_id: int
    server_id: int | None
    peer: Endpoint
    local: Endpoint
    keep_alive: bool
    """Whether the connection will stay open after this reply (client and server agree)."""
    date: bytes
    """The Date header value for now."""
    body: RequestBody | None = None
    """The whole body as a stream, for handlers that read more than `request.body`
    keeps (an application); None: `request.body` is all there is to know."""


Pending = Awaitable["Reply | Deferred"]
"""A reply to come, or a Deferred to begin at its turn (a held request let through)."""
Handler = Callable[[HttpRequest, RequestContext], "Reply | Pending"]

_DATE = HttpDate()


class Deferred(abc.ABC):
    """A reply made off the loop (an app in a worker thread), begun only when
    its turn comes, so pipelined requests reach the app in order. A handler
    may return one; first in line, it is waited for without a task."""

    @abc.abstractmethod
    def begin(self) -> asyncio.Future[Reply]:
        """Start making the reply; the Future resolves on the loop."""

    def __await__(self) -> Generator[Any, None, Reply]:
        return self.begin().__await__()


class HttpServerConnection(RecordedStream):
    reader_type: type[RequestReader] = RequestReader

    def __init__(
        self,
        ctx: EngineContext,
        handler: Handler,
        *,
        server_id: int | None,
        recv_size: int,
        idle_timeout: float,
        keep_alive: bool,
        limits: HttpLimits | None = None,
        bound_host: str = "127.0.0.1",
    ) -> None:
        super().__init__(ctx, server_id=server_id, recv_size=recv_size, idle_timeout=idle_timeout)
        self.handler = handler
        self.keep_alive = keep_alive
        self.limits = limits or HttpLimits()
        self.bound_host = bound_host
        self.reader = self.reader_type(limits=self.limits)
        self._header_timer: asyncio.TimerHandle | None = None
        self._accepted_host = b""
        """The last Host value that passed the check (most connections repeat one)."""
        self._index = 0
        self._queue: deque[tuple[int, bool, Reply | Pending]] = deque()
        self._pump: asyncio.Future[Any] | None = None
        """The task sending the queued replies, or the Deferred's Future being awaited."""
        self._closing_after_reply = False
        self._deferred_exchange = INTERIM
        """The exchange whose Deferred `_pump` waits for, when it is one."""

    def on_data(self, data: bytes, seq: int, t: float) -> None:
        if self._closing_after_reply:
            return  # bytes after a "close" reply or a parse error are recorded, not parsed
        reader = self.reader
        for item in reader.feed(data, seq, t):
            if isinstance(item, ParsedRequest):
                self._on_request(item)
            elif isinstance(item, ParseFailure):
                self._on_failure(item)
            else:  # a StreamingRequestReader's head or body piece
                self._on_stream(item)
            if self._closing_after_reply:
                break
        else:
            if reader.continue_wanted:
                head = reader.take_continue()
                if head is not None:
                    self._invite_body(head)
        if reader.head_pending:
            if self._header_timer is None and self.limits.header_timeout > 0:
                self._header_timer = asyncio.get_running_loop().call_later(
                    self.limits.header_timeout, self._head_too_slow
                )
        elif self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _head_too_slow(self) -> None:
        self._header_timer = None
        if self.reader.head_pending and not self.is_closing and not self._closing_after_reply:
            self._on_failure(self.reader.time_out())

    def on_idle(self) -> None:
        # A held (intercepted), delayed or dripping reply is not idleness: wait
        # for it, and count the idle time from the end of the last reply.
        if self._queue or self._pump is not None:
            self.touch()
            self.rearm_idle()
            return
        super().on_idle()

    def on_peer_fin(self) -> bool:
        # A complete request followed by the client's half-close is still answered.
        return bool(self._queue or self._pump is not None)

    def on_closed(self, reason: EndReason) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        how = "reset" if reason in (EndReason.RST_PEER, EndReason.RST_LOCAL) else "closed"
        cut_short = None if self._closing_after_reply else self.reader.feed_eof(how)
        if cut_short is not None:  # recorded with its error; there is no one left to answer
            self._publish_request(self.ctx.next_exchange_id(), cut_short)
        if self._pump is not None:
            self._pump.cancel()
        for _exchange_id, _keep, pending in self._queue:
            if isinstance(pending, asyncio.Future | asyncio.Task):
                pending.cancel()
            elif asyncio.iscoroutine(pending):
                pending.close()
        self._queue.clear()

    def on_ending(self, reason: EndReason) -> None:
        # Requests read but never answered (held, in an app, behind a closing
        # reply) each record why, before the close that ends the story.
        unanswered = [exchange_id for exchange_id, _keep, _pending in self._queue]
        if self._pump is not None and not isinstance(self._pump, asyncio.Task):
            unanswered.insert(0, self._deferred_exchange)  # being made off the loop
        if not unanswered:
            return  # most connections: every request was answered
        if reason is EndReason.RST_PEER:
            why = "the client reset the connection before it was answered"
        elif reason is EndReason.FIN_PEER:
            why = "the client closed the connection before it was answered"
        elif reason is EndReason.STOPPED:
            why = "the server was stopped before it was answered"
        elif self._closing_after_reply and reason is EndReason.FIN_LOCAL:
            why = "the connection closed after the reply to an earlier request, before its turn"
        else:
            why = f"the connection ended ({reason.value}) before it was answered"
        now = time.monotonic()
        for exchange_id in unanswered:
            if exchange_id != INTERIM:
                response = HttpResponse(None, b"", "", (), b"", 0, error=why)
                self.ctx.publish(
                    HttpResponseRecorded(exchange_id, self.conn_id, response, -1, -1, now, now)
                )

    # -- requests ------------------------------------------------------------------------

    def _on_stream(self, item: RequestHead | bytes) -> None:
        """A head, or a piece of its body, before the request is complete (streaming readers)."""

    def request_context(
        self, exchange_id: int, keep: bool, body: RequestBody | None
    ) -> RequestContext:
        """What a handler is told about the request being answered (one per exchange)."""
        return RequestContext(
            exchange_id,
            self.conn_id,
            self.server_id,
            self.peer,
            self.local,
            keep,
            _DATE.at(time.time()),
            body,
        )

    def _request_body(self) -> RequestBody | None:
        """The body stream of the request being handed to the handler (None: request.body)."""
        return None

    def _on_request(self, parsed: ParsedRequest) -> None:
        request = parsed.request
        refusal = self._refusal(request)
        if refusal is not None:
            status, error = refusal
            failed = ParseFailure(
                error,
                request,
                parsed.first_chunk,
                parsed.last_chunk,
                parsed.t_start,
                parsed.t_end,
                status,
            )
            self._on_failure(failed)
            return
        exchange_id = self.ctx.next_exchange_id()
        self._publish_request(exchange_id, parsed)
        keep = self.keep_alive and request.keep_alive and not parsed.upgrade
        context = self.request_context(exchange_id, keep, self._request_body())
        try:
            result = self.handler(request, context)
        except Exception as error:
            self.ctx.internal_error(f"HTTP handler on connection {self.conn_id}", error)
            result = error_page(500, f"The handler failed: {error!r}", date=context.date)
        if not keep:
            self._closing_after_reply = True
        if not self._queue and self._pump is None:
            if type(result) is Reply:
                steps = result.steps  # Reply.simple, inlined: this runs for every request
                if len(steps) == 1 and type(steps[0]) is bytes:
                    self._send_simple(exchange_id, keep, result, steps[0])
                    return
            elif isinstance(result, Deferred):
                self._deferred_exchange = exchange_id
                future = self._pump = result.begin()
                future.add_done_callback(partial(self._deferred_done, exchange_id, keep))
                return
        self._queue.append((exchange_id, keep, result))
        if self._pump is None:
            self._pump = self.ctx.tasks.spawn(self._run_queue(), f"http-conn-{self.conn_id}")

    def _invite_body(self, head: ParsedRequest) -> None:
        """`100 Continue` for a head that waits for it, or its refusal instead of one."""
        refusal = self._refusal(head.request)
        if refusal is not None:
            status, error = refusal
            self._on_failure(
                ParseFailure(
                    error,
                    head.request,
                    head.first_chunk,
                    head.last_chunk,
                    head.t_start,
                    head.t_end,
                    status,
                )
            )
        elif self._queue or self._pump is not None:
            self._queue.append((INTERIM, True, CONTINUE_REPLY))
        else:
            self.write(CONTINUE)

    def _refusal(self, request: HttpRequest) -> tuple[int, str] | None:
        """(status, why) when a well-formed request is still not served."""
        if request.version == "0.9":
            return 505, HTTP09_ERROR
        value = request_host(request.target, request.headers)
        if value is None:
            if request.version == "1.1":
                return 400, "HTTP/1.1 requests must carry a Host header (RFC 9112 §3.2)"
            return None
        if value == self._accepted_host:
            return None
        refused = host_refusal(value, self.bound_host, self.limits)
        if refused is not None:
            return 403, refused
        self._accepted_host = value
        return None

    def _publish_request(self, exchange_id: int, read: ParsedRequest | ParseFailure) -> None:
        """The request as read (or as far as it could be), in its place on the connection."""
        self.ctx.publish(
            HttpRequestRecorded(
                exchange_id,
                self.conn_id,
                self._index,
                read.request,
                read.first_chunk,
                read.last_chunk,
                read.t_start,
                read.t_end,
            )
        )
        self._index += 1

    def _on_failure(self, failure: ParseFailure) -> None:
        exchange_id = self.ctx.next_exchange_id()
        request = failure.request
        if request.error is None:  # refused after parsing: the record says why
            request = request._replace(error=failure.error)
        self._publish_request(exchange_id, replace(failure, request=request))
        self._closing_after_reply = True
        why = "Malformed request: " if failure.status == 400 else ""
        reply = error_page(failure.status, why + failure.error, date=_DATE.at(time.time()))
        if not self._queue and self._pump is None:
            data = reply.simple
            assert data is not None
            self._send_simple(exchange_id, False, reply, data)
        else:
            self._queue.append((exchange_id, False, reply))

    # -- replies -------------------------------------------------------------------------

    def _send_simple(self, exchange_id: int, keep: bool, reply: Reply, data: bytes) -> None:
        t = time.monotonic()
        seq = self.write(data, t)
        if seq >= 0:
            self.ctx.publish(
                HttpResponseRecorded(exchange_id, self.conn_id, reply.response, seq, seq, t, t)
            )
        if not (keep and reply.keep_alive):
            self._closing_after_reply = True
            self.close()

    async def _run_queue(self) -> None:
        try:
            while self._queue and not self.is_closing:
                exchange_id, keep, pending = self._queue[0]
                reply = pending if isinstance(pending, Reply) else await self._settle(pending)
                self._queue.popleft()
                if exchange_id == INTERIM:
                    self.write(CONTINUE)
                else:
                    await self._perform(exchange_id, keep, reply)
        finally:
            self._pump = None
            self.touch()
        if self._peer_fin and not self.is_closing:
            self.close()  # the client half-closed and has had all its answers

    async def _settle(self, pending: Pending) -> Reply:
        """The reply a handler promised; a 500 page if building it failed."""
        try:
            reply = await pending
            return await reply if isinstance(reply, Deferred) else reply  # begun at its turn
        except Exception as error:
            return self._handler_failed(error)

    def _handler_failed(self, error: BaseException) -> Reply:
        self.ctx.internal_error(f"HTTP handler on connection {self.conn_id}", error)
        return error_page(500, f"The handler failed: {error!r}", date=_DATE.at(time.time()))

    def _deferred_done(self, exchange_id: int, keep: bool, future: asyncio.Future[Reply]) -> None:
        """The first reply in line, made off the loop, is ready: sent as a page is."""
        if self._pump is future:
            self._pump = None
        if future.cancelled():
            return  # the connection closed while it was being made (on_ending said so)
        error = future.exception()
        reply = future.result() if error is None else self._handler_failed(error)
        if self.is_closing:
            for step in reply.steps:
                if isinstance(step, Stream):
                    step.abandon()
            return
        data = reply.simple
        if data is not None:
            self._send_simple(exchange_id, keep, reply, data)
        else:
            self._queue.appendleft((exchange_id, keep, reply))
        self.touch()
        if self.is_closing:
            return
        if self._queue and self._pump is None:
            self._pump = self.ctx.tasks.spawn(self._run_queue(), f"http-conn-{self.conn_id}")
        elif self._peer_fin:
            self.close()  # the client half-closed and has had all its answers

    async def _perform(self, exchange_id: int, keep: bool, reply: Reply) -> None:
        first = last = -1
        t_start = time.monotonic()  # then the time the first byte left (after a pause, an app)
        response: HttpResponse | None = None
        for step in reply.steps:
            if self.is_closing:
                break
            if isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
                continue
            if isinstance(step, bytes):
                seq = self.write(step)
                span, t_first = (seq, seq), time.monotonic()
                await self.drain()
            elif isinstance(step, FileSlice):
                span, t_first = await self.send_file(step.path, step.offset, step.length)
            elif isinstance(step, Stream):
                span, t_first = await self._send_stream(step)
                response = step.response
            else:  # a hang-up
                self._publish_response(exchange_id, reply, first, last, t_start, response)
                source = reply.source or "handler"
                if step is Hangup.RESET:
                    self.abort(detail=f"reply from {source} resets")
                else:
                    self.close(detail=f"reply from {source} closes")
                return
            if span[0] >= 0:
                first, t_start = (span[0], t_first) if first < 0 else (first, t_start)
                last = span[1]
            if isinstance(step, Stream) and not step.keep_alive:
                self._publish_response(exchange_id, reply, first, last, t_start, response)
                self._closing_after_reply = True
                self.close(detail=step.close_detail)
                return
        self._publish_response(exchange_id, reply, first, last, t_start, response)
        if not (keep and reply.keep_alive):
            self._closing_after_reply = True
            self.close()

    async def _send_stream(self, stream: Stream) -> tuple[tuple[int, int], float]:
        """Write a stream's pieces as they come (`write_all`)."""
        async with contextlib.aclosing(stream.pieces()) as pieces:
            return await self.write_all(pieces)

    def _publish_response(
        self,
        exchange_id: int,
        reply: Reply,
        first: int,
        last: int,
        t_start: float,
        response: HttpResponse | None = None,
    ) -> None:
        """`response`: what a Stream step said it sent (else the reply's own)."""
        self.ctx.publish(
            HttpResponseRecorded(
                exchange_id,
                self.conn_id,
                response or reply.response,
                first,
                last,
                t_start,
                time.monotonic(),
            )
        )
