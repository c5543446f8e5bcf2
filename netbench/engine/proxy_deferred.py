"""A proxied request as sent upstream, and answered in one hand-over when the response comes whole.

Most requests through a reverse proxy have no body and go up a leg the
client's connection kept alive, and most responses arrive in one piece. For
those the proxy needs no task, no generator and no queue: at the request's
turn (`begin`) its head goes up the kept leg, the leg hands what it receives
straight to `_FirstPiece`, and a complete response resolves the Future with
the client's bytes, written as the http kind writes a page. Everything else
(no kept leg, a response in pieces, an upstream that ends or stays silent)
is handed to the ProxyStream as it stands: the pieces read go back on the
leg, and the stream goes on from the request already sent, as a streamed
reply (engine/proxy.py), so each case has one implementation.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from netbench.engine.app_host import no_response
from netbench.engine.http_server import Deferred
from netbench.events import HttpRequestRecorded, HttpResponseRecorded
from netbench.model import HttpRequest
from netbench.protocol.http_response_parse import InvalidHead, ResponseReader
from netbench.protocol.proxy_target import Refused
from netbench.protocol.responses import Reply

if TYPE_CHECKING:
    from netbench.engine.proxy import ProxyStream
    from netbench.engine.proxy_connection import ProxyConnection
    from netbench.engine.upstream import UpstreamLeg


class ProxyDeferred(Deferred):
    """A complete request without a body, forwarded at its turn."""

    def __init__(self, stream: ProxyStream) -> None:
        self.stream = stream

    def begin(self) -> asyncio.Future[Reply]:
        stream = self.stream
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        try:
            host, port, target = stream.host.destination(stream.request)
        except Refused:
            future.set_result(stream.reply())  # the stream answers the refusal
            return future
        connection = stream.host.connections.get(stream.context.conn_id)
        leg = None if connection is None else connection.take_kept((host, port))
        if leg is None:  # the connection's first request: the stream connects
            future.set_result(stream.reply())
            return future
        sent = stream.send(leg, host, port, target)
        _FirstPiece(stream, leg, sent, future, connection, (host, port))
        return future


class _FirstPiece:
    """Waits on the leg for the response; answers with it whole or hands it over."""

    def __init__(
        self,
        stream: ProxyStream,
        leg: UpstreamLeg,
        sent: SentRequest,
        future: asyncio.Future[Reply],
        connection: ProxyConnection | None,
        destination: tuple[str, int],
    ) -> None:
        self.stream, self.leg, self.sent, self.future = stream, leg, sent, future
        self.connection, self.destination = connection, destination
        self.reader = ResponseReader(head_only=stream.request.method == b"HEAD")
        self.pieces: list[tuple[int, bytes]] = []
        self.t_first = 0.0
        self.abandoned = False
        timeout = stream.host.settings.timeout
        self.timer = (
            asyncio.get_running_loop().call_later(timeout, self._hand_over, timeout)
            if timeout > 0
            else None
        )
        leg.listener = self._piece
        future.add_done_callback(self._done)

    def _piece(self, piece: tuple[int, bytes] | None) -> None:
        if piece is None:  # the upstream ended first: the stream says what that means
            self._hand_over()
            return
        if not self.pieces:
            self.t_first = time.monotonic()
        self.pieces.append(piece)
        reader = self.reader
        response = reader.response if reader.feed(piece[1]) else None
        if self.future.cancelled():  # the client's connection ended; `_done` is on its way
            self._abandon()
            return
        if response is None or response.error:
            self._hand_over()  # more to come, or something to say about it: streamed
            return
        data = b"".join(data for _seq, data in self.pieces)
        if data[: data.find(b"\r\n")].split(b" ", 2)[1:2] != [b"%d" % (response.status or 0)]:
            self._hand_over()  # an interim response (100, 103) before it: streamed
            return
        # A chunked body's trailer fields are parsed as headers: its head is read alone.
        whole = response if response.header(b"transfer-encoding") is None else None
        if whole is None and self.stream.dechunk:
            self._hand_over()  # an HTTP/1.0 client: the stream decodes it
            return
        try:
            out = self.stream.pass_head(bytearray(data), whole)
        except InvalidHead:
            out = None  # the stream answers it (502)
        if out is None:
            self._hand_over()
            return
        self._answer(out)

    def _answer(self, out: bytes) -> None:
        stream, leg, reader = self.stream, self.leg, self.reader
        response = reader.response
        assert response is not None and stream.response is not None
        self._stop_listening()
        stream.ctx.publish(
            HttpResponseRecorded(
                self.sent.exchange_id,
                leg.conn_id,
                response,
                self.pieces[0][0],
                self.pieces[-1][0],
                self.t_first,
                time.monotonic(),
            )
        )
        connection = self.connection
        if stream.keeps_alive(reader) and connection is not None and not connection.is_closing:
            connection.keep(leg, self.destination)
        else:
            leg.close()
        # The client's record: the body as received, under the head as sent.
        to_client = response._replace(headers=stream.response.headers, version="1.1")
        self.future.set_result(Reply((out,), to_client, stream.keep_alive, "proxy"))

    def _hand_over(self, waited: float = 0.0) -> None:
        if self.future.cancelled():
            self._abandon()
            return
        self._stop_listening()
        self.leg.unread(self.pieces)
        self.sent.waited = waited
        self.stream.resume_from(self.sent)
        self.future.set_result(self.stream.reply())

    def _stop_listening(self) -> None:
        self.leg.listener = None
        if self.timer is not None:
            self.timer.cancel()

    def _done(self, future: asyncio.Future[Reply]) -> None:
        if future.cancelled():
            self._abandon()

    def _abandon(self) -> None:
        """The client's connection ended while the response was awaited (once: the
        Future's callback runs a turn later than the leg may have ended or answered)."""
        if self.abandoned:
            return
        self.abandoned = True
        self._stop_listening()
        self.stream.ctx.publish(
            HttpResponseRecorded(
                self.sent.exchange_id,
                self.leg.conn_id,
                self.reader.response or no_response("no response"),
                self.pieces[0][0] if self.pieces else -1,
                self.pieces[-1][0] if self.pieces else -1,
                self.t_first,
                time.monotonic(),
            )
        )
        self.leg.close(detail="the client's connection ended")


RECORDED_BODY = 64 * 1024
"""How much of the body sent upstream the upstream leg's exchange keeps."""


class SentRequest:
    """The request as it went upstream, for the upstream leg's record."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request
        self._body = bytearray()
        self._body_len = 0
        self.first = self.last = -1
        self.complete = False
        """The whole body went up (the connection's framing is intact)."""
        self.exchange_id = self.conn_id = self.position = 0
        self.t_start = 0.0
        self.leg: UpstreamLeg | None = None
        self.pump: asyncio.Task[None] | None = None
        """The task sending the body up (None without a body)."""
        self.waited = 0.0
        """Seconds a ProxyDeferred waited for the response before handing it over."""

    @property
    def body_len(self) -> int:
        return self._body_len

    def note(self, seq: int) -> None:
        if seq >= 0:
            self.first = seq if self.first < 0 else self.first
            self.last = seq

    def add_body(self, data: bytes) -> None:
        room = RECORDED_BODY - len(self._body)
        if room > 0:
            self._body += data[:room]
        self._body_len += len(data)

    def record(self, error: str | None) -> HttpRequestRecorded:
        """The upstream leg's request event, once its body was sent (or failed)."""
        request = self.request(error)
        return HttpRequestRecorded(
            self.exchange_id,
            self.conn_id,
            self.position,
            request,
            self.first,
            self.last,
            self.t_start,
            time.monotonic(),
        )

    def request(self, error: str | None) -> HttpRequest:
        return self._request._replace(
            body=bytes(self._body),
            body_len=self._body_len,
            body_truncated=self._body_len > len(self._body),
            error=error,
        )
