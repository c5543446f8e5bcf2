"""Upstreams that misbehave: what the proxy's client gets, and what each leg records.

Bytes from the upstream are untrusted: a head that is not HTTP is answered 502
(never passed on rewritten), a response cut short is recorded as cut short on
both legs, and a head that never completed is not recorded as a response.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
from recorder import Events
from test_proxy import proxy_to

from netbench.engine.engine import Engine, RunningServer
from netbench.events import ConnectionOpened, HttpRequestRecorded, HttpResponseRecorded

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


async def _upstream(*answers: Answer) -> asyncio.Server:
    """An upstream answering its connection's n-th request with answers[n], then
    waiting (up to 5 s) for the proxy to close."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for answer in answers:
                await reader.readuntil(b"\r\n\r\n")
                await answer(writer)
                await writer.drain()
            async with asyncio.timeout(5):
                await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def _sends(*parts: bytes, pause: float = 0.05) -> Answer:
    """Writes each part, `pause` seconds apart (each its own segment)."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        for n, part in enumerate(parts):
            if n:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()

    return answer


def _hello(text: bytes) -> Answer:
    return _sends(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(text), text))


def _talk(port: int, requests: list[bytes], timeout: float = 5.0) -> bytes:
    """Send the requests on one connection; every byte received until the proxy closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for request in requests:
            sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def _get(path: bytes = b"/", version: bytes = b"1.1", close: bool = False) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return b"GET %b HTTP/%b\r\nHost: 127.0.0.1\r\n%b\r\n" % (path, version, connection)


async def _start(engine: Engine, *answers: Answer, **options: object) -> RunningServer:
    upstream = await _upstream(*answers)
    return await proxy_to(engine, f"127.0.0.1:{upstream.sockets[0].getsockname()[1]}", **options)


async def _records(
    events: Events, proxy: RunningServer, target: bytes = b"/"
) -> tuple[HttpResponseRecorded, HttpResponseRecorded]:
    """The client leg's and the upstream leg's response to the request for `target`."""
    opened = await events.wait_for(ConnectionOpened, lambda e: e.server_id == proxy.server_id)
    client = await events.wait_for(
        HttpRequestRecorded, lambda e: e.conn_id == opened.conn_id and e.request.target == target
    )
    leg = await events.wait_for(ConnectionOpened, lambda e: e.via == client.conn_id)
    sent = await events.wait_for(
        HttpRequestRecorded, lambda e: e.conn_id == leg.conn_id and e.request.target == target
    )
    down = await events.wait_for(
        HttpResponseRecorded, lambda e: e.exchange_id == client.exchange_id
    )
    up = await events.wait_for(HttpResponseRecorded, lambda e: e.exchange_id == sent.exchange_id)
    return down, up


# -- a head that is not HTTP ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "complaint"),
    [
        ((b"NOT HTTP AT ALL\r\n\r\n",), "Expected HTTP/"),
        ((b"NOT HTTP AT ALL\r\n",), "Expected HTTP/"),  # and no end of head coming
        ((b"NOT ", b"HTTP AT ALL\r\n\r\n"), "Expected HTTP/"),
        ((b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 2\r\n\r\nok",), "header"),
        ((b"HTTP/1.1 200 OK\r\nX: 1\r\n", b"Bad Header\r\n\r\n"), "header"),
        ((b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok",), "ontent-Length"),
    ],
)
async def test_a_malformed_response_head_is_answered_502_never_relayed(
    engine: Engine, events: Events, parts: tuple[bytes, ...], complaint: str
) -> None:
    proxy = await _start(engine, _sends(*parts))
    received = await asyncio.to_thread(_talk, proxy.address.port, [_get(close=True)])
    assert received.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), received[:200]
    assert b"HTTP AT ALL" not in received and b"Bad Header" not in received
    assert b"invalid response head" in received
    down, up = await _records(events, proxy)
    assert down.response.status == 502 and down.response.error is None  # as the client got it
    assert up.response.status is None  # no response came: what did is the parser's complaint
    assert complaint in (up.response.error or "") and "502 sent" in (up.response.error or "")


async def test_a_malformed_head_on_a_kept_leg_is_answered_502_too(
    engine: Engine, events: Events
) -> None:
    proxy = await _start(engine, _hello(b"first"), _sends(b"NOT HTTP AT ALL\r\n\r\n"))
    received = await asyncio.to_thread(
        _talk, proxy.address.port, [_get(b"/1"), _get(b"/2", close=True)]
    )
    first, _, second = received.partition(b"first")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert second.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), received
    down, up = await _records(events, proxy, b"/2")
    assert down.response.status == 502
    assert "Expected HTTP/" in (up.response.error or "")


# -- a body cut short ----------------------------------------------------------------------

_HEAD_100 = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"


async def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()


async def _stall(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3)


async def test_a_body_ended_by_the_close_reaches_the_client_whole_and_recorded_so(
    engine: Engine, events: Events
) -> None:
    # `Transfer-Encoding: gzip` without chunked: the body ends when the
    # upstream closes (RFC 9112 §6.3). The proxy relays it and then closes the
    # client's connection; it recorded both legs "cut short" and kept the client open.
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"

    async def until_close(writer: asyncio.StreamWriter) -> None:
        writer.write(head + b"body-until-the-close")
        await writer.drain()
        writer.close()

    proxy = await _start(engine, until_close)
    received = await asyncio.to_thread(_talk, proxy.address.port, [_get()])
    # Relayed with "Connection: close" added, and then the close (_talk returned).
    assert received.startswith(head[:-2]) and b"\r\nConnection: close\r\n" in received
    assert received.endswith(b"\r\n\r\nbody-until-the-close")
    down, up = await _records(events, proxy)
    assert (down.response.error, up.response.error) == (None, None)
    assert (down.response.body_len, up.response.body_len) == (20, 20)


@pytest.mark.parametrize(
    ("then", "why"),
    [
        (_stall, "the upstream went silent for 0.5 s mid-response"),
        (_close, "the upstream closed the connection mid-response"),
        (_reset, "the upstream reset the connection mid-response"),
    ],
)
async def test_a_body_cut_short_upstream_is_recorded_cut_short_on_the_client_leg(
    engine: Engine, events: Events, then: Answer, why: str
) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(_HEAD_100 + b"x" * 10)
        await writer.drain()
        await asyncio.sleep(0.05)
        await then(writer)

    proxy = await _start(engine, answer, upstream_timeout=0.5)
    received = await asyncio.to_thread(_talk, proxy.address.port, [_get()])
    # What the client saw: the head, the 10 bytes, then the connection closed (curl: 18).
    assert received == _HEAD_100 + b"x" * 10
    down, up = await _records(events, proxy)
    assert (up.response.body_len, down.response.body_len) == (10, 10)
    assert down.response.status == 200 and down.response.body == b"x" * 10
    assert down.response.error == f"the response was cut short: {why}"
    assert up.response.error is not None


async def test_a_chunked_body_that_stops_parsing_closes_the_client_connection(
    engine: Engine, events: Events
) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    proxy = await _start(engine, _sends(head + b"5\r\nhello\r\n", b"ZZ\r\n"))
    received = await asyncio.to_thread(_talk, proxy.address.port, [_get()])
    assert received == head + b"5\r\nhello\r\nZZ\r\n"  # as it came; then the proxy closes
    down, up = await _records(events, proxy)
    assert down.response.body == b"hello"
    assert (down.response.error or "").startswith("the response was cut short: the upstream's body")
    assert up.response.error is not None


# -- a head that never completed -----------------------------------------------------------


@pytest.mark.parametrize(
    ("then", "status", "error"),
    [
        (_stall, 504, "the response head was incomplete after 0.5 s of silence"),
        (_close, 502, "the upstream closed the connection before the response head was complete"),
    ],
)
async def test_half_a_head_is_recorded_as_no_response_not_as_a_clean_200(
    engine: Engine, events: Events, then: Answer, status: int, error: str
) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
        await writer.drain()
        await asyncio.sleep(0.05)
        await then(writer)

    proxy = await _start(engine, answer, upstream_timeout=0.5)
    received = await asyncio.to_thread(_talk, proxy.address.port, [_get(close=True)])
    assert received.startswith(b"HTTP/1.1 %d " % status) and b"200 OK" not in received
    down, up = await _records(events, proxy)
    assert down.response.status == status
    assert up.response.status is None and up.response.headers == ()
    assert (up.response.error or "").startswith(error)
