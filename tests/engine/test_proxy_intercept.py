"""Intercept in front of the proxy: a held request let through goes upstream at its turn,
in the client's order, and its leg ends with the client's connection."""

from __future__ import annotations

import asyncio
import socket
import struct

from recorder import Events
from test_proxy import proxy_to
from test_proxy_kept_leg import _scripted

from netbench.engine.engine import Engine, RunningServer
from netbench.engine.intercept import InterceptQueue
from netbench.events import (
    ConnectionClosed,
    ConnectionOpened,
    HttpRequestRecorded,
    HttpResponseRecorded,
    InterceptHeld,
)


async def _echo_paths(seen: list[bytes]) -> asyncio.Server:
    """Answers each request with its path, `<path>`, noting the order they came in."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                path = (await reader.readuntil(b"\r\n\r\n")).split(b" ")[1]
                seen.append(path)
                body = b"<%b>" % path
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def _held_after_first(
    engine: Engine, events: Events, upstream: asyncio.Server, paths: list[int]
) -> tuple[RunningServer, InterceptQueue, asyncio.StreamReader, asyncio.StreamWriter, list[int]]:
    """GET /1 answered (the leg is kept), then intercept on and GET /n for each of `paths`
    pipelined and held: the proxy, its queue, the client's connection, the held ids."""
    port = upstream.sockets[0].getsockname()[1]
    proxy = await proxy_to(engine, f"127.0.0.1:{port}")
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.address.port)
    get = b"GET /%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
    writer.write(get % (1, proxy.address.port))
    assert (await reader.readuntil(b"</1>")).startswith(b"HTTP/1.1 200")
    queue = engine.set_intercept(proxy.server_id, True)
    writer.write(b"".join(get % (n, proxy.address.port) for n in paths))
    await events.wait_for(InterceptHeld, lambda _e: len(events.of(InterceptHeld)) == len(paths))
    held = [e.exchange_id for e in events.of(InterceptHeld)]
    return proxy, queue, reader, writer, held


async def test_held_requests_let_through_out_of_order_go_upstream_in_theirs(
    engine: Engine, events: Events
) -> None:
    seen: list[bytes] = []
    upstream = await _echo_paths(seen)
    async with upstream:
        proxy, queue, reader, writer, (second, third) = await _held_after_first(
            engine, events, upstream, [2, 3]
        )
        assert queue.let_rule_answer(third)  # the user lets the later one through first
        assert queue.let_rule_answer(second)
        got = await reader.readuntil(b"</3>")
        assert got.index(b"</2>") < got.index(b"</3>")  # the client's order
        assert seen == [b"/1", b"/2", b"/3"]  # and the upstream's
        writer.close()
        client = events.of(HttpRequestRecorded)[0].conn_id
        await events.wait_for(ConnectionClosed, lambda e: e.conn_id == client)
        legs = [e.conn_id for e in events.of(ConnectionOpened) if e.via == client]
        assert len(legs) == 1  # one kept leg carried all three
        await events.wait_for(ConnectionClosed, lambda e: e.conn_id == legs[0])
        assert engine.servers[proxy.server_id].legs == 0
        upstream.close()


async def test_a_request_let_through_whose_client_leaves_closes_its_leg(
    engine: Engine, events: Events
) -> None:
    async def first(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n</1>")

    upstream = await _scripted([first])  # silent after the first
    async with upstream:
        proxy, queue, _reader, writer, (second,) = await _held_after_first(
            engine, events, upstream, [2]
        )
        client = events.of(HttpRequestRecorded)[0].conn_id
        leg = next(e for e in events.of(ConnectionOpened) if e.via == client).conn_id
        assert queue.let_rule_answer(second)
        await events.wait_for(HttpRequestRecorded, lambda e: e.conn_id == leg and e.position == 1)
        sock = writer.get_extra_info("socket")  # gone before the upstream answers: a reset
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        await events.wait_for(ConnectionClosed, lambda e: e.conn_id == leg)
        answers = events.of(HttpResponseRecorded, conn_id=leg)
        assert [r.response.error for r in answers] == [None, "no response"]
        assert engine.servers[proxy.server_id].legs == 0
        upstream.close()
