"""A recorded session with fixed contents and a fixed clock, for snapshots.

Everything a screen shows comes from here, so an SVG snapshot changes only
when the UI does: times start at 2026-11-22 10:00:00 UTC, ports are fixed,
and the bytes are the ones a browser, curl and an echo client really send.
"""

from __future__ import annotations

from pathlib import Path

from sessionkit import record

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
from netbench.model import Direction, Endpoint, EndReason, Role, SocketEventKind, Transport
from netbench.protocol.http_parse import ParsedRequest, RequestReader, describe_response
from netbench.protocol.pages import SEED_PAGE

WALL = 1795341600.0  # 2026-11-22 10:00:00 UTC
MONO = 1000.0
SERVER = Endpoint("127.0.0.1", 8000)

BROWSER_GET = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nConnection: keep-alive\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0\r\n"
    b"Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate\r\n\r\n"
)
PAGE = (
    b"HTTP/1.1 200 OK\r\nServer: netbench/0.1.0\r\nDate: Sun, 22 Nov 2026 10:00:00 GMT\r\n"
    b"Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
    % len(SEED_PAGE)
    + SEED_PAGE.encode()
)
POST = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
    b"Content-Length: 13\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
    b"firstname=Ann"
)
NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n"
)


class _Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.t = MONO
        self.conn_id = 0
        self.exchange_id = 0

    def tick(self, ms: float) -> float:
        self.t += ms / 1000
        return self.t

    def connection(self, port: int, server_id: int | None = 1, local: Endpoint = SERVER) -> _Conn:
        self.conn_id += 1
        role = Role.SERVER if server_id is not None else Role.CLIENT
        peer = Endpoint("127.0.0.1", port) if server_id is not None else local
        mine = local if server_id is not None else Endpoint("127.0.0.1", port)
        self.events.append(
            ConnectionOpened(self.conn_id, server_id, role, Transport.TCP, mine, peer, self.tick(1))
        )
        kind = SocketEventKind.ACCEPT if server_id is not None else SocketEventKind.CONNECT
        self.events.append(SocketEventRecorded(self.conn_id, kind, self.t))
        return _Conn(self, self.conn_id)


class _Conn:
    def __init__(self, recorder: _Recorder, conn_id: int) -> None:
        self.r, self.conn_id = recorder, conn_id
        self.seq = 0
        self.sent = {Direction.IN: 0, Direction.OUT: 0}

    def chunk(self, direction: Direction, data: bytes, ms: float = 0.4) -> int:
        seq = self.seq
        self.r.events.append(
            ChunkRecorded(self.conn_id, seq, direction, self.sent[direction], data, self.r.tick(ms))
        )
        self.seq += 1
        self.sent[direction] += len(data)
        return seq

    def exchange(self, request: bytes, response: bytes, index: int = 0) -> None:
        seq = self.chunk(Direction.IN, request)
        [parsed] = RequestReader().feed(request, seq, self.r.t)
        assert isinstance(parsed, ParsedRequest)
        self.r.exchange_id += 1
        self.r.events.append(
            HttpRequestRecorded(
                self.r.exchange_id,
                self.conn_id,
                index,
                parsed.request,
                seq,
                seq,
                self.r.t,
                self.r.t,
            )
        )
        t0 = self.r.tick(0.3)
        out = self.chunk(Direction.OUT, response, 0.1)
        self.r.events.append(
            HttpResponseRecorded(
                self.r.exchange_id,
                self.conn_id,
                describe_response(response),
                out,
                out,
                t0,
                self.r.t,
            )
        )

    def close(self, reason: EndReason, ms: float = 2.0) -> None:
        self.r.events.append(
            ConnectionClosed(
                self.conn_id,
                reason,
                self.r.tick(ms),
                self.sent[Direction.IN],
                self.sent[Direction.OUT],
            )
        )


def write_demo_session(path: Path, jpeg: bytes) -> Path:
    r = _Recorder()
    r.events.append(ServerStarted(1, "http", Transport.TCP, SERVER, MONO, {"keep_alive": True}))
    r.events.append(ServerStarted(2, "echo", Transport.TCP, Endpoint("127.0.0.1", 5000), MONO))
    browser = r.connection(50412)
    browser.exchange(BROWSER_GET, PAGE)
    image_head = (
        b"HTTP/1.1 200 OK\r\nServer: netbench/0.1.0\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: %d\r\n\r\n" % len(jpeg)
    )
    browser.exchange(BROWSER_GET.replace(b"GET / ", b"GET /test.jpg "), image_head + jpeg, 1)
    browser.close(EndReason.FIN_PEER, 40)
    curl = r.connection(50420)
    posted = SEED_PAGE.encode() + b"<p>Ann</p>\n"
    curl.exchange(
        POST,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n" % len(posted) + posted,
    )
    curl.close(EndReason.FIN_PEER)
    missing = r.connection(50424)
    missing.exchange(BROWSER_GET.replace(b"GET / ", b"GET /favicon.ico "), NOT_FOUND)
    missing.close(EndReason.FIN_LOCAL)
    echo = r.connection(50430, server_id=2, local=Endpoint("127.0.0.1", 5000))
    for data in (b"Hello\r\n", b"\x00\x01\x1b[31mred\x1b[0m\r\n"):
        echo.chunk(Direction.IN, data, 30)
        echo.chunk(Direction.OUT, data, 0.2)
    echo.close(EndReason.RST_PEER, 15)
    record(path, r.events, argv=["netbench"], anchors=(MONO, WALL))
    return path
