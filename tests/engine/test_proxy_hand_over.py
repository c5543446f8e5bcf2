"""The proxy's one hand-over against its streaming path: the same bytes to the client and
the same records for every kind of response, and no error when the client's connection
and the awaited leg end in the same turn of the loop."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import struct
import threading
import time
from typing import Any

import pytest
from recorder import Events
from test_proxy import proxy_to
from test_proxy_kept_leg import _scripted

from netbench.engine.engine import Engine
from netbench.engine.proxy_deferred import ProxyDeferred
from netbench.engine.upstream import UpstreamLeg
from netbench.events import (
    ConnectionClosed,
    ConnectionOpened,
    HttpRequestRecorded,
    HttpResponseRecorded,
    SocketEventKind,
    SocketEventRecorded,
)
from netbench.protocol.responses import Reply

FIRST = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
SECOND = {  # the second request's method, and the upstream's answer in one piece
    "head": (b"HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
    "204": (b"GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
    "304": (b"GET", b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 9\r\n\r\n'),
    "conn-close": (b"GET", b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye"),
    "http10": (b"GET", b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold"),
    "chunked": (
        b"GET",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ),
    "close-delimited": (b"GET", b"HTTP/1.1 200 OK\r\n\r\nuntil-close"),
    "500": (b"GET", b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nno"),
    "trailer": (
        b"GET",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Sum: abc\r\n\r\n",
    ),
}


async def _upstream(second: bytes) -> asyncio.Server:
    """FIRST, then `second`; then FIRST again unless `second` ends the connection."""
    ends = b"Content-Length" not in second and b"chunked" not in second and b" 204 " not in second

    async def first(writer: asyncio.StreamWriter) -> None:
        writer.write(FIRST)

    async def then(writer: asyncio.StreamWriter) -> None:
        writer.write(second)
        if ends:
            writer.close()  # its end is the response's

    return await _scripted([first, then, first])


def _three(port: int, method: str) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    """GET /1, METHOD /2, GET /3 on one connection: what the client got of each."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    got = []
    try:
        for verb, path in (("GET", "/1"), (method, "/2"), ("GET", "/3")):
            conn.request(verb, path)
            response = conn.getresponse()
            headers = [(k.lower(), v) for k, v in response.getheaders() if k.lower() != "date"]
            got.append((response.status, headers, response.read()))
    finally:
        conn.close()
    return got


async def _exchanges(engine: Engine, events: Events, method: bytes, second: bytes) -> object:
    """What the client got, and every record of both legs, with ids made relative."""
    upstream = await _upstream(second)
    async with upstream:
        port = upstream.sockets[0].getsockname()[1]
        proxy = await proxy_to(engine, f"127.0.0.1:{port}")
        got = await asyncio.to_thread(_three, proxy.address.port, method.decode())
        clients = [e.conn_id for e in events.of(ConnectionOpened) if e.server_id == proxy.server_id]
        legs = [e.conn_id for e in events.of(ConnectionOpened) if e.via in clients]
        for conn_id in (*clients, *legs):  # the client left: its legs close with it
            await events.wait_for(ConnectionClosed, lambda e, c=conn_id: e.conn_id == c)
        upstream.close()

    def which(conn_id: int) -> str:
        return f"leg {legs.index(conn_id)}" if conn_id in legs else "client"

    records: list[tuple[Any, ...]] = []
    for e in events.all:
        if getattr(e, "conn_id", None) not in (*clients, *legs):
            continue
        if isinstance(e, HttpRequestRecorded):
            records.append(("request", which(e.conn_id), e.position, e.request.target))
        elif isinstance(e, HttpResponseRecorded):
            r = e.response
            headers = [h for h in r.headers if h[0].lower() != b"date"]
            records.append(
                ("response", which(e.conn_id), r.status, r.version, headers, r.body, r.error)
            )
            records.append(("chunks", e.first_chunk >= 0, e.last_chunk >= e.first_chunk))
        elif isinstance(e, ConnectionClosed):
            records.append(("closed", which(e.conn_id), e.reason))
    return got, sorted(records, key=repr), len(legs)


@pytest.mark.both_loops
@pytest.mark.parametrize("case", list(SECOND))
async def test_the_hand_over_sends_and_records_what_the_stream_does(
    engine: Engine, events: Events, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    method, second = SECOND[case]
    handed = await _exchanges(engine, events, method, second)
    events.all.clear()

    def streamed(self: ProxyDeferred) -> asyncio.Future[Reply]:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        future.set_result(self.stream.reply())
        return future

    monkeypatch.setattr(ProxyDeferred, "begin", streamed)  # every request streamed
    assert handed == await _exchanges(engine, events, method, second)
    if case == "trailer":  # the trailer follows the body; it never joins the head
        got = handed[0]  # type: ignore[index]
        assert "x-sum" not in dict(got[1][1])


async def _silent_after_first() -> asyncio.Server:
    """FIRST, then never an answer to the second request."""

    async def first(writer: asyncio.StreamWriter) -> None:
        writer.write(FIRST)

    return await _scripted([first])


async def _awaiting_second(
    engine: Engine, events: Events, upstream_port: int
) -> tuple[asyncio.StreamWriter, int, int]:
    """A client whose GET /2 waits on its kept leg: (its writer, proxy's id, the leg's id)."""
    proxy = await proxy_to(engine, f"127.0.0.1:{upstream_port}")
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.address.port)
    get = b"GET /%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
    writer.write(get % (1, proxy.address.port))
    assert (await reader.readuntil(b"first")).startswith(b"HTTP/1.1 200")
    writer.write(get % (2, proxy.address.port))
    mine = {e.conn_id for e in events.of(ConnectionOpened) if e.server_id == proxy.server_id}
    leg = next(e for e in events.of(ConnectionOpened) if e.via in mine).conn_id
    await events.wait_for(HttpRequestRecorded, lambda e: e.conn_id == leg and e.position == 1)
    return writer, proxy.server_id, leg


def _catch(loop: asyncio.AbstractEventLoop) -> list[dict[str, Any]]:
    raised: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: raised.append(context))
    return raised


@pytest.mark.both_loops
async def test_the_client_and_its_awaited_leg_closing_in_one_turn_raise_nothing(
    engine: Engine, events: Events
) -> None:
    raised = _catch(asyncio.get_running_loop())
    upstream = await _silent_after_first()
    async with upstream:
        writer, server_id, leg_id = await _awaiting_second(
            engine, events, upstream.sockets[0].getsockname()[1]
        )
        running = engine.servers[server_id]
        # What stop_server does when its set lists the client's connection first.
        (leg,) = [c for c in running.connections if isinstance(c, UpstreamLeg)]
        (client,) = [c for c in running.connections if not isinstance(c, UpstreamLeg)]
        client.close()
        leg.close()
        await events.wait_for(ConnectionClosed, lambda e: e.conn_id == leg_id)
        await events.wait_for(ConnectionClosed, lambda e: e.conn_id == client.conn_id)
        writer.close()
        assert raised == []
        assert running.legs == 0 and leg not in running.connections
        # The second exchange on the leg is recorded once, as never answered.
        (second,) = events.of(HttpResponseRecorded, conn_id=leg_id)[1:]
        assert second.response.error == "no response"
        upstream.close()


@pytest.mark.both_loops
async def test_stopping_the_proxy_while_a_leg_is_awaited_raises_nothing(
    engine: Engine, events: Events
) -> None:
    raised = _catch(asyncio.get_running_loop())
    upstream = await _silent_after_first()
    async with upstream:
        for _round in range(6):  # the set's order decides which closes first
            writer, server_id, leg = await _awaiting_second(
                engine, events, upstream.sockets[0].getsockname()[1]
            )
            running = engine.servers[server_id]
            await engine.stop_server(server_id)
            await events.wait_for(ConnectionClosed, lambda e, c=leg: e.conn_id == c)
            writer.close()
            assert (raised, running.legs) == ([], 0)
        upstream.close()


@pytest.mark.both_loops
async def test_a_client_reset_as_its_legs_response_arrives_records_it_once(
    engine: Engine, events: Events
) -> None:
    errors: list[tuple[str, BaseException]] = []
    engine.ctx._on_internal_error = lambda what, error: errors.append((what, error))
    answer = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def upstream() -> None:
        sock, _ = listener.accept()
        with sock:
            data = b""
            while data.count(b"\r\n\r\n") < 1:
                data += sock.recv(65536)
            sock.sendall(FIRST)
            while data.count(b"\r\n\r\n") < 2:
                data += sock.recv(65536)
            answer.wait(5)
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
            sock.settimeout(2)
            with contextlib.suppress(OSError):
                sock.recv(1)

    thread = threading.Thread(target=upstream, daemon=True)
    thread.start()
    writer, _server_id, leg = await _awaiting_second(engine, events, listener.getsockname()[1])
    (client,) = {e.conn_id for e in events.of(HttpRequestRecorded) if e.conn_id != leg}

    def as_the_reset_is_handled(event: object) -> None:
        # The upstream's answer lands while the client's reset is being handled.
        if (
            isinstance(event, SocketEventRecorded)
            and event.conn_id == client
            and event.kind is SocketEventKind.PEER_RESET
        ):
            answer.set()
            time.sleep(0.2)

    engine.ctx.bus.subscribe(as_the_reset_is_handled)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    await events.wait_for(ConnectionClosed, lambda e: e.conn_id == leg)
    await asyncio.to_thread(thread.join, 3)
    listener.close()
    assert errors == []
    assert len(events.of(HttpResponseRecorded, conn_id=leg)) == 2  # /1's, and /2's once
