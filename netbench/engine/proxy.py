"""The proxy kind's connections: each client request forwarded on a linked upstream leg.

The client's side is an application host's connection (engine/app_host.py):
every byte recorded, the body read as it arrives with backpressure, replies
in order, the http kind's limits, rules and intercept in front. The
"application" is the forwarding below.

Rules:
- a client connection's first request opens an upstream connection,
  recorded as a client connection whose `via` is the client's; it carries
  that client connection's next requests too (HTTP/1.1 keep-alive, as
  nginx's `keepalive` upstreams) while the upstream keeps it open and the
  framing stays intact, and closes with it. Each request is an exchange on
  both: the request as sent upstream (headers per protocol/proxy_headers.py)
  and the response as received. A kept leg that the upstream closed as the
  next request went out is replaced, the request (without a body) sent again;
- a request without a body on a kept leg is sent at its turn and, when the
  response comes whole in its first piece, answered as a page is
  (engine/proxy_deferred.py); otherwise the stream below goes on from the
  request already sent;
- the request body streams up as it arrives, the response streams down as it
  arrives (both through flow control: neither is ever held whole); the
  response's bytes pass unchanged after its head, whose hop-by-hop headers
  are dropped (to an HTTP/1.0 client a chunked body goes decoded, ended by
  closing: it cannot read chunked framing); a response delimited by closing
  closes the client's connection after it;
- the upstream refusing, resetting or closing before a response head, or
  sending one that does not parse: 502 (a head is never relayed unparsed);
  silent past the upstream timeout: 504 (the upstream leg is closed, its
  record says why); cut short after the head: the client's connection closes;
- a forward proxy (no upstream) takes absolute-form targets (`curl -x`) and
  `CONNECT host:port` (a tunnel: bytes pass both ways, recorded on both legs,
  never decrypted); only loopback destinations unless `allow_remote`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netbench.engine.app_host import AppStream, has_body, no_response
from netbench.engine.http_server import Deferred, RequestContext
from netbench.engine.proxy_deferred import ProxyDeferred, SentRequest
from netbench.engine.registry import KindRuntime
from netbench.engine.request_body import BodyError, RequestBody, SpooledBody
from netbench.engine.upstream import UpstreamFailed, UpstreamLeg, connect_upstream
from netbench.events import HttpResponseRecorded
from netbench.model import EndReason, HttpRequest, HttpResponse, header_value
from netbench.protocol.http_response_parse import (
    InvalidHead,
    ResponseReader,
    chunked_last,
    describe_response,
    is_interim,
)
from netbench.protocol.proxy_headers import ForwardedHeads, ForwardPolicy
from netbench.protocol.proxy_target import Refused, destination
from netbench.protocol.responses import HttpDate, Reply, error_page

if TYPE_CHECKING:
    from netbench.engine.proxy_connection import ProxyConnection

_DATE = HttpDate()
HEAD_LIMIT = 64 * 1024
"""A response head larger than this is refused (502), as nginx's proxy_buffer_size."""
ESTABLISHED = b"HTTP/1.1 200 Connection Established\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ProxySettings:
    upstream: tuple[str, int] | None
    """Reverse proxy to HOST:PORT; None: a forward proxy."""
    timeout: float
    """Seconds to connect, and of silence while waiting for the response (0: none)."""
    policy: ForwardPolicy = field(default_factory=ForwardPolicy)
    allow_remote: bool = False


class ProxyHost:
    """Forwards each request (an AppHost for engine/app_host.py's connection)."""

    def __init__(self, runtime: KindRuntime, settings: ProxySettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.heads = ForwardedHeads(settings.policy)
        self.connections: dict[int, ProxyConnection] = {}

    def call(
        self, request: HttpRequest, context: RequestContext, body: RequestBody
    ) -> Reply | Deferred:
        stream = ProxyStream(self, request, context, body)
        if isinstance(body, SpooledBody) and not has_body(request) and request.method != b"CONNECT":
            return ProxyDeferred(stream)
        return stream.reply()

    def destination(self, request: HttpRequest) -> tuple[str, int, bytes]:
        """(host, port, target to send) for a request; Refused if it goes nowhere."""
        settings = self.settings
        return destination(request, settings.upstream, allow_remote=settings.allow_remote)


class ProxyStream(AppStream):
    """One request forwarded: connect, send the head and body up, pass the response down."""

    def __init__(
        self, host: ProxyHost, request: HttpRequest, context: RequestContext, body: RequestBody
    ) -> None:
        super().__init__(body)
        self.host = host
        self.request = request
        self.context = context
        self.ctx = host.runtime.ctx
        self._leg: UpstreamLeg | None = None
        self._reusable = False
        """The upstream leg may carry the client connection's next request (keep-alive)."""
        self._stale = False
        """A kept-alive leg had closed before this request: it is sent on a new one."""
        self.keep_alive = context.keep_alive
        self._resume: SentRequest | None = None
        """Where a ProxyDeferred left the request: sent on a leg, its response to read."""
        self.dechunk = request.version == "1.0"
        """An HTTP/1.0 client cannot read chunked framing (RFC 9112 7.1): a chunked
        response reaches it decoded, its end the connection's close (as nginx)."""
        self._decoding = False
        """This response is chunked and the client gets it decoded."""

    def reply(self) -> Reply:
        """This stream as the reply: the response streamed down as it arrives."""
        return Reply((self,), no_response("the upstream sent no response"), True, "proxy")

    def resume_from(self, sent: SentRequest) -> None:
        """Go on from a request a ProxyDeferred sent: its response is read next."""
        self._resume = sent
        self._leg = sent.leg  # closed if the client leaves before the stream's turn

    def abandon(self) -> None:
        resume, self._resume = self._resume, None
        if resume is not None:  # sent up, its response never read: recorded as such
            self.ctx.publish(
                HttpResponseRecorded(
                    resume.exchange_id,
                    resume.conn_id,
                    no_response("no response"),
                    -1,
                    -1,
                    0.0,
                    time.monotonic(),
                )
            )
        if self._leg is not None:
            self._leg.close(detail="the client's connection ended")

    def _page(self, status: int, message: str) -> bytes:
        # The client's connection stays open after a request that had no body,
        # as nginx's does: its next request (a retry, a pipelined one) gets its
        # own answer. After a body, part of it may still be on its way: closed.
        page = error_page(
            status,
            message,
            keep_alive=not has_body(self.request),
            head_only=self.request.method == b"HEAD",
            date=_DATE.at(time.time()),
            source="proxy",
        )
        self.response = page.response
        self.keep_alive = self.keep_alive and page.keep_alive
        return page.simple or b""

    async def produce(self) -> AsyncGenerator[bytes, None]:
        settings = self.host.settings
        try:
            host, port, target = self.host.destination(self.request)
        except Refused as refused:
            yield self._page(refused.status, str(refused))
            return
        connection = self.host.connections.get(self.context.conn_id)
        tunnel = self.request.method == b"CONNECT"
        resume, self._resume = self._resume, None
        if resume is not None:
            kept = resume.leg
        else:
            kept = None if connection is None or tunnel else connection.take_kept((host, port))
        for leg in (kept, None) if kept is not None else (None,):
            if leg is None:
                try:
                    leg = await connect_upstream(
                        self.ctx,
                        host,
                        port,
                        via=self.context.conn_id,
                        recv_size=self.host.runtime.config.recv_size,
                        timeout=settings.timeout,
                    )
                except UpstreamFailed as failed:
                    status = 504 if failed.reason is EndReason.TIMEOUT else 502
                    yield self._page(status, f"The upstream did not answer: {failed}")
                    return
                self.host.runtime.adopt(leg)
            self._leg = leg
            self._reusable = self._stale = False
            try:
                if tunnel:
                    async for data in self._tunnel(leg):
                        yield data
                else:
                    reused = kept is leg
                    sent = resume if reused and resume is not None else None
                    async for data in self._forward(leg, host, port, target, reused, sent):
                        yield data
            finally:
                if self._reusable and connection is not None and not connection.is_closing:
                    connection.keep(leg, (host, port))
                else:
                    leg.close()
            if not self._stale:
                return

    # -- HTTP ------------------------------------------------------------------------------

    def send(self, leg: UpstreamLeg, host: str, port: int, target: bytes) -> SentRequest:
        """Send the request's head up `leg`; without a body it is recorded now, with
        one the body follows in a task (`sent.pump`)."""
        request = self.request
        headers, lines = self.host.heads.upstream(
            request.headers, self.context.peer.host, f"{host}:{port}"
        )
        line = request.method + b" " + target + b" HTTP/1.1\r\n"
        sent = SentRequest(request._replace(target=target, headers=headers, body=b""))
        sent.exchange_id, sent.conn_id = self.ctx.next_exchange_id(), leg.conn_id
        sent.leg, sent.t_start = leg, time.monotonic()
        sent.position, leg.requests = leg.requests, leg.requests + 1
        sent.note(leg.write(line + lines))
        if not has_body(request):
            # No body (most requests): recorded now, without a task to send nothing.
            sent.complete = True
            self.ctx.publish(sent.record(None))
        else:
            framing = header_value(request.headers, b"transfer-encoding")
            chunked = b"chunked" in (framing or b"").lower()
            sent.pump = self.ctx.tasks.spawn(
                self._send_body(leg, sent, chunked), f"proxy-body-{leg.conn_id}"
            )
        return sent

    async def _forward(
        self,
        leg: UpstreamLeg,
        host: str,
        port: int,
        target: bytes,
        reused: bool,
        resume: SentRequest | None = None,
    ) -> AsyncGenerator[bytes, None]:
        settings = self.host.settings
        sent = self.send(leg, host, port, target) if resume is None else resume
        exchange_id, pump = sent.exchange_id, sent.pump
        reader = ResponseReader(head_only=self.request.method == b"HEAD", decoded_body=self.dechunk)
        head = bytearray()
        passed = False
        first = last = -1
        t_first = 0.0
        error: str | None = None
        cut: str | None = None  # why a response already passed on stopped short
        # The first wait is shorter by what a ProxyDeferred already waited.
        waited = resume.waited if resume is not None else 0.0
        timeout = max(settings.timeout - waited, 1e-6) if settings.timeout > 0 else 0.0
        try:
            while True:
                try:
                    piece = await leg.next_piece(timeout)
                    timeout = settings.timeout
                except TimeoutError:
                    seconds = f"{settings.timeout:g}"
                    reader.feed_eof("timeout")
                    if passed:
                        error = cut = f"the upstream went silent for {seconds} s mid-response"
                    elif first < 0:
                        error = f"no response within {seconds} s (--upstream-timeout): 504 sent"
                        yield self._page(504, f"The upstream sent nothing for {seconds} s")
                    else:  # part of a head: not a response (nor recorded as one)
                        error = (
                            f"the response head was incomplete after {seconds} s of silence "
                            "(--upstream-timeout): 504 sent"
                        )
                        yield self._page(504, f"The upstream's head stopped for {seconds} s")
                    leg.close(reason=EndReason.TIMEOUT, detail=error)
                    break
                if piece is None:
                    reader.feed_eof("reset" if leg.reset else "closed")
                    if reused and first < 0 and sent.body_len == 0:
                        # The upstream closed the kept-alive connection as we sent (its
                        # idle timeout): nothing was done, the request goes on a new one.
                        self._stale = True
                        error = "the kept-alive upstream connection had closed: sent again"
                    elif not passed:
                        how = "reset the connection" if leg.reset else "closed the connection"
                        before = "a response" if first < 0 else "the response head was complete"
                        error = f"the upstream {how} before {before}: 502 sent"
                        yield self._page(502, f"The upstream {how} before answering")
                    elif reader.response is not None and reader.response.error:
                        how = "reset" if leg.reset else "closed"
                        cut = f"the upstream {how} the connection mid-response"
                    break
                seq, data = piece
                last = seq
                if first < 0:
                    first, t_first = seq, time.monotonic()
                done = reader.feed(data)
                if passed:
                    # Decoded pieces are taken whether used or not: they are not kept.
                    decoded = reader.take_body() if self.dechunk else b""
                    if self._decoding:
                        data = decoded
                    if data:
                        yield data
                else:
                    head += data
                    try:
                        out = self.pass_head(head)
                        if out is None and reader.error is not None:  # its end cannot help
                            raise InvalidHead(reader.error)
                    except InvalidHead as invalid:
                        # Never relayed (rewritten or not): the client could not read it
                        # either. nginx: "upstream sent invalid header", 502.
                        error = f"invalid response head ({invalid}): 502 sent"
                        yield self._page(502, "The upstream sent an invalid response head")
                        break
                    if out is None and len(head) > HEAD_LIMIT:
                        error = f"response head over {HEAD_LIMIT} bytes: 502 sent"
                        yield self._page(502, "The upstream's response head is too large")
                        break
                    if out is not None:
                        passed = True
                        decoded = reader.take_body() if self.dechunk else b""
                        yield out + decoded if self._decoding else out
                if done:
                    if passed and reader.error is not None:  # the rest of its framing is lost
                        cut = f"the upstream's body did not parse ({reader.error})"
                    self._reusable = passed and self.keeps_alive(reader)
                    break
        finally:
            if pump is not None and not pump.done():
                pump.cancel()
            if pump is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump
            self._reusable = self._reusable and sent.complete
            response = reader.response or no_response(error or "no response")
            if error is not None:
                response = response._replace(error=error)
            if not passed:  # what came was no response (a head the parser refused)
                response = response._replace(status=None)
            elif self.response is not None:  # the client's record: the body it was sent
                if cut is not None:  # its framing broken, the client's connection closes
                    cut = f"the response was cut short: {cut}"
                    self.keep_alive = False
                    self.close_detail = cut
                self.response = response._replace(
                    headers=self.response.headers, version="1.1", error=cut
                )
            self.ctx.publish(
                HttpResponseRecorded(
                    exchange_id, leg.conn_id, response, first, last, t_first, time.monotonic()
                )
            )

    def keeps_alive(self, reader: ResponseReader) -> bool:
        """Whether the upstream may take another request on this connection."""
        response = reader.response
        if response is None or response.error is not None or response.version != "1.1":
            return False
        said = (response.header(b"connection") or b"").lower()
        return b"close" not in said and (response.status or 0) != 101

    def pass_head(self, head: bytearray, whole: HttpResponse | None = None) -> bytes | None:
        """The response head as the client gets it, with the body bytes after it; None
        until the head is complete (interim responses, 100 or 103, are skipped);
        InvalidHead if it is not one.
        `whole`: the response, already read whole from `head`, whose first head is its
        own (not parsed again)."""
        while True:
            end = head.find(b"\r\n\r\n")
            if end < 0:
                return None
            raw, rest = bytes(head[: end + 4]), bytes(head[end + 4 :])
            meta = whole if whole is not None else describe_response(raw, head_only=True)
            if is_interim(meta.status):  # dropped, as nginx does by default
                del head[: end + 4]
                continue
            if meta.error is not None:
                raise InvalidHead(meta.error)
            status = meta.status or 0
            coding = meta.header(b"transfer-encoding")
            chunked = chunked_last(coding)
            self._decoding = decode = self.dechunk and chunked
            fields = meta.headers
            if decode:  # its body goes down decoded: no chunked framing to announce
                fields = tuple(f for f in fields if f[0].lower() != b"transfer-encoding")
            framed = (  # else the body ends at the close (RFC 9112 §6.3), the client's too
                (coding is None and meta.header(b"content-length") is not None)
                or (chunked and not decode)
                or status < 200
                or status in (204, 304)
                or self.request.method == b"HEAD"
            )
            close = not framed or not self.keep_alive
            if not framed:
                self.keep_alive = False
                self.close_detail = (
                    "an HTTP/1.0 client: the chunked response went decoded, ended by closing"
                    if decode
                    else "the upstream's response ends when its connection closes"
                )
            headers, lines = self.host.heads.response(fields, close=close)
            # This hop speaks HTTP/1.1 whatever the upstream's did (as nginx).
            first_line = b"HTTP/1.1 " + raw.split(b"\r\n", 1)[0].partition(b" ")[2]
            self.response = meta._replace(headers=headers, version="1.1")
            # Decoding: the caller adds the body, its framing removed (`take_body`).
            return first_line + b"\r\n" + lines + (b"" if decode else rest)

    async def _send_body(self, leg: UpstreamLeg, sent: SentRequest, chunked: bool) -> None:
        """Stream the client's body up as it arrives; the upstream leg's request record."""
        error: str | None = None
        try:
            while True:
                data = await self.body.next_chunk()
                if data is None:
                    break
                sent.add_body(data)
                framed = b"%x\r\n%b\r\n" % (len(data), data) if chunked else data
                sent.note(leg.write(framed))
                await leg.drain()
            if chunked:
                sent.note(leg.write(b"0\r\n\r\n"))
            sent.complete = True
        except BodyError as failure:
            error = str(failure)
            leg.abort(detail=f"the client's body failed: {error}")
        except (TimeoutError, asyncio.CancelledError):
            error = "the body was not all sent: the upstream answered or stopped reading"
        finally:
            self.ctx.publish(sent.record(error))

    # -- CONNECT ---------------------------------------------------------------------------

    async def _tunnel(self, leg: UpstreamLeg) -> AsyncGenerator[bytes, None]:
        connection = self.host.connections.get(self.context.conn_id)
        if connection is None:
            return
        self.keep_alive = False
        self.response = HttpResponse(200, b"Connection Established", "1.1", (), b"", 0)
        connection.tunnel = leg
        # However either leg ends, its record says it was a tunnel (the SNI, once read, adds to it).
        leg._end_detail = connection._end_detail = "tunnel"
        yield ESTABLISHED
        while True:
            piece = await leg.next_piece(0)
            if piece is None:
                break
            yield piece[1]
        sni = connection.sni
        self.close_detail = f"tunnel; TLS SNI {sni}" if sni else "tunnel: the upstream closed"
