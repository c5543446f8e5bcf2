"""The proxy kind in process, on real sockets: both legs of each request recorded and linked."""

from __future__ import annotations

import asyncio
import http.client
import socket
import time
from pathlib import Path

import pytest
from recorder import Events
from sessionkit import record

from netbench.engine.config import default_config
from netbench.engine.engine import Engine, RunningServer
from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    HttpRequestRecorded,
    HttpResponseRecorded,
)
from netbench.model import Direction, EndReason, Role
from netbench.store import SessionReader

APPS = Path(__file__).resolve().parents[1] / "apps"


async def proxy_to(
    engine: Engine, upstream: RunningServer | str, **options: object
) -> RunningServer:
    target = upstream if isinstance(upstream, str) else f"127.0.0.1:{upstream.address.port}"
    return await engine.start_server(default_config("proxy", upstream=target, **options))


def _fetch(
    port: int, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


async def fetch(
    server: RunningServer, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_fetch, server.address.port, method, path, body, **headers)


async def legs(events: Events, target: bytes) -> tuple[HttpRequestRecorded, HttpRequestRecorded]:
    """The client leg's and the upstream leg's request for `target`."""
    client = await events.wait_for(
        HttpRequestRecorded, lambda e: e.request.target == target and e.request.error is None
    )
    opened = await events.wait_for(ConnectionOpened, lambda e: e.via == client.conn_id)
    upstream = await events.wait_for(HttpRequestRecorded, lambda e: e.conn_id == opened.conn_id)
    return client, upstream


async def test_the_wsgi_hello_app_behind_the_proxy_shows_two_linked_legs(
    engine: Engine, events: Events, tmp_path: Path
) -> None:
    app = await engine.start_server(default_config("wsgi"))
    proxy = await proxy_to(engine, app)
    status, headers, body = await fetch(proxy, "GET", "/", Connection="keep-alive")
    assert (status, body) == (200, b"Hello World")
    assert "connection" not in headers  # hop-by-hop: the upstream's close is not passed on
    client, upstream = await legs(events, b"/")
    sent = dict((k.lower(), v) for k, v in upstream.request.headers)
    assert sent[b"x-forwarded-for"] == sent[b"x-real-ip"] == b"127.0.0.1"
    assert sent[b"x-forwarded-proto"] == b"http"
    assert sent[b"via"] == b"1.1 netbench"
    assert sent[b"host"] == f"127.0.0.1:{proxy.address.port}".encode()  # the client's, as sent
    assert b"connection" not in sent  # the client's is hop-by-hop; HTTP/1.1 keeps alive
    response = await events.wait_for(
        HttpResponseRecorded, lambda e: e.exchange_id == upstream.exchange_id
    )
    assert response.response.status == 200 and response.response.body == b"Hello World"
    answered = await events.wait_for(
        HttpResponseRecorded, lambda e: e.exchange_id == client.exchange_id
    )
    assert answered.response.body == b"Hello World" and answered.response.body_len == 11
    assert answered.response.header(b"connection") is None  # as the client got it
    # The app server's own connection is the upstream leg seen from the other end.
    app_side = await events.wait_for(
        ConnectionOpened, lambda e: e.server_id == app.server_id and e.role is Role.SERVER
    )
    leg = events.of(ConnectionOpened, conn_id=upstream.conn_id)[0]
    assert (leg.role, leg.server_id, leg.via) == (Role.CLIENT, None, client.conn_id)
    assert app_side.peer == leg.local
    await engine.stop_all()

    path = tmp_path / "s.netbench.sqlite"
    record(path, events.all)
    with SessionReader(path) as reader:
        by_id = {conn.id: conn for conn in reader.connections()}
        assert by_id[upstream.conn_id].via_conn_id == client.conn_id
        assert by_id[client.conn_id].via_conn_id is None
        statuses = {e.conn_id: e.response.status for e in reader.exchanges() if e.response}
        assert statuses[upstream.conn_id] == statuses[client.conn_id] == 200


async def test_flask_behind_the_proxy_gets_the_form_post_and_the_streamed_body(
    engine: Engine, events: Events
) -> None:
    app = await engine.start_server(default_config("wsgi", app="flask_site:app", app_dir=APPS))
    proxy = await proxy_to(engine, app)
    status, _headers, body = await fetch(
        proxy,
        "POST",
        "/hello",
        b"name=ada&lang=python",
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, body) == (200, b"Hello, ada! (2 fields)")
    _client, upstream = await legs(events, b"/hello")
    assert upstream.request.body == b"name=ada&lang=python"
    status, _headers, body = await fetch(proxy, "GET", "/download")
    assert status == 200 and len(body) == 1 << 20 and body.endswith(b"P" * 100)
    status, _headers, body = await fetch(proxy, "GET", "/bug")
    assert status == 500 and b"ZeroDivisionError" in body


async def test_the_http_kind_behind_the_proxy_with_the_host_and_headers_chosen(
    engine: Engine, events: Events
) -> None:
    page = await engine.start_server(default_config("http"))
    proxy = await proxy_to(
        engine, page, proxy_host="upstream", proxy_headers="via", keep_hop_by_hop=False
    )
    status, _headers, body = await fetch(proxy, "GET", "/", **{"X-Forwarded-For": "10.0.0.9"})
    assert status == 200 and b'<IMG src="test.jpg"/>' in body
    _client, upstream = await legs(events, b"/")
    sent = dict((k.lower(), v) for k, v in upstream.request.headers)
    assert sent[b"host"] == f"127.0.0.1:{page.address.port}".encode()
    assert sent[b"x-forwarded-for"] == b"10.0.0.9"  # passed as it came, not extended
    assert b"x-real-ip" not in sent and sent[b"via"] == b"1.1 netbench"


async def test_an_upstream_that_refuses_gets_a_502_recorded_on_both_legs(
    engine: Engine, events: Events
) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound, not listening: connecting is refused
        proxy = await proxy_to(engine, f"127.0.0.1:{port}")
        status, _headers, body = await fetch(proxy, "GET", "/")
    assert status == 502 and b"refused" in body
    client = await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == b"/")
    response = await events.wait_for(
        HttpResponseRecorded, lambda e: e.exchange_id == client.exchange_id
    )
    assert response.response.status == 502
    leg = await events.wait_for(ConnectionOpened, lambda e: e.via == client.conn_id)
    closed = await events.wait_for(ConnectionClosed, lambda e: e.conn_id == leg.conn_id)
    assert closed.reason is EndReason.REFUSED


def _pipelined(port: int, requests: list[bytes]) -> bytes:
    """Send the requests at once on one connection; every byte until the proxy closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"".join(requests))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


async def test_after_a_502_the_client_connection_stays_open_for_its_next_requests(
    engine: Engine, events: Events
) -> None:
    # As nginx: a bodiless request's 502 leaves the connection usable. It used
    # to close, and a pipelined request behind it was recorded "no response".
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        proxy = await proxy_to(engine, f"127.0.0.1:{placeholder.getsockname()[1]}")
        head = b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        received = await asyncio.to_thread(
            _pipelined,
            proxy.address.port,
            [
                b"GET /one" + head + b"\r\n",
                b"HEAD /two" + head + b"\r\n",
                b"GET /three" + head + b"Connection: close\r\n\r\n",
            ],
        )
    assert received.count(b"HTTP/1.1 502 Bad Gateway\r\n") == 3
    assert received.count(b"</html>") == 2  # the HEAD's answer has no body
    for target in (b"/one", b"/two", b"/three"):
        client = await events.wait_for(
            HttpRequestRecorded, lambda e, target=target: e.request.target == target
        )
        response = await events.wait_for(
            HttpResponseRecorded, lambda e, client=client: e.exchange_id == client.exchange_id
        )
        assert response.response.status == 502


async def test_an_upstream_that_resets_gets_a_502(engine: Engine, events: Events) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()

    rude = await asyncio.start_server(reset, "127.0.0.1", 0)
    async with rude:
        port = rude.sockets[0].getsockname()[1]
        proxy = await proxy_to(engine, f"127.0.0.1:{port}")
        status, _headers, body = await fetch(proxy, "GET", "/")
    assert status == 502 and b"reset" in body
    _client, upstream = await legs(events, b"/")
    response = await events.wait_for(
        HttpResponseRecorded, lambda e: e.exchange_id == upstream.exchange_id
    )
    assert response.response.error is not None and "502" in response.response.error


async def test_a_silent_upstream_gets_a_504_after_the_timeout(
    engine: Engine, events: Events
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(5)
        writer.close()

    mute = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with mute:
        port = mute.sockets[0].getsockname()[1]
        proxy = await proxy_to(engine, f"127.0.0.1:{port}", upstream_timeout=0.3)
        status, _headers, body = await fetch(proxy, "GET", "/")
        assert status == 504 and b"0.3 s" in body
        assert b"<title>504 Gateway Timeout</title>" in body
        _client, upstream = await legs(events, b"/")
        closed = await events.wait_for(ConnectionClosed, lambda e: e.conn_id == upstream.conn_id)
        assert closed.reason is EndReason.TIMEOUT and "504" in (closed.detail or "")
        mute.close()


def _two_gets(port: int, pause: float) -> list[bytes]:
    """Two requests on one kept-alive connection, `pause` seconds apart."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        bodies = []
        for _ in range(2):
            conn.request("GET", "/")
            bodies.append(conn.getresponse().read())
            time.sleep(pause)
        return bodies
    finally:
        conn.close()


async def test_a_kept_alive_client_connection_keeps_its_upstream_leg(
    engine: Engine, events: Events
) -> None:
    app = await engine.start_server(default_config("wsgi"))
    proxy = await proxy_to(engine, app)
    bodies = await asyncio.to_thread(_two_gets, proxy.address.port, 0)
    assert bodies == [b"Hello World"] * 2
    client = await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == b"/")
    legs = [e for e in events.of(ConnectionOpened) if e.via == client.conn_id]
    assert len(legs) == 1  # nginx's keepalive upstream: one leg for both requests
    await events.wait_for(
        HttpRequestRecorded, lambda e: e.conn_id == legs[0].conn_id and e.position == 1
    )


async def test_a_leg_the_upstream_closed_while_kept_is_replaced_without_an_error(
    engine: Engine, events: Events
) -> None:
    app = await engine.start_server(default_config("wsgi", idle_timeout=0.2))
    proxy = await proxy_to(engine, app)
    bodies = await asyncio.to_thread(_two_gets, proxy.address.port, 0.6)
    assert bodies == [b"Hello World"] * 2
    client = await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == b"/")
    legs = [e for e in events.of(ConnectionOpened) if e.via == client.conn_id]
    assert len(legs) == 2
    statuses = [e.response.status for e in events.of(HttpResponseRecorded, conn_id=client.conn_id)]
    assert statuses == [200, 200]


def _talk(port: int, requests: bytes) -> bytes:
    """Send `requests` on one connection; every byte received until the proxy closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(requests)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def _sent(events: Events, conn_id: int, direction: Direction) -> bytes:
    return b"".join(c.data for c in events.of(ChunkRecorded, conn_id=conn_id, direction=direction))


@pytest.mark.parametrize(
    "requests",
    [
        [b"/generator"],
        [b"/fast", b"/generator"],  # the second on the leg the first kept (one hand-over)
    ],
)
async def test_an_http_1_0_client_gets_a_streamed_response_decoded_and_ended_by_a_close(
    engine: Engine, events: Events, requests: list[bytes]
) -> None:
    app = await engine.start_server(default_config("wsgi", app="wsgi_cases:cases", app_dir=APPS))
    proxy = await proxy_to(engine, app)
    sent = b"".join(
        b"GET %b HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n" % path
        for path in requests
    )
    received = await asyncio.to_thread(_talk, proxy.address.port, sent)
    last = received.rpartition(b"HTTP/1.1 ")[2]
    head, _, body = last.partition(b"\r\n\r\n")
    # RFC 9112 7.1: no chunked framing to a 1.0 request; the close ends the body.
    assert head.startswith(b"200 OK\r\n") and b"transfer-encoding" not in head.lower()
    assert b"\r\nConnection: close" in head
    assert body == b"part 0\npart 1\npart 2\n"
    opened = await events.wait_for(ConnectionOpened, lambda e: e.server_id == proxy.server_id)
    await events.wait_for(ConnectionClosed, lambda e: e.conn_id == opened.conn_id)
    leg = await events.wait_for(ConnectionOpened, lambda e: e.via == opened.conn_id)
    # Each leg's record is what went over it: decoded to the client, chunked from the app.
    assert _sent(events, opened.conn_id, Direction.OUT) == received
    assert b"7\r\npart 0\n\r\n" in _sent(events, leg.conn_id, Direction.IN)
    down = events.of(HttpResponseRecorded, conn_id=opened.conn_id)[-1].response
    assert down.body == body and down.header(b"transfer-encoding") is None
