"""The wsgi kind, in process, on real sockets: PEP 3333 apps and a Flask site, every byte recorded."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import http.client
import socket
import struct
import time
from pathlib import Path

import pytest
from recorder import Events

from netbench.engine.config import default_config
from netbench.engine.engine import Engine, EngineError, RunningServer
from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    HttpRequestRecorded,
    HttpResponseRecorded,
)
from netbench.model import Direction, EndReason

APPS = Path(__file__).resolve().parents[1] / "apps"


async def start(engine: Engine, app: str = "", **options: object) -> RunningServer:
    config = default_config("wsgi", app=app or None, app_dir=APPS, **options)
    return await engine.start_server(config)


def _fetch(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


async def fetch(
    server: RunningServer, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_fetch, server.address.port, method, path, body, headers)


def _raw(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send bytes, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


async def raw(server: RunningServer, data: bytes) -> bytes:
    return await asyncio.to_thread(_raw, server.address.port, data)


async def answered_then_gone(server: RunningServer, request_line: bytes, until: bytes) -> bytes:
    """Promise a 1000-byte body, send two bytes of it, read the answer up to `until`
    and hang up: a client that stops sending once it has its answer."""

    def talk() -> bytes:
        with socket.create_connection(("127.0.0.1", server.address.port), timeout=5) as sock:
            head = request_line + b" HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n"
            sock.sendall(head + b"ab")
            answer = b""
            while until not in answer:
                answer += sock.recv(65536)
            return answer

    return await asyncio.to_thread(talk)


async def exchange(events: Events, path: bytes) -> tuple[HttpRequestRecorded, HttpResponseRecorded]:
    request = await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == path)
    response = await events.wait_for(
        HttpResponseRecorded, lambda e: e.exchange_id == request.exchange_id
    )
    return request, response


async def test_without_an_app_it_serves_the_seed_hello_world(
    engine: Engine, events: Events
) -> None:
    server = await start(engine)
    assert server.url == f"http://127.0.0.1:{server.address.port}/"
    status, headers, body = await fetch(server, "GET", "/")
    assert (status, body, headers["content-length"]) == (200, b"Hello World", "11")
    assert headers["content-type"] == "text/html"
    request, response = await exchange(events, b"/")
    assert response.response.status == 200 and response.response.body == b"Hello World"
    sent = [
        c for c in events.of(ChunkRecorded, conn_id=request.conn_id) if c.direction is Direction.OUT
    ]
    assert b"".join(c.data for c in sent).endswith(b"\r\n\r\nHello World")
    assert [c.seq for c in sent] == [response.first_chunk]  # head and body in one write


async def test_wsgiref_validate_finds_nothing_wrong(engine: Engine) -> None:
    server = await start(engine, "wsgi_cases:validated")
    for method in ("GET", "HEAD", "POST"):
        status, _headers, body = await fetch(
            server, method, "/?q=1", b"x=1" if method == "POST" else None
        )
        assert status == 200, body
        assert body == (b"" if method == "HEAD" else b"Hello World")


async def test_the_environ_is_pep_3333(engine: Engine) -> None:
    server = await start(engine, "wsgi_cases:cases")
    _status, _headers, body = await fetch(
        server,
        "POST",
        "/environ?a=1&b=%20",
        b"x",
        **{"X-Test": "yes", "Content-Type": "text/plain"},
    )
    assert body.decode().splitlines() == [
        "REQUEST_METHOD=POST",
        "PATH_INFO=/environ",
        "QUERY_STRING=a=1&b=%20",
        "SERVER_PROTOCOL=HTTP/1.1",
        "CONTENT_TYPE=text/plain",
        "HTTP_X_TEST=yes",
    ]


async def test_a_chunked_upload_is_decoded_for_the_app(engine: Engine, events: Events) -> None:
    server = await start(engine, "wsgi_cases:cases")
    body = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in (b"one\n", b"two\n", b"three"))
    head = b"POST /lines HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
    reply = await raw(server, head + b"Connection: close\r\n\r\n" + body + b"0\r\n\r\n")
    assert reply.endswith(b"3 lines, last three")
    request, _response = await exchange(events, b"/lines")
    assert request.request.body == b"one\ntwo\nthree"


async def test_write_exc_info_and_framing(engine: Engine) -> None:
    server = await start(engine, "wsgi_cases:cases")
    status, headers, body = await fetch(server, "GET", "/write")
    assert (status, body) == (200, b"written twice then returned")
    assert headers["transfer-encoding"] == "chunked"  # streamed: the length was not known
    status, headers, body = await fetch(server, "GET", "/exc-info")
    assert (status, body) == (503, b"sorry")
    status, headers, body = await fetch(server, "GET", "/length")
    assert (status, body, headers["content-length"]) == (200, b"hello", "5")
    assert "transfer-encoding" not in headers
    reply = await raw(server, b"GET /generator HTTP/1.0\r\n\r\n")  # no chunking in 1.0: close
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"Connection: close" in head and b"Transfer-Encoding" not in head
    assert body == b"part 0\npart 1\npart 2\n"


async def test_head_sends_the_head_only(engine: Engine) -> None:
    server = await start(engine, "wsgi_cases:cases")
    reply = await raw(
        server, b"HEAD /generator HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"\r\n\r\n")


async def test_head_of_an_app_that_drops_its_body_claims_no_length(engine: Engine) -> None:
    # The app sends nothing for HEAD (Werkzeug's way): that says nothing of
    # the body a GET gets, so no `Content-Length: 0` may be made up for it.
    server = await start(engine, "wsgi_cases:cases")
    get = await raw(
        server, b"GET /head-aware HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    assert b"Transfer-Encoding: chunked" in get and b"part 2" in get
    head = await raw(
        server, b"HEAD /head-aware HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert b"Content-Length" not in head


async def test_keep_alive_serves_several_requests_on_one_connection(
    engine: Engine, events: Events
) -> None:
    server = await start(engine, "wsgi_cases:cases")
    host = b"Host: localhost\r\n"
    pipeline = (
        b"GET /fast HTTP/1.1\r\n" + host + b"\r\n"
        b"POST /upload HTTP/1.1\r\n" + host + b"Content-Length: 3\r\n\r\nabc"
        b"GET /generator HTTP/1.1\r\n" + host + b"\r\n"
        b"GET /fast HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n"
    )
    reply = await raw(server, pipeline)
    assert reply.count(b"HTTP/1.1 200 OK") == 4
    # Bodies follow a blank line (a Date header like "01:58:03 GMT" holds "3 " too).
    bodies = [b"\r\n\r\nfast", b"\r\n\r\n3 ", b"part 2"]
    first, upload, generator = (reply.index(body) for body in bodies)
    assert first < upload < generator < reply.rindex(b"\r\n\r\nfast")
    requests = events.of(HttpRequestRecorded)
    assert len({r.conn_id for r in requests}) == 1 and [r.position for r in requests] == [
        0,
        1,
        2,
        3,
    ]
    assert len(events.of(HttpResponseRecorded)) == 4


async def test_close_is_called_also_when_the_client_leaves(engine: Engine) -> None:
    import wsgi_cases  # type: ignore[import-not-found]  # imported by the server from APPS

    server = await start(engine, "wsgi_cases:cases")
    await fetch(server, "GET", "/generator")
    assert "/generator" in wsgi_cases.closed
    wsgi_cases.closed_event.clear()

    def leave_early() -> None:
        with socket.create_connection(("127.0.0.1", server.address.port), timeout=5) as sock:
            sock.sendall(b"GET /endless HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")

    await asyncio.to_thread(leave_early)
    assert await asyncio.to_thread(wsgi_cases.closed_event.wait, 5)
    assert wsgi_cases.closed[-1] == "/endless"


@pytest.mark.both_loops
async def test_a_client_that_leaves_before_the_app_answers_costs_nothing(
    engine: Engine, events: Events, capsys: pytest.CaptureFixture[str]
) -> None:
    # A request without a body goes to the app whole; the one-piece answer
    # comes back to a connection that is gone, and is dropped quietly.
    server = await start(engine, "wsgi_cases:cases")
    import wsgi_cases  # type: ignore[import-not-found]  # imported by the server from APPS

    wsgi_cases.slept.clear()
    with socket.create_connection(("127.0.0.1", server.address.port), timeout=5) as sock:
        sock.sendall(b"GET /sleep?0.3 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == b"/sleep?0.3")
        # A reset, not a half-close (a half-closed client is still answered).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await events.wait_for(ConnectionClosed, lambda e: e.reason is EndReason.RST_PEER)
    assert await asyncio.to_thread(wsgi_cases.slept.wait, 5)  # the app answers a closed connection
    assert (await fetch(server, "GET", "/fast"))[2] == b"fast"
    left, fast = events.of(HttpResponseRecorded)
    assert fast.response.status == 200  # only /fast was answered; /sleep's record says why not
    assert (left.response.status, left.first_chunk) == (None, -1)
    assert left.response.error == "the client reset the connection before it was answered"
    assert "internal error" not in capsys.readouterr().err


async def test_a_slow_apps_answer_is_dated_when_it_is_made(engine: Engine) -> None:
    # RFC 9110 §6.6.1: Date is when the response was generated. It was the
    # request's arrival, seconds early for a slow app.
    server = await start(engine, "wsgi_cases:cases")
    asked = time.time()
    status, headers, _body = await fetch(server, "GET", "/sleep?1.2")
    assert status == 200
    dated = email.utils.parsedate_to_datetime(headers["date"]).timestamp()
    assert dated >= int(asked) + 1


async def test_an_app_that_raises_gets_a_500_naming_it(engine: Engine, events: Events) -> None:
    server = await start(engine, "wsgi_cases:cases")
    status, _headers, body = await fetch(server, "GET", "/raise")
    assert status == 500
    assert b"RuntimeError: boom &lt;b&gt;\xe2\x90\x9b[31m" in body  # escaped, ESC as a symbol
    _request, response = await exchange(events, b"/raise")
    error = response.response.error or ""
    assert error.startswith("the app raised RuntimeError: boom")
    assert "Traceback (most recent call last)" in error and 'wsgi_cases.py", line' in error
    assert (await fetch(server, "GET", "/fast"))[2] == b"fast"  # and it serves on


async def test_a_close_that_raises_system_exit_keeps_the_answer_and_the_thread(
    engine: Engine, events: Events
) -> None:
    # One worker thread: had SystemExit escaped close(), it would have ended the
    # thread (nothing left to run the next request) and never handed the answer over.
    server = await start(engine, "wsgi_cases:cases", threads=1)
    for _ in range(2):
        status, _headers, body = await fetch(server, "GET", "/exit-on-close")
        assert (status, body) == (200, b"answered")
    _request, response = await exchange(events, b"/exit-on-close")
    assert "close() of the app's iterable raised SystemExit(3)" in (response.response.error or "")
    assert (await fetch(server, "GET", "/fast"))[2] == b"fast"


async def test_an_app_that_raises_mid_response_closes_the_connection(
    engine: Engine, events: Events
) -> None:
    server = await start(engine, "wsgi_cases:cases")
    reply = await raw(server, b"GET /raise-late HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert b"first part" in reply and not reply.endswith(b"0\r\n\r\n")  # cut, no last chunk
    _request, response = await exchange(events, b"/raise-late")
    assert "KeyError: 'second part'" in (response.response.error or "")


async def test_a_header_with_a_line_break_is_a_500_not_an_injection(engine: Engine) -> None:
    server = await start(engine, "wsgi_cases:cases")
    status, headers, _body = await fetch(server, "GET", "/bad-header")
    assert status == 500 and "set-cookie" not in headers


async def test_a_blocking_app_does_not_hold_up_other_requests(engine: Engine) -> None:
    server = await start(engine, "wsgi_cases:cases")
    slow = asyncio.ensure_future(fetch(server, "GET", "/sleep", None))
    await asyncio.sleep(0.1)  # the slow one is inside the app now
    started = time.monotonic()
    assert (await fetch(server, "GET", "/fast"))[2] == b"fast"
    assert time.monotonic() - started < 0.5  # not behind the 1 s sleep
    assert (await slow)[2] == b"slept"


async def test_a_rule_answers_before_the_app(engine: Engine, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\npath = "/fast"\ntext = "HTTP/1.1 418 Teapot\\n\\nfrom a rule\\n"\n')
    server = await start(engine, "wsgi_cases:cases", rules_file=rules)
    status, _headers, body = await fetch(server, "GET", "/fast")
    assert (status, body) == (418, b"from a rule\n")
    assert (await fetch(server, "GET", "/generator"))[0] == 200  # other paths: the app


async def test_an_intercepted_upload_reaches_the_app_whole(engine: Engine, events: Events) -> None:
    server = await start(engine, "wsgi_cases:cases")
    queue = engine.set_intercept(server.server_id, True)
    upload = bytes(range(256)) * 12_000  # 3 MB: more than a request record keeps
    answer = asyncio.ensure_future(fetch(server, "POST", "/upload", upload))
    request = await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == b"/upload")
    assert request.request.body_truncated
    assert queue.let_rule_answer(request.exchange_id)
    status, _headers, body = await answer
    assert (status, body) == (200, f"{len(upload)} {hashlib.sha256(upload).hexdigest()}".encode())


async def test_a_bad_app_is_one_clear_line(engine: Engine) -> None:
    for spec, says in (
        ("no_such_module:app", "cannot load no_such_module:app: ModuleNotFoundError"),
        ("wsgi_cases:nothing", "AttributeError"),
        ("wsgi_cases:an_asgi_app", "is an ASGI application"),
    ):
        with pytest.raises(EngineError, match=says) as raised:
            await start(engine, spec)
        assert "\n" not in str(raised.value)


async def test_flask_form_download_and_bug(engine: Engine, events: Events) -> None:
    server = await start(engine, "flask_site:app")
    status, _headers, body = await fetch(
        server,
        "POST",
        "/hello",
        b"name=Ada&x=1",
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, body) == (200, b"Hello, Ada! (2 fields)")
    status, headers, body = await fetch(server, "GET", "/download")
    assert status == 200 and len(body) == 1 << 20 and body[:1] == b"A" and body[-1:] == b"P"
    assert headers.get("transfer-encoding") == "chunked"
    _request, response = await exchange(events, b"/download")
    recorded = response.response
    assert (recorded.body_len, recorded.body_truncated) == (1 << 20, False)
    sent = sum(
        len(c.data)
        for c in events.of(ChunkRecorded, conn_id=response.conn_id)
        if c.direction is Direction.OUT
    )
    assert sent > 1 << 20  # every byte of it recorded, framing included
    status, _headers, body = await fetch(server, "GET", "/bug")
    assert status == 500
    _request, response = await exchange(events, b"/bug")
    assert "ZeroDivisionError" in (response.response.error or "")


async def test_a_body_over_the_limit_after_the_app_answered_closes(
    engine: Engine, events: Events
) -> None:
    from netbench.protocol.limits import HttpLimits

    server = await start(engine, "wsgi_cases:cases", limits=HttpLimits(max_body=10))

    def talk() -> bytes:
        with socket.create_connection(("127.0.0.1", server.address.port), timeout=5) as sock:
            head = b"POST /fast HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            sock.sendall(head + b"3\r\nabc\r\n")
            answer = sock.recv(65536)  # /fast answers without reading the body
            sock.sendall(b"20\r\n" + b"x" * 32 + b"\r\n")  # then the body goes over 10 bytes
            while chunk := sock.recv(65536):
                answer += chunk
            return answer

    reply = await asyncio.to_thread(talk)
    assert reply.startswith(b"HTTP/1.1 200 OK") and reply.endswith(b"fast")  # then closed
    request, response = await exchange(events, b"/fast")
    assert "--max-body" in (request.request.error or "")
    assert response.response.status == 200


async def test_an_answer_sent_before_the_client_left_mid_body_is_recorded(
    engine: Engine, events: Events
) -> None:
    # The client reads the early answer, then hangs up with most of its body
    # unsent: the answer went out whole and must be in the record with it.
    server = await start(engine, "wsgi_cases:cases")

    reply = await answered_then_gone(server, b"POST /fast", b"fast")
    assert reply.startswith(b"HTTP/1.1 200 OK")
    request, response = await exchange(events, b"/fast")
    assert "before the request body was complete" in (request.request.error or "")
    assert request.request.version == "1.1"  # its head was whole: HAR and show say HTTP/1.1
    assert (response.response.status, response.response.body_len) == (200, 4)
    assert response.first_chunk >= 0


async def test_an_app_slower_than_the_upload_gets_it_whole(engine: Engine) -> None:
    server = await start(engine, "wsgi_cases:cases")
    upload = hashlib.sha256(b"slow").digest() * (
        8 << 15
    )  # 8 MiB: well past the 1 MiB the pipe holds
    status, _headers, body = await fetch(server, "POST", "/slow-upload", upload)
    assert (status, body) == (200, f"{len(upload)} {hashlib.sha256(upload).hexdigest()}".encode())
    assert (await fetch(server, "GET", "/fast"))[2] == b"fast"


async def test_expect_100_continue_is_answered_before_the_app_reads_the_body(
    engine: Engine,
) -> None:
    server = await start(engine, "wsgi_cases:cases")
    body = b"b" * 100_000

    def upload() -> tuple[bytes, bytes]:
        with socket.create_connection(("127.0.0.1", server.address.port), timeout=2) as sock:
            sock.sendall(
                b"POST /upload HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
            )
            interim = sock.recv(4096)  # curl would wait 1 s for this, then send anyway
            sock.sendall(body)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
            return interim, reply

    interim, reply = await asyncio.to_thread(upload)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert reply.startswith(b"HTTP/1.1 200 OK")
    assert reply.endswith(f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode())
