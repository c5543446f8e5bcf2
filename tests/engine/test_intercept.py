"""Intercept and run-time live responses, on real sockets."""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

import pytest
from recorder import Events

from netbench.engine.config import default_config
from netbench.engine.engine import Engine, EngineError, RunningServer
from netbench.engine.intercept import InterceptQueue
from netbench.events import HttpResponseRecorded, InterceptHeld, InterceptReleased
from netbench.protocol.images import is_complete_jpeg

Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]

GET = b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
GET_CLOSE = b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@pytest.fixture
async def server(engine: Engine) -> RunningServer:
    return await engine.start_server(default_config("http"))


def queue_of(engine: Engine, server: RunningServer) -> InterceptQueue:
    queue = engine.intercepts(server.server_id)
    assert queue is not None
    return queue


async def connect(server: RunningServer, data: bytes) -> Client:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.address.port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def read_all(client: Client) -> bytes:
    reader, writer = client
    try:
        return await asyncio.wait_for(reader.read(), 3)
    finally:
        writer.close()


async def held(events: Events, count: int) -> list[int]:
    """Wait until `count` requests are held; their exchange ids, in arrival order."""
    await events.wait_for(InterceptHeld, lambda _e: len(events.of(InterceptHeld)) >= count)
    return [event.exchange_id for event in events.of(InterceptHeld)]


async def test_a_held_request_gets_exactly_the_typed_bytes(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    queue = engine.set_intercept(server.server_id, True)
    client = await connect(server, GET_CLOSE % b"x")
    [exchange] = await held(events, 1)
    item = queue.get(exchange)
    assert item is not None and item.request.target == b"/x" and item.waited() >= 0
    typed = b"HTTP/1.1 201 Typed\nX-By: hand\nContent-Length: 2\n\nhi"
    await asyncio.sleep(0.05)
    assert not client[0].at_eof()  # still waiting
    assert queue.answer(exchange, typed, raw_mode=True)
    assert await read_all(client) == typed
    assert events.of(InterceptReleased, exchange_id=exchange)[0].how == "answered"
    assert len(queue) == 0 and not queue.answer(exchange, typed)


async def test_answers_in_reverse_order_reach_the_right_clients(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    queue = engine.set_intercept(server.server_id, True)
    first = await connect(server, GET_CLOSE % b"one")
    await held(events, 1)
    second = await connect(server, GET_CLOSE % b"two")
    one, two = await held(events, 2)
    assert [i.request.target for i in queue.items()] == [b"/one", b"/two"]
    queue.answer(two, b"HTTP/1.1 200 OK\n\nfor two")
    assert (await read_all(second)).endswith(b"\r\n\r\nfor two")
    queue.answer(one, b"HTTP/1.1 200 OK\n\nfor one")
    assert (await read_all(first)).endswith(b"\r\n\r\nfor one")


async def test_close_sends_fin_and_reset_sends_rst(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    queue = engine.set_intercept(server.server_id, True)
    closing = await connect(server, GET % b"fin")
    resetting = await connect(server, GET % b"rst")
    fin, rst = await held(events, 2)
    assert queue.close(fin)
    assert await read_all(closing) == b""  # EOF: a FIN, no response
    assert queue.reset(rst)
    with pytest.raises(ConnectionResetError):
        await read_all(resetting)
    hows = {e.exchange_id: e.how for e in events.of(InterceptReleased)}
    assert hows == {fin: "closed", rst: "reset"}


async def test_pipelined_requests_answered_out_of_order_go_out_in_order(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    queue = engine.set_intercept(server.server_id, True)
    client = await connect(server, GET % b"a" + GET % b"b" + GET_CLOSE % b"c")
    a, b, c = await held(events, 3)
    queue.answer(c, b"HTTP/1.1 200 OK\n\nC")
    queue.answer(b, b"HTTP/1.1 200 OK\n\nB")
    await asyncio.sleep(0.05)
    reader = client[0]
    assert not reader.at_eof() and len(reader._buffer) == 0  # type: ignore[attr-defined]
    queue.answer(a, b"HTTP/1.1 200 OK\n\nA")
    received = await read_all(client)
    bodies = [part[-1:] for part in received.split(b"HTTP/1.1 ")[1:]]
    assert bodies == [b"A", b"B", b"C"]


async def test_turning_intercept_off_lets_the_server_answer(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    engine.set_intercept(server.server_id, True)
    client = await connect(server, GET_CLOSE % b"nowhere")
    [exchange] = await held(events, 1)
    engine.set_intercept(server.server_id, False)
    assert (await read_all(client)).startswith(b"HTTP/1.1 404 ")
    assert events.of(InterceptReleased, exchange_id=exchange)[0].how == "rule"
    later = await connect(server, GET_CLOSE % b"")
    assert (await read_all(later)).startswith(b"HTTP/1.1 200 ")  # not held any more


async def test_a_held_static_listing_gets_the_listing(
    engine: Engine, events: Events, tmp_path: Path
) -> None:
    # A listing is built off the loop: the server's answer to a held request
    # is then an awaitable, which the queue follows to the client.
    (tmp_path / "listed.txt").write_bytes(b"x")
    static = await engine.start_server(default_config("static", root=tmp_path))
    queue = engine.set_intercept(static.server_id, True)
    client = await connect(static, GET_CLOSE % b"")
    [exchange] = await held(events, 1)
    assert queue.let_rule_answer(exchange)
    received = await read_all(client)
    assert received.startswith(b"HTTP/1.1 200 ") and b'href="listed.txt"' in received
    assert events.of(InterceptReleased, exchange_id=exchange)[0].how == "rule"


async def test_the_rule_answer_is_the_response_saved_while_waiting(
    engine: Engine, server: RunningServer, events: Events, tmp_path: Path
) -> None:
    queue = engine.set_intercept(server.server_id, True)
    client = await connect(server, GET_CLOSE % b"x")
    [exchange] = await held(events, 1)
    response = tmp_path / "r.http"
    response.write_bytes(b"HTTP/1.1 418 Teapot\n\nsaved meanwhile")
    engine.set_response(server.server_id, response)
    assert queue.let_rule_answer(exchange)
    received = await read_all(client)
    assert received.startswith(b"HTTP/1.1 418 ") and received.endswith(b"saved meanwhile")


async def test_a_client_gone_while_held_is_dropped(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    queue = engine.set_intercept(server.server_id, True)
    _reader, writer = await connect(server, GET % b"x")
    [exchange] = await held(events, 1)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # with linger 0: a RST
    released = await events.wait_for(InterceptReleased)
    assert (released.exchange_id, released.how) == (exchange, "client-gone")
    assert len(queue) == 0
    # Its record says why it has no response (it said nothing).
    recorded = await events.wait_for(HttpResponseRecorded, lambda e: e.exchange_id == exchange)
    assert recorded.response.status is None and recorded.first_chunk == -1
    assert recorded.response.error == "the client reset the connection before it was answered"


async def test_a_held_request_that_asked_to_close_records_the_reset_too(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    # `Connection: close` marks the connection as closing after its reply;
    # that reply never went out, so the reason is still the client's reset.
    engine.set_intercept(server.server_id, True)
    _reader, writer = await connect(server, GET_CLOSE % b"bye")
    [exchange] = await held(events, 1)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    recorded = await events.wait_for(HttpResponseRecorded, lambda e: e.exchange_id == exchange)
    assert recorded.response.error == "the client reset the connection before it was answered"


async def test_a_request_held_behind_one_the_client_left_records_why_too(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    engine.set_intercept(server.server_id, True)
    _reader, writer = await connect(server, (GET % b"one") + (GET % b"two"))
    exchanges = await held(events, 2)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # a RST while both wait (after a FIN they would still be answered)
    for exchange in exchanges:
        recorded = await events.wait_for(
            HttpResponseRecorded, lambda e, exchange=exchange: e.exchange_id == exchange
        )
        assert recorded.response.error == "the client reset the connection before it was answered"


async def test_stopping_the_server_releases_what_it_held(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    engine.set_intercept(server.server_id, True)
    client = await connect(server, GET % b"x")
    await held(events, 1)
    await engine.stop_server(server.server_id)
    released = await events.wait_for(InterceptReleased)
    assert released.how == "stopped"
    recorded = await events.wait_for(
        HttpResponseRecorded, lambda e: e.exchange_id == released.exchange_id
    )
    assert recorded.response.error == "the server was stopped before it was answered"
    client[1].close()


async def test_set_response_and_rules_change_the_next_answer(
    engine: Engine, server: RunningServer, tmp_path: Path
) -> None:
    response = tmp_path / "server.http"
    response.write_bytes(b"HTTP/1.1 200 OK\nContent-Length: 50\n\nwrong length")
    engine.set_response(server.server_id, response, fix_length=False)
    got = await read_all(await connect(server, GET_CLOSE % b"a"))
    assert b"Content-Length: 50\r\n" in got and got.endswith(b"wrong length")
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\npath = "/api/*"\ntext = "HTTP/1.1 202 Rule\\n\\nby rule"\n')
    engine.set_rules(server.server_id, rules)
    assert (await read_all(await connect(server, GET_CLOSE % b"api/1"))).endswith(b"by rule")
    engine.set_response(server.server_id, None)
    assert (await read_all(await connect(server, GET_CLOSE % b"api/2"))).endswith(b"by rule")
    assert (await read_all(await connect(server, GET_CLOSE % b""))).startswith(b"HTTP/1.1 200")
    engine.set_rules(server.server_id, None)
    assert server.live is None


async def test_directives_from_a_response_file(
    engine: Engine, server: RunningServer, tmp_path: Path
) -> None:
    response = tmp_path / "server.http"
    jpeg = Path(__file__).parents[2] / "netbench" / "assets" / "test.jpg"
    response.write_text(
        f"#!netbench body-file {jpeg}\n#!netbench drip 0.01 4096\n"
        "HTTP/1.1 200 OK\nContent-Type: image/jpeg\n\n"
    )
    engine.set_response(server.server_id, response)
    got = await read_all(await connect(server, GET_CLOSE % b"img"))
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % len(body) in head and is_complete_jpeg(body)
    response.write_text("#!netbench reset-after head\nHTTP/1.1 200 OK\n\nnever sent")
    with pytest.raises(ConnectionResetError):
        await read_all(await connect(server, GET_CLOSE % b"rst"))


async def test_only_http_servers_intercept(engine: Engine) -> None:
    echo = await engine.start_server(default_config("echo", port=0))
    assert engine.intercepts(echo.server_id) is None
    with pytest.raises(EngineError, match="not HTTP"):
        engine.set_response(echo.server_id, None)
    with pytest.raises(EngineError, match="cannot intercept"):
        engine.set_intercept(echo.server_id, True)
