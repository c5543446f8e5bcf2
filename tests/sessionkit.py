"""Engine events for store and UI tests, and session files written from them.

`one_exchange` is one whole server connection with every event type and
awkward bytes; `record` writes any list of events into a closed session;
`long_connection` writes one keep-alive connection of many exchanges, the
exchanges written by bench/views.py's `write_exchanges` (bench imports
nothing from tests, so the one writer of that connection lives there and the
tests open the same connection the benchmark times).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

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
from netbench.store import SessionWriter


def _bench_module(name: str) -> ModuleType:
    """bench/NAME.py, loaded from its file (bench/ is scripts, not a package on the path)."""
    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while made
    spec.loader.exec_module(module)
    return module


_BENCH_VIEWS = _bench_module("views")

LOCAL = Endpoint("127.0.0.1", 8000)
"""The server's end of every connection built here."""

REQUEST_BYTES = (
    b"POST /f\xffo?q=\x00 HTTP/1.1\r\nHost: x\r\nX-Bin: \xe9\x80\r\n"
    b"Content-Length: 3\r\n\r\n\x00\xfe\n"
)
RESPONSE_BYTES = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\x1b]0;\x07"


def one_exchange(t0: float, *, conn_id: int = 1, server_id: int = 1) -> list[Event]:
    """A whole server connection: every event type, awkward bytes everywhere."""
    peer = Endpoint("127.0.0.1", 50123)
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
        ServerStarted(server_id, "http", Transport.TCP, LOCAL, t0, {"backlog": 5, "k": [1]}),
        ConnectionOpened(conn_id, server_id, Role.SERVER, Transport.TCP, LOCAL, peer, t0 + 0.010),
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
    peer = Endpoint("127.0.0.1", 50000)
    writer = SessionWriter(path, flush_interval=0.2, backlog_limit=10**9)
    writer.open()
    writer(ServerStarted(1, "http", Transport.TCP, LOCAL, t0))
    writer(ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, LOCAL, peer, t0))
    if closed:
        writer(SocketEventRecorded(1, SocketEventKind.ACCEPT, t0))
    _BENCH_VIEWS.write_exchanges(writer, 0, exchanges, t0)
    if closed:
        end = t0 + exchanges * 1e-5
        writer(SocketEventRecorded(1, SocketEventKind.PEER_FIN, end))
        writer(SocketEventRecorded(1, SocketEventKind.CLOSE, end))
        sizes = exchanges * len(long_request(0)), exchanges * len(long_response(0))
        writer(ConnectionClosed(1, EndReason.FIN_PEER, end, *sizes))
    writer.close()


def long_request(n: int) -> bytes:
    return bytes(_BENCH_VIEWS.REQUEST % n)


def long_response(n: int) -> bytes:
    return bytes(_BENCH_VIEWS.RESPONSE % n)
