"""Events of one whole connection, for store tests (every event type, awkward bytes)."""

from __future__ import annotations

from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    HttpRequestRecorded,
    HttpResponseRecorded,
    ServerStarted,
    ServerStopped,
    SocketEventRecorded,
)
from netbench.model import (
    Direction,
    Endpoint,
    EndReason,
    HttpRequest,
    HttpResponse,
    Role,
    SocketEventKind,
    Transport,
)

REQUEST_BYTES = (
    b"POST /f\xffo?q=\x00 HTTP/1.1\r\nHost: x\r\nX-Bin: \xe9\x80\r\n"
    b"Content-Length: 3\r\n\r\n\x00\xfe\n"
)
RESPONSE_BYTES = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\x1b]0;\x07"


def one_exchange(t0: float, *, conn_id: int = 1, server_id: int = 1) -> list[Event]:
    """A whole server connection: every event type, awkward bytes everywhere."""
    local, peer = Endpoint("127.0.0.1", 8000), Endpoint("127.0.0.1", 50123)
    request = HttpRequest(
        method=b"POST",
        target=b"/f\xffo?q=\x00",
        version="1.1",
        headers=((b"Host", b"x"), (b"X-Bin", b"\xe9\x80"), (b"Content-Length", b"3")),
        body=b"\x00\xfe\n",
        body_len=3,
    )
    response = HttpResponse(
        status=200,
        reason=b"OK",
        version="1.1",
        headers=((b"Content-Length", b"4"),),
        body=b"\x1b]0;\x07",
        body_len=4,
    )
    return [
        ServerStarted(server_id, "http", Transport.TCP, local, t0, {"backlog": 5, "k": [1]}),
        ConnectionOpened(conn_id, server_id, Role.SERVER, Transport.TCP, local, peer, t0 + 0.010),
        SocketEventRecorded(conn_id, SocketEventKind.ACCEPT, t0 + 0.010),
        ChunkRecorded(conn_id, 0, Direction.IN, 0, REQUEST_BYTES[:20], t0 + 0.011),
        ChunkRecorded(conn_id, 1, Direction.IN, 20, REQUEST_BYTES[20:], t0 + 0.012),
        HttpRequestRecorded(1, conn_id, 0, request, 0, 1, t0 + 0.011, t0 + 0.012),
        ChunkRecorded(conn_id, 2, Direction.OUT, 0, RESPONSE_BYTES, t0 + 0.013),
        HttpResponseRecorded(1, conn_id, response, 2, 2, t0 + 0.013, t0 + 0.013),
        SocketEventRecorded(conn_id, SocketEventKind.PEER_FIN, t0 + 0.020, "recv returned b''"),
        ConnectionClosed(
            conn_id, EndReason.FIN_PEER, t0 + 0.021, len(REQUEST_BYTES), len(RESPONSE_BYTES)
        ),
        ServerStopped(server_id, t0 + 0.030, "stopped by user"),
    ]
