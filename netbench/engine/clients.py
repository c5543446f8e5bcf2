"""Clients: a raw TCP client and an HTTP client, recorded like server connections.

A client connection is a `RecordedStream` with role "client": every chunk
and socket event is published the same way, so pointing a client at one of
netbench's own servers records both ends of the same conversation.
A refused or failed connect is recorded too (opened, then closed `refused`).
"""

from __future__ import annotations

import asyncio
import errno
import time
from dataclasses import dataclass

from netbench.engine.context import EngineContext
from netbench.engine.stream import RecordedStream
from netbench.events import (
    ConnectionClosed,
    ConnectionOpened,
    HttpRequestRecorded,
    HttpResponseRecorded,
    SocketEventRecorded,
)
from netbench.model import (
    Endpoint,
    EndReason,
    HttpRequest,
    HttpResponse,
    Role,
    SocketEventKind,
    Transport,
)
from netbench.protocol.http_parse import RequestReader
from netbench.protocol.http_response_parse import ResponseReader

_EOF = (-1, b"")


class ConnectError(Exception):
    """Connecting failed; the message is one line for the user."""


class ClientStream(RecordedStream):
    role = Role.CLIENT

    def __init__(self, ctx: EngineContext, *, recv_size: int) -> None:
        super().__init__(ctx, server_id=None, recv_size=recv_size)
        self.chunks: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        """(seq, data) of each chunk received; (-1, b'') once the server closed."""
        self.end_reason: EndReason | None = None
        """How the connection ended, once it has (a reset cuts a response short)."""

    def on_data(self, data: bytes, seq: int, t: float) -> None:
        self.chunks.put_nowait((seq, data))

    def on_peer_fin(self) -> bool:
        # Keep our side open: after the server's FIN the user may still send.
        self.chunks.put_nowait(_EOF)
        return True

    def on_closed(self, reason: EndReason) -> None:
        self.end_reason = reason
        self.chunks.put_nowait(_EOF)


class TcpClient:
    """One client connection: send, receive each chunk, half-close, close, reset."""

    def __init__(self, stream: ClientStream) -> None:
        self.stream = stream

    @property
    def conn_id(self) -> int:
        return self.stream.conn_id

    @property
    def local(self) -> Endpoint:
        return self.stream.local

    def send(self, data: bytes) -> None:
        if self.stream.is_closing:
            raise ConnectionError("the connection is closed")
        self.stream.write(data)

    async def recv(self, timeout: float = 5.0) -> bytes:
        """The next chunk as one recv returned it; b'' once the server closed."""
        return (await self.recv_chunk(timeout))[1]

    async def recv_chunk(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """(seq, data) of the next chunk; (-1, b'') once the server closed."""
        return await asyncio.wait_for(self.stream.chunks.get(), timeout)

    async def recv_all(self, timeout: float = 5.0) -> list[bytes]:
        """Every chunk until the server closes (or `timeout` of silence)."""
        chunks: list[bytes] = []
        while True:
            chunk = await self.recv(timeout)
            if not chunk:
                return chunks
            chunks.append(chunk)

    def half_close(self) -> None:
        self.stream.shutdown_write()

    async def close(self, timeout: float = 2.0) -> None:
        self.stream.close()
        await self.wait_closed(timeout)

    async def reset(self, timeout: float = 2.0) -> None:
        self.stream.abort()
        await self.wait_closed(timeout)

    async def wait_closed(self, timeout: float = 2.0) -> None:
        await asyncio.wait_for(self.stream.closed_event.wait(), timeout)


async def open_tcp(
    ctx: EngineContext, host: str, port: int, *, recv_size: int = 65536, timeout: float = 5.0
) -> TcpClient:
    """Connect; on failure the attempt is recorded and ConnectError raised."""
    loop = asyncio.get_running_loop()
    try:
        _transport, stream = await asyncio.wait_for(
            loop.create_connection(lambda: ClientStream(ctx, recv_size=recv_size), host, port),
            timeout,
        )
    except (OSError, TimeoutError) as error:
        reason, message = connect_failure(host, port, error)
        record_failed_connect(ctx, host, port, reason, message)
        raise ConnectError(message) from None
    return TcpClient(stream)


def connect_failure(host: str, port: int, error: BaseException) -> tuple[EndReason, str]:
    where = str(Endpoint(host, port))  # [::1]:8000, as every address is shown
    if isinstance(error, TimeoutError):
        return EndReason.TIMEOUT, f"cannot connect to {where}: timed out"
    if isinstance(error, ConnectionRefusedError):
        return (
            EndReason.REFUSED,
            f"cannot connect to {where}: connection refused (nothing listens there)",
        )
    if isinstance(error, OSError) and error.errno == errno.ENETUNREACH:
        return EndReason.ERROR, f"cannot connect to {where}: network unreachable"
    text = getattr(error, "strerror", None) or str(error)
    return EndReason.ERROR, f"cannot connect to {where}: {text}"


def record_failed_connect(
    ctx: EngineContext,
    host: str,
    port: int,
    reason: EndReason,
    message: str,
    *,
    via: int | None = None,
) -> int:
    """A connect that failed, as a connection opened and closed at once; its id."""
    conn_id = ctx.next_conn_id()
    now = time.monotonic()
    ctx.publish(
        ConnectionOpened(
            conn_id,
            None,
            Role.CLIENT,
            Transport.TCP,
            Endpoint("", 0),
            Endpoint(host, port),
            now,
            via,
        )
    )
    ctx.publish(SocketEventRecorded(conn_id, SocketEventKind.CONNECT, now))
    failed = SocketEventKind.PEER_RESET if reason is EndReason.REFUSED else SocketEventKind.ERROR
    ctx.publish(SocketEventRecorded(conn_id, failed, now, message))
    ctx.publish(ConnectionClosed(conn_id, reason, now, 0, 0, message))
    return conn_id


@dataclass(frozen=True, slots=True)
class HttpResult:
    conn_id: int
    exchange_id: int
    sent: bytes
    received: bytes
    """Every byte the server sent on this connection, in order."""
    response: HttpResponse | None
    """None when no byte of a response arrived (`no_response` says why)."""
    elapsed: float
    no_response: str | None = None
    """Why `response` is None, one line: "no response within 10 s", or the server
    closed or reset the connection first (recorded as the exchange's error)."""
    timed_out: bool = False
    """The client stopped waiting (its timeout), whether or not bytes had arrived."""


async def http_exchange(
    ctx: EngineContext,
    host: str,
    port: int,
    request_bytes: bytes,
    *,
    head_only: bool = False,
    timeout: float = 10.0,
) -> HttpResult:
    """Send exactly `request_bytes`, read one response, close; all recorded."""
    started = time.monotonic()
    client = await open_tcp(ctx, host, port, timeout=timeout)
    stream = client.stream
    exchange_id = ctx.next_exchange_id()
    seq = stream.write(request_bytes)
    t_sent = time.monotonic()
    parsed = RequestReader().feed(request_bytes, seq, t_sent)
    if parsed:
        request = parsed[0].request
    else:
        request = HttpRequest(b"", b"", "", (), b"", 0, error="incomplete request")
    ctx.publish(
        HttpRequestRecorded(exchange_id, stream.conn_id, 0, request, seq, seq, t_sent, t_sent)
    )
    reader = ResponseReader(head_only=head_only)
    received = bytearray()
    first = last = -1
    t_first = 0.0
    ended = "response"
    try:
        while True:
            remaining = timeout - (time.monotonic() - started)
            chunk_seq, chunk = await client.recv_chunk(max(remaining, 0.001))
            if not chunk:
                reset = stream.end_reason in (EndReason.RST_PEER, EndReason.RST_LOCAL)
                ended = "reset" if reset else "closed"
                reader.feed_eof(ended)
                break
            last = chunk_seq
            if first < 0:
                first, t_first = last, time.monotonic()
            received += chunk
            if reader.feed(chunk):
                break
    except TimeoutError:
        ended = "timeout"
        reader.feed_eof(ended)
    response = reader.response
    no_response = None if response is not None else _NO_RESPONSE[ended].format(timeout)
    # Unanswered, the exchange is still recorded as such: its error says whose
    # doing it was (the client's own timeout closes the connection, "fin-local",
    # which must not read as the server closing), and it lasted until then.
    recorded = response or HttpResponse(None, b"", "", (), b"", 0, error=no_response)
    ctx.publish(
        HttpResponseRecorded(
            exchange_id, stream.conn_id, recorded, first, last, t_first, time.monotonic()
        )
    )
    await client.close()
    return HttpResult(
        stream.conn_id,
        exchange_id,
        request_bytes,
        bytes(received),
        response,
        time.monotonic() - started,
        no_response,
        ended == "timeout",
    )


_NO_RESPONSE = {
    "timeout": "no response within {:g} s",
    "closed": "the server closed the connection without a response",
    "reset": "the connection was reset before any response",
}
"""Why an exchange got no response byte, by how the reading ended."""
