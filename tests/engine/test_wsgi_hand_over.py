"""What the wsgi kind's one hand-over must let go of once a request is answered: the
answer's bytes, an intercepted upload's spool file, and an app still running when
netbench exits (its iterable is closed, its thread freed)."""

from __future__ import annotations

import asyncio
import gc
import http.client
import os
import socket
import time
import tracemalloc
from types import ModuleType

from recorder import Events
from test_wsgi import fetch, start

from netbench.engine.engine import Engine
from netbench.events import HttpRequestRecorded


def _deleted_temp_files() -> set[str]:
    """This process's open files that were deleted under /tmp (spooled bodies)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/tmp") and target.endswith("(deleted)"):
            found.add(target)
    return found


def _post(port: int, path: str, body: bytes) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body)
        return conn.getresponse().read()
    finally:
        conn.close()


async def test_an_intercepted_uploads_spool_file_is_closed_once_answered(
    engine: Engine, events: Events
) -> None:
    server = await start(engine, "wsgi_cases:cases")
    queue = engine.set_intercept(server.server_id, True)
    before = _deleted_temp_files()
    upload = b"z" * (3 << 20)  # past the spool's memory part: a temporary file
    answer = asyncio.ensure_future(asyncio.to_thread(_post, server.address.port, "/upload", upload))
    held = await events.wait_for(HttpRequestRecorded, lambda e: e.request.target == b"/upload")
    assert queue.let_rule_answer(held.exchange_id)  # let through to the app, whole
    assert (await answer).startswith(b"%d " % len(upload))
    gc.collect()
    assert _deleted_temp_files() - before == set()


async def test_a_one_piece_answer_is_not_held_once_sent(engine: Engine) -> None:
    server = await start(engine, "wsgi_cases:cases")
    tracemalloc.start()
    try:
        status, _headers, body = await fetch(server, "GET", "/huge")
        assert status == 200 and len(body) == 64 << 20
        del body
        # The app's thread lets go once it is idle again, just after the answer went.
        deadline = time.monotonic() + 3
        while (held := tracemalloc.get_traced_memory()[0]) > 16 << 20:
            if time.monotonic() > deadline:
                break
            gc.collect()
            await asyncio.sleep(0.02)
    finally:
        tracemalloc.stop()
    assert held < 16 << 20, f"{held >> 20} MiB still held after the exchange"


def test_an_app_still_running_when_netbench_exits_is_closed() -> None:
    async def serve_and_exit() -> ModuleType:
        engine = Engine()
        server = await start(engine, "wsgi_cases:cases")
        import wsgi_cases  # type: ignore[import-not-found]  # imported by the server from APPS

        wsgi_cases.gate.clear()
        wsgi_cases.gated.clear()
        with socket.create_connection(("127.0.0.1", server.address.port), timeout=5) as sock:
            sock.sendall(b"GET /gated-endless HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert await asyncio.to_thread(wsgi_cases.gated.wait, 5)
            await engine.stop_all()  # netbench exits while the app is in its thread
        return wsgi_cases

    wsgi_cases = asyncio.run(serve_and_exit())  # the loop is closed, as once netbench exited
    wsgi_cases.gate.set()  # the app answers: an endless generator no one will read
    deadline = time.monotonic() + 5
    while "/gated-endless" not in wsgi_cases.closed and time.monotonic() < deadline:
        time.sleep(0.02)  # a thread of the closed engine's: no loop to await it on
    assert "/gated-endless" in wsgi_cases.closed  # PEP 3333: close() is always called
