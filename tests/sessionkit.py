"""Write a list of engine events into a session file (shared by store and UI tests)."""

from __future__ import annotations

import time
from pathlib import Path

from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    HttpRequestRecorded,
    HttpResponseRecorded,
    ServerStarted,
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
from netbench.store import SessionWriter


def record(path: Path, events: list[Event], **options: object) -> SessionWriter:
    """A closed session at `path` holding exactly `events` (options go to SessionWriter)."""
    writer = SessionWriter(path, **options)  # type: ignore[arg-type]
    writer.open()
    for event in events:
        writer(event)
    writer.close()
    return writer


def long_connection(path: Path, exchanges: int, *, closed: bool = False) -> None:
    """A session with one open keep-alive connection of `exchanges` GETs (two chunks each).

    Request n is `GET /item/<n, 7 digits>`, its response body n in 8 digits:
    chunk 2n is the request, 2n + 1 the response, so any chunk's bytes are known.
    `closed`: accepted and then closed by the client, with its socket events.
    """
    t0 = time.monotonic()
    local, peer = Endpoint("127.0.0.1", 8000), Endpoint("127.0.0.1", 50000)
    writer = SessionWriter(path, flush_interval=0.2, backlog_limit=10**9)
    writer.open()
    writer(ServerStarted(1, "http", Transport.TCP, local, t0))
    writer(ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, local, peer, t0))
    if closed:
        writer(SocketEventRecorded(1, SocketEventKind.ACCEPT, t0))
    headers = ((b"Host", b"127.0.0.1"),)
    for n in range(exchanges):
        request, response = long_request(n), long_response(n)
        t = t0 + n * 1e-5
        writer(ChunkRecorded(1, 2 * n, Direction.IN, n * len(request), request, t))
        req = HttpRequest(b"GET", b"/item/%07d" % n, "1.1", headers, b"", 0)
        writer(HttpRequestRecorded(n + 1, 1, n, req, 2 * n, 2 * n, t, t))
        writer(ChunkRecorded(1, 2 * n + 1, Direction.OUT, n * len(response), response, t))
        resp = HttpResponse(200, b"OK", "1.1", ((b"Content-Length", b"8"),), b"%08d" % n, 8)
        writer(HttpResponseRecorded(n + 1, 1, resp, 2 * n + 1, 2 * n + 1, t, t))
    if closed:
        end = t0 + exchanges * 1e-5
        writer(SocketEventRecorded(1, SocketEventKind.PEER_FIN, end))
        writer(SocketEventRecorded(1, SocketEventKind.CLOSE, end))
        sizes = exchanges * len(long_request(0)), exchanges * len(long_response(0))
        writer(ConnectionClosed(1, EndReason.FIN_PEER, end, *sizes))
    writer.close()


def long_request(n: int) -> bytes:
    return b"GET /item/%07d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % n


def long_response(n: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n%08d" % n
