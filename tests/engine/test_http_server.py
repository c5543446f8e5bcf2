"""The HTTP page server and static server, in process, on real sockets."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from recorder import Events

from netbench.engine.clients import http_exchange, open_tcp
from netbench.engine.config import default_config
from netbench.engine.engine import Engine, RunningServer
from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    HttpRequestRecorded,
    HttpResponseRecorded,
)
from netbench.model import Direction, EndReason
from netbench.protocol.images import describe_image, is_complete_jpeg
from netbench.protocol.limits import HttpLimits


def _get(
    server: RunningServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.address.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


async def request(
    server: RunningServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_get, server, method, path, body, headers)


async def raw(
    engine: Engine, server: RunningServer, data: bytes, *, half_close: bool = False
) -> bytes:
    """Send bytes, read until the server closes."""
    client = await open_tcp(engine.ctx, "127.0.0.1", server.address.port)
    client.send(data)
    if half_close:
        client.half_close()
    received = b"".join(await client.recv_all(timeout=3))
    await client.close()
    return received


@pytest.fixture
async def page(engine: Engine) -> RunningServer:
    return await engine.start_server(default_config("http"))


async def test_page_has_the_seed_page_and_image_link(page: RunningServer) -> None:
    status, headers, body = await request(page, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"<title>WOW</title>" in body and b"Wow, Python Server" in body
    assert b'<IMG src="test.jpg"/>' in body and b'name="firstname"' in body
    assert int(headers["Content-Length"]) == len(body)


async def test_image_is_a_real_jpeg(page: RunningServer) -> None:
    status, headers, body = await request(page, "GET", "/test.jpg")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert is_complete_jpeg(body)
    info = describe_image(body)
    assert info is not None and info.width and info.height


async def test_head_sends_headers_only(page: RunningServer) -> None:
    _status, get_headers, get_body = await request(page, "GET", "/test.jpg")
    status, headers, body = await request(page, "HEAD", "/test.jpg")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == get_headers["Content-Length"] == str(len(get_body))


async def test_post_form_is_shown_back_escaped(page: RunningServer) -> None:
    status, _headers, body = await request(
        page,
        "POST",
        "/",
        b"firstname=Ann%3Cscript%3E",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200
    assert b"<p>Ann&lt;script&gt;</p>" in body and b"<script>" not in body


@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST"])
async def test_json_bodies_are_pretty_printed(page: RunningServer, method: str) -> None:
    payload = json.dumps({"name": "Ann", "n": [1, 2]}).encode()
    status, _headers, body = await request(
        page, method, "/", payload, {"Content-Type": "application/json"}
    )
    assert status == 200
    assert b"&quot;name&quot;: &quot;Ann&quot;" in body and f"<h2>{method}:".encode() in body


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/missing", 404),
        ("GET", "/favicon.ico", 404),
        ("POST", "/test.jpg", 405),
        ("OPTIONS", "/", 204),
    ],
)
async def test_status_codes(page: RunningServer, method: str, path: str, status: int) -> None:
    assert (await request(page, method, path))[0] == status


async def test_keep_alive_serves_several_requests_on_one_connection(
    engine: Engine, page: RunningServer, events: Events
) -> None:
    data = await raw(
        engine,
        page,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /test.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        b"HEAD /missing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    assert data.count(b"HTTP/1.1 ") == 3
    first, _second, third = (m.start() for m in re.finditer(rb"HTTP/1\.1 \d{3}", data))
    assert data[first : first + 15] == b"HTTP/1.1 200 OK"
    assert data[third : third + 12] == b"HTTP/1.1 404"
    requests = events.of(HttpRequestRecorded)
    server_requests = [r for r in requests if r.position < 3 and r.request.method]
    assert [r.request.target for r in server_requests][:3] == [b"/", b"/test.jpg", b"/missing"]
    # Pipelined: all three requests arrived in the server's first chunk.
    assert {r.first_chunk for r in server_requests[:3]} == {0}
    responses = events.of(HttpResponseRecorded)
    assert [r.response.status for r in responses][:3] == [200, 200, 404]


async def test_keep_alive_off_closes_after_each_response(engine: Engine, events: Events) -> None:
    server = await engine.start_server(default_config("http", keep_alive=False))
    data = await raw(
        engine, server, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"
    )
    assert data.count(b"HTTP/1.1 200") == 1 and b"Connection: close\r\n" in data
    closed = await events.wait_for(ConnectionClosed, lambda e: e.reason is EndReason.FIN_LOCAL)
    assert closed.bytes_out == len(data)


async def test_malformed_request_gets_400_and_is_recorded(
    engine: Engine, page: RunningServer, events: Events
) -> None:
    garbage = b"\x16\x03\x01\x00\xa5 not http at all\r\n\r\n"
    data = await raw(engine, page, garbage)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    request_event = await events.wait_for(HttpRequestRecorded)
    assert request_event.request.error
    server_conn = request_event.conn_id
    received = [
        c.data for c in events.of(ChunkRecorded, conn_id=server_conn, direction=Direction.IN)
    ]
    assert b"".join(received) == garbage
    closed = await events.wait_for(ConnectionClosed, lambda e: e.conn_id == server_conn)
    assert closed.reason in (EndReason.FIN_LOCAL, EndReason.RST_PEER)


async def test_request_then_half_close_is_still_answered(
    engine: Engine, page: RunningServer
) -> None:
    data = await raw(engine, page, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", half_close=True)
    assert data.startswith(b"HTTP/1.1 200 OK")


async def test_chunked_request_body_is_decoded(
    page: RunningServer, events: Events, engine: Engine
) -> None:
    body = b"5\r\nfirst\r\n4\r\nname\r\n0\r\n\r\n"
    data = await raw(
        engine,
        page,
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + body,
    )
    assert data.startswith(b"HTTP/1.1 200")
    recorded = await events.wait_for(HttpRequestRecorded, lambda e: e.request.method == b"POST")
    assert recorded.request.body == b"firstname"


async def test_one_byte_at_a_time(engine: Engine, page: RunningServer, events: Events) -> None:
    client = await open_tcp(engine.ctx, "127.0.0.1", page.address.port)
    for byte in b"GET /test.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n":
        client.send(bytes([byte]))
        await asyncio.sleep(0)
    data = b"".join(await client.recv_all(timeout=3))
    assert data.startswith(b"HTTP/1.1 200 OK") and is_complete_jpeg(data.split(b"\r\n\r\n", 1)[1])
    recorded = await events.wait_for(
        HttpRequestRecorded, lambda e: e.request.target == b"/test.jpg"
    )
    assert recorded.last_chunk > recorded.first_chunk


async def test_http_client_records_the_exchange(
    engine: Engine, page: RunningServer, events: Events
) -> None:
    request_bytes = b"GET /test.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    result = await http_exchange(engine.ctx, "127.0.0.1", page.address.port, request_bytes)
    assert result.response is not None and result.response.status == 200
    assert is_complete_jpeg(result.response.body)
    mine = events.of(HttpResponseRecorded, conn_id=result.conn_id)
    assert len(mine) == 1 and mine[0].response.status == 200
    sent = events.of(ChunkRecorded, conn_id=result.conn_id, direction=Direction.OUT)
    assert [c.data for c in sent] == [request_bytes]


async def test_live_response_file_reloads_on_save(engine: Engine, tmp_path: Path) -> None:
    reply = tmp_path / "reply.http"
    reply.write_bytes(b"HTTP/1.1 200 OK\nContent-Type: text/plain\n\nfirst\n")
    server = await engine.start_server(default_config("http", response_file=reply))
    status, headers, body = await request(server, "GET", "/anything")
    assert (status, body, headers["Content-Length"]) == (200, b"first\n", "6")
    reply.write_bytes(b"HTTP/1.1 418 I'm a teapot\n\nsecond, longer\n")
    status, _headers, body = await request(server, "GET", "/anything")
    assert (status, body) == (418, b"second, longer\n")


# -- static ------------------------------------------------------------------------------


@pytest.fixture
async def static(engine: Engine, tmp_path: Path) -> RunningServer:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello\n")
    (root / "<b>odd & name.txt").write_bytes(b"x")
    (root / "big.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB: streamed
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    return await engine.start_server(default_config("static", root=root))


async def test_static_serves_files_and_escaped_listing(static: RunningServer) -> None:
    assert await request(static, "GET", "/hello.txt") == (
        200,
        (await request(static, "GET", "/hello.txt"))[1],
        b"hello\n",
    )
    status, _headers, listing = await request(static, "GET", "/")
    assert status == 200 and b"Directory listing for /" in listing
    assert b"&lt;b&gt;odd &amp; name.txt" in listing and b"<b>odd" not in listing


async def test_static_streams_a_big_file_intact(static: RunningServer) -> None:
    status, headers, body = await request(static, "GET", "/big.bin")
    assert status == 200 and body == bytes(range(256)) * 8192
    assert headers["Content-Length"] == str(len(body))


async def test_static_redirects_directories_to_a_local_path(
    static: RunningServer, engine: Engine
) -> None:
    data = await raw(
        engine,
        static,
        b"GET //evil.example/sub HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    assert data.startswith(b"HTTP/1.1 ")
    data = await raw(
        engine, static, b"GET /sub HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert data.startswith(b"HTTP/1.1 301") and b"\r\nLocation: /sub/\r\n" in data


@pytest.mark.parametrize(
    "target", [b"/../secret.txt", b"/%2e%2e/secret.txt", b"/sub/..%2f..%2fsecret.txt", b"/escape"]
)
async def test_static_never_serves_outside_its_root(
    static: RunningServer, engine: Engine, target: bytes
) -> None:
    data = await raw(
        engine,
        static,
        b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    assert data.split(b"\r\n", 1)[0] in (
        b"HTTP/1.1 403 Forbidden",
        b"HTTP/1.1 404 Not Found",
        b"HTTP/1.1 400 Bad Request",
    )
    assert b"secret" not in data.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize(
    ("sent", "target"),
    [
        pytest.param(b"GET /busy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"/busy", id="request"),
        pytest.param(b"", b"", id="nothing-sent"),
    ],
)
async def test_the_503_past_the_connection_cap_is_an_exchange(
    engine: Engine, events: Events, sent: bytes, target: bytes
) -> None:
    limits = replace(HttpLimits(), max_connections=1)
    server = await engine.start_server(default_config("http", limits=limits))
    first = await open_tcp(engine.ctx, "127.0.0.1", server.address.port)
    first.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await events.wait_for(HttpResponseRecorded)  # the first connection is counted
    answer = await raw(engine, server, sent, half_close=True)
    assert answer.startswith(b"HTTP/1.1 503 ")
    response = await events.wait_for(HttpResponseRecorded, lambda e: e.response.status == 503)
    [request] = events.of(HttpRequestRecorded, exchange_id=response.exchange_id)
    assert request.request.target == target
    assert request.request.error is not None and "--max-connections 1" in request.request.error
    await first.close()


async def test_the_client_says_a_reset_response_was_cut_short(
    engine: Engine, page: RunningServer, tmp_path: Path
) -> None:
    response = tmp_path / "cut.http"
    body = "".join(f"line {n:02d} of a long answer\n" for n in range(10))  # 250 bytes
    response.write_text("#!netbench reset-after head+30\nHTTP/1.1 200 OK\n\n" + body)
    engine.set_response(page.server_id, response)
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    result = await http_exchange(engine.ctx, "127.0.0.1", page.address.port, request)
    assert result.response is not None and result.response.status == 200
    assert result.response.body_len == 30
    assert result.response.error == (
        "cut short: the connection was reset after 30 of 250 body bytes"
    )
