"""The asgi kind, in process, on real sockets: a Starlette site with its lifespan, raw ASGI cases."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from recorder import Events
from test_wsgi import APPS, answered_then_gone, exchange, fetch, raw

from netbench.engine.config import default_config
from netbench.engine.engine import Engine, EngineError, RunningServer
from netbench.events import HttpRequestRecorded


async def start(engine: Engine, app: str, **options: object) -> RunningServer:
    return await engine.start_server(default_config("asgi", app=app, app_dir=APPS, **options))


async def test_starlette_with_its_lifespan(
    engine: Engine, events: Events, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = tmp_path / "shutdown"
    monkeypatch.setenv("STARLETTE_SHUTDOWN_MARK", str(mark))
    server = await start(engine, "starlette_site:app")
    status, _headers, body = await fetch(server, "GET", "/")
    assert (status, body) == (200, b"started by the lifespan")
    status, _headers, body = await fetch(
        server,
        "POST",
        "/greet",
        b'{"name": "Ada"}',
        **{"Content-Type": "application/json"},
    )
    assert (status, body) == (200, b"Hello, Ada!")
    status, headers, body = await fetch(server, "GET", "/numbers")
    assert (status, body) == (200, b"0\n1\n2\n3\n4\n")
    assert headers["transfer-encoding"] == "chunked"
    _request, response = await exchange(events, b"/numbers")
    assert response.response.body == b"0\n1\n2\n3\n4\n"
    await engine.stop_server(server.server_id)
    assert mark.read_text() == "shut down cleanly"


async def test_an_upload_streams_to_the_app(engine: Engine, events: Events) -> None:
    server = await start(engine, "starlette_site:app")
    upload = b"u" * (3 << 20)
    status, _headers, body = await fetch(server, "POST", "/upload", upload)
    assert (status, body) == (200, b"received %d bytes" % len(upload))
    request, _response = await exchange(events, b"/upload")
    assert (request.request.body_len, request.request.body_truncated) == (len(upload), True)


async def test_an_app_that_raises_gets_a_500_naming_it(engine: Engine, events: Events) -> None:
    server = await start(engine, "asgi_cases:raises")  # and no lifespan: it runs without
    status, _headers, body = await fetch(server, "GET", "/x")
    assert status == 500 and b"LookupError: nothing &lt;here&gt;" in body
    _request, response = await exchange(events, b"/x")
    assert "Traceback" in (response.response.error or "")


async def test_an_app_that_never_finishes_its_response(engine: Engine) -> None:
    server = await start(engine, "asgi_cases:no_response")
    reply = await raw(server, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 500")  # started but never sent a body: nothing went out


async def test_a_websocket_upgrade_gets_501_said_plainly(engine: Engine, events: Events) -> None:
    server = await start(engine, "starlette_site:app")
    reply = await raw(
        server,
        b"GET /chat HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 501 Not Implemented\r\n")
    assert b"not WebSocket connections" in reply
    await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == b"/chat")


async def test_a_failed_startup_or_a_wsgi_app_is_one_clear_line(engine: Engine) -> None:
    for spec, says in (
        ("asgi_cases:startup_fails", "lifespan startup failed: the database is down"),
        ("asgi_cases:a_wsgi_app", "is not an ASGI application"),
    ):
        with pytest.raises(EngineError, match=says):
            await start(engine, spec)


async def test_the_client_leaving_mid_body_is_recorded(engine: Engine, events: Events) -> None:
    server = await start(engine, "starlette_site:app")

    def leave() -> None:
        with socket.create_connection(("127.0.0.1", server.address.port), timeout=5) as sock:
            sock.sendall(
                b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nab"
            )

    await asyncio.to_thread(leave)
    request = await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == b"/upload")
    assert "before the request body was complete" in (request.request.error or "")


async def test_an_answer_sent_before_the_client_left_mid_body_is_recorded(
    engine: Engine, events: Events
) -> None:
    # `/` does not read the body: Starlette answers at once, the client reads
    # it and hangs up with most of its body unsent. The answer is recorded.
    server = await start(engine, "starlette_site:app")

    reply = await answered_then_gone(server, b"GET /", b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK")
    request, response = await exchange(events, b"/")
    assert "before the request body was complete" in (request.request.error or "")
    assert response.response.status == 200 and response.first_chunk >= 0
