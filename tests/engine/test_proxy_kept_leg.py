"""A client connection's next requests go up the leg it kept: answered whole when the
response comes in one piece, streamed as before in every other case."""

from __future__ import annotations

import asyncio
import http.client
import socket
import struct
from collections.abc import Awaitable, Callable

from recorder import Events
from test_proxy import proxy_to

from netbench.engine.config import default_config
from netbench.engine.engine import Engine
from netbench.events import (
    ConnectionClosed,
    ConnectionOpened,
    HttpRequestRecorded,
    HttpResponseRecorded,
    SocketEventRecorded,
)
from netbench.model import EndReason

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


def _hello(text: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(text), text)


async def _scripted(answers: list[Answer]) -> asyncio.Server:
    """An upstream that answers its connection's n-th request with answers[n]."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for answer in answers:
                await reader.readuntil(b"\r\n\r\n")
                await answer(writer)
            await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def _first(writer: asyncio.StreamWriter) -> None:
    writer.write(_hello(b"first"))


async def _silent(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(5)


async def _after_first(
    engine: Engine, upstream: asyncio.Server
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Callable[[int], bytes]]:
    """A raw client connection to a proxy in front of `upstream`, its GET /1 answered
    ("first"): the leg is kept. Returns the connection and GET /n's bytes."""
    port = upstream.sockets[0].getsockname()[1]
    proxy = await proxy_to(engine, f"127.0.0.1:{port}")
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.address.port)

    def get(n: int) -> bytes:
        return b"GET /%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (n, proxy.address.port)

    writer.write(get(1))
    assert (await reader.readuntil(b"first")).startswith(b"HTTP/1.1 200")
    return reader, writer, get


def _gets(port: int, paths: list[str]) -> list[tuple[int, bytes]]:
    """GETs on one kept-alive client connection: (status, body) of each."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        answers = []
        for path in paths:
            conn.request("GET", path)
            response = conn.getresponse()
            answers.append((response.status, response.read()))
        return answers
    finally:
        conn.close()


async def _one_leg(events: Events, count: int) -> tuple[int, list[HttpResponseRecorded]]:
    """The only upstream leg and its first `count` responses, as recorded."""
    client = await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == b"/1")
    legs = [e for e in events.of(ConnectionOpened) if e.via == client.conn_id]
    assert len(legs) == 1
    leg = legs[0].conn_id
    for position in range(count):
        await events.wait_for(
            HttpRequestRecorded, lambda e, p=position: e.conn_id == leg and e.position == p
        )
    await events.wait_for(
        HttpResponseRecorded,
        lambda e: e.conn_id == leg and len(events.of(HttpResponseRecorded, conn_id=leg)) >= count,
    )
    return leg, events.of(HttpResponseRecorded, conn_id=leg)


async def test_the_second_request_on_a_kept_leg_is_recorded_as_the_first(
    engine: Engine, events: Events
) -> None:
    app = await engine.start_server(default_config("wsgi"))
    proxy = await proxy_to(engine, app)
    answers = await asyncio.to_thread(_gets, proxy.address.port, ["/1", "/2", "/3"])
    assert answers == [(200, b"Hello World")] * 3
    leg, upstream = await _one_leg(events, 3)
    # The first went through the stream (a new leg), the others in one hand-over:
    # the records cannot tell them apart.
    assert [r.response.status for r in upstream] == [200, 200, 200]
    assert {r.response.body for r in upstream} == {b"Hello World"}
    assert all(0 <= r.first_chunk <= r.last_chunk and r.t_start <= r.t_end for r in upstream)
    sent = events.of(HttpRequestRecorded, conn_id=leg)
    assert [r.request.target for r in sent] == [b"/1", b"/2", b"/3"]
    (client,) = [e.conn_id for e in events.of(ConnectionOpened) if e.server_id == proxy.server_id]
    down = events.of(HttpResponseRecorded, conn_id=client)
    assert [e.response.status for e in down] == [200, 200, 200]
    first, *rest = down
    for other in rest:
        assert other.response.body == first.response.body == b"Hello World"
        names = [n.lower() for n, _ in other.response.headers]
        assert names == [n.lower() for n, _ in first.response.headers]
        assert b"connection" not in names  # hop-by-hop, dropped either way


async def test_a_response_in_pieces_on_a_kept_leg_streams_down_whole(
    engine: Engine, events: Events
) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, sent in 64 KiB writes

    async def pieces(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        for at in range(0, len(body), 65536):
            writer.write(body[at : at + 65536])
            await writer.drain()
            await asyncio.sleep(0)

    async def small(writer: asyncio.StreamWriter) -> None:
        writer.write(_hello(b"small"))

    upstream = await _scripted([small, pieces, small])
    async with upstream:
        port = upstream.sockets[0].getsockname()[1]
        proxy = await proxy_to(engine, f"127.0.0.1:{port}")
        answers = await asyncio.to_thread(_gets, proxy.address.port, ["/1", "/2", "/3"])
        assert answers == [(200, b"small"), (200, body), (200, b"small")]
        _leg, recorded = await _one_leg(events, 3)
        assert [r.response.body_len for r in recorded] == [5, len(body), 5]


async def test_a_kept_leg_that_goes_silent_gets_a_504_once(engine: Engine, events: Events) -> None:
    upstream = await _scripted([_first, _silent])
    async with upstream:
        port = upstream.sockets[0].getsockname()[1]
        proxy = await proxy_to(engine, f"127.0.0.1:{port}", upstream_timeout=0.3)
        answers = await asyncio.to_thread(_gets, proxy.address.port, ["/1", "/2"])
        assert answers[0] == (200, b"first")
        assert answers[1][0] == 504 and b"0.3 s" in answers[1][1]
        leg, recorded = await _one_leg(events, 2)
        assert recorded[1].response.error is not None and "504" in recorded[1].response.error
        closed = await events.wait_for(ConnectionClosed, lambda e: e.conn_id == leg)
        assert closed.reason is EndReason.TIMEOUT
        upstream.close()


async def test_a_client_that_leaves_while_its_kept_leg_is_silent_closes_the_leg(
    engine: Engine, events: Events
) -> None:
    upstream = await _scripted([_first, _silent])
    async with upstream:
        _reader, writer, get = await _after_first(engine, upstream)
        writer.write(get(2))
        client = await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == b"/1")
        opened = next(e for e in events.of(ConnectionOpened) if e.via == client.conn_id)
        await events.wait_for(
            HttpRequestRecorded, lambda e: e.conn_id == opened.conn_id and e.position == 1
        )
        # Gone before the upstream answered: a reset, not a half-close (a
        # half-closed client is still answered).
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        closed = await events.wait_for(ConnectionClosed, lambda e: e.conn_id == opened.conn_id)
        assert closed.reason is EndReason.FIN_LOCAL  # the proxy closed it, not the upstream
        why = events.of(SocketEventRecorded, conn_id=opened.conn_id)[-1]
        assert why.detail == "the client's connection ended"
        await events.wait_for(
            HttpResponseRecorded,
            lambda e: (
                e.conn_id == opened.conn_id
                and len(events.of(HttpResponseRecorded, conn_id=opened.conn_id)) == 2
            ),
        )
        second = events.of(HttpResponseRecorded, conn_id=opened.conn_id)[1]
        assert second.response.error == "no response"  # recorded as never answered
        upstream.close()


async def test_an_interim_response_before_the_final_one_on_a_kept_leg_is_skipped(
    engine: Engine, events: Events
) -> None:
    async def interim(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + _hello(b"final"))  # one piece

    upstream = await _scripted([_first, interim])
    async with upstream:
        reader, writer, get = await _after_first(engine, upstream)
        writer.write(get(2))
        # What the client gets first is the final head (http.client would hide a 100).
        assert (await reader.readuntil(b"final")).startswith(b"HTTP/1.1 200 OK\r\n")
        writer.close()
        _leg, recorded = await _one_leg(events, 2)
        assert [r.response.status for r in recorded] == [200, 200]
        upstream.close()


async def test_an_interim_response_in_a_piece_of_its_own_is_dropped_for_the_final_one(
    engine: Engine, events: Events
) -> None:
    async def hints_then_final(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)  # the upstream thinks: the final head comes apart
        writer.write(_hello(b"final"))

    upstream = await _scripted([hints_then_final, hints_then_final])  # a new leg, then kept
    async with upstream:
        port = upstream.sockets[0].getsockname()[1]
        proxy = await proxy_to(engine, f"127.0.0.1:{port}")
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.address.port)
        for n in (1, 2):
            writer.write(
                b"GET /%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (n, proxy.address.port)
            )
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Link" not in head
            assert await reader.readexactly(5) == b"final"
        writer.close()
        _leg, recorded = await _one_leg(events, 2)
        assert [(r.response.status, r.response.body) for r in recorded] == [(200, b"final")] * 2
        upstream.close()


async def test_the_clients_response_starts_when_its_first_byte_leaves(
    engine: Engine, events: Events
) -> None:
    async def late(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)  # the upstream takes its time
        writer.write(_hello(b"late"))

    upstream = await _scripted([late, late])  # a new leg (streamed), then the kept one
    async with upstream:
        port = upstream.sockets[0].getsockname()[1]
        proxy = await proxy_to(engine, f"127.0.0.1:{port}")
        assert (
            await asyncio.to_thread(_gets, proxy.address.port, ["/1", "/2"]) == [(200, b"late")] * 2
        )
        (client,) = [
            e.conn_id for e in events.of(ConnectionOpened) if e.server_id == proxy.server_id
        ]
        await events.wait_for(
            HttpResponseRecorded,
            lambda e: (
                e.conn_id == client and len(events.of(HttpResponseRecorded, conn_id=client)) == 2
            ),
        )
        asked = events.of(HttpRequestRecorded, conn_id=client)
        answered = events.of(HttpResponseRecorded, conn_id=client)
        for request, response in zip(asked, answered, strict=True):
            # Waiting is the upstream's 0.2 s; the one-chunk response itself takes no time.
            assert response.t_start - request.t_end >= 0.19
            assert response.t_end - response.t_start < 0.05
        upstream.close()
