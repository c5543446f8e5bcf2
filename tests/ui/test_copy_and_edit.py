"""The HTTP tab's copy-as menu (k) and edit & resend (e), on real traffic through the pilot."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from textual.widgets import Input, Select, TextArea
from uikit import Running, started

from netbench.protocol.copy_as import FORMATS, export_request
from netbench.protocol.wire_request import split_request
from netbench.store import SessionReader
from netbench.store.exchange_bytes import bodies_beside, request_bytes
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.screens.copy_as import KEYS, CopyAsMenu
from netbench.ui.widgets.clients_http import HttpClientPane
from netbench.ui.widgets.http_view import HttpView
from netbench.ui.widgets.traffic import TrafficList


def request(port: int, body: bytes = b"firstname=Ann") -> bytes:
    return (
        b"POST /?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Padded:   spaced  \r\n"
        b"Content-Length: %d\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
        % (port, len(body))
    ) + body


async def send_raw(port: int, data: bytes) -> None:
    def call() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass

    await asyncio.to_thread(call)


async def open_in_http_tab(running: Running, rows: int = 1) -> HttpView:
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= rows)
    traffic.focus()
    await running.pilot.press("end", "enter", "h")
    view = running.app.screen.query_one(HttpView)
    await running.until(lambda: view.exchange is not None and view.exchange.response is not None)
    view.focus()
    return view


@pytest.mark.parametrize("kind", list(FORMATS))
async def test_each_format_is_copied_from_the_recorded_bytes(running: Running, kind: str) -> None:
    raw = request(running.port)
    await send_raw(running.port, raw)
    await open_in_http_tab(running)
    await running.pilot.press("k")
    await running.until(lambda: isinstance(running.app.screen, CopyAsMenu))
    await running.pilot.press(KEYS[kind])  # type: ignore[index]
    server = f"127.0.0.1:{running.port}"
    expected = export_request(kind, split_request(raw), server, "unused")  # type: ignore[arg-type]
    await running.until(lambda: running.app.clipboard == expected.text)
    assert not isinstance(running.app.screen, CopyAsMenu)


async def test_a_long_body_is_written_beside_the_session(running: Running) -> None:
    body = bytes(range(256)) * 40
    await send_raw(running.port, request(running.port, body))
    view = await open_in_http_tab(running)
    await running.pilot.press("k", "c")
    await running.until(lambda: running.app.clipboard.startswith("curl"))
    assert running.app.session_path is not None
    assert view.exchange is not None
    body_file = bodies_beside(running.app.session_path) / f"exchange-{view.exchange.id}.body"
    assert f"--data-binary @{body_file}" in running.app.clipboard
    assert body_file.read_bytes() == body
    assert any(str(body_file) in n.message for n in running.app._notifications)


async def test_escape_closes_the_menu_without_copying(running: Running) -> None:
    await send_raw(running.port, request(running.port))
    await open_in_http_tab(running)
    await running.pilot.press("k")
    await running.until(lambda: isinstance(running.app.screen, CopyAsMenu))
    await running.pilot.press("escape")
    await running.until(lambda: not isinstance(running.app.screen, CopyAsMenu))
    assert running.app.clipboard == ""


async def test_e_loads_the_request_into_the_http_client_to_edit_and_send(running: Running) -> None:
    raw = request(running.port)
    await send_raw(running.port, raw)
    await open_in_http_tab(running)
    await running.pilot.press("e")
    pane = running.app.screen.query_one(HttpClientPane)
    url = pane.query_one("#http-url", Input)
    await running.until(lambda: url.value.endswith("/?x=1"))
    assert url.value == f"http://127.0.0.1:{running.port}/?x=1"
    assert pane.query_one("#http-method", Select).value == "POST"
    assert pane.query_one("#http-headers", TextArea).text == (
        f"Host: 127.0.0.1:{running.port}\nX-Padded: spaced\n"
        "Content-Type: application/x-www-form-urlencoded"
    )
    assert pane.query_one("#http-body", TextArea).text == "firstname=Ann"

    pane.query_one("#http-body", TextArea).text = "firstname=Bob"  # edited
    pane.action_send()
    await running.until(lambda: pane.result is not None, timeout=10)
    assert pane.result is not None
    assert pane.result.response is not None
    assert b"Bob" in pane.result.response.body
    sent = pane.result.sent
    assert sent.startswith(b"POST /?x=1 HTTP/1.1\r\n")
    assert b"\r\nContent-Length: 13\r\n" in sent  # computed for the edited body
    assert sent.endswith(
        b"X-Padded: spaced\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nfirstname=Bob"
    )


async def test_control_bytes_are_not_put_into_an_editor(running: Running) -> None:
    raw = (
        b"POST /x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Evil: \x1b]0;pwned\x07\r\n"
        b"Content-Length: 3\r\n\r\n\x1b[2J" % running.port
    )
    await send_raw(running.port, raw)
    await open_in_http_tab(running)
    await running.pilot.press("e")
    pane = running.app.screen.query_one(HttpClientPane)
    url = pane.query_one("#http-url", Input)
    await running.until(lambda: url.value.endswith("/x"))
    assert "\x1b" not in pane.query_one("#http-headers", TextArea).text
    assert pane.query_one("#http-body", TextArea).text == ""
    notes = [n.message for n in running.app._notifications]
    assert any("X-Evil holds control bytes" in n for n in notes)
    assert all("\x1b" not in n for n in notes)


async def test_read_only_sessions_point_to_session_replay(tmp_path: Path) -> None:
    session = tmp_path / "s.netbench.sqlite"
    app = NetbenchApp(AppConfig(port=0, capture=False, session=session))
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        running = Running(app, pilot)
        raw = request(running.port)
        await send_raw(running.port, raw)
        await open_in_http_tab(running)
        await running.until(lambda: app.reader() is not None)
    with SessionReader(session) as reader:
        (exchange,) = list(reader.exchanges())
        conn = reader.connection(exchange.conn_id)
        assert conn is not None
        recorded = request_bytes(reader, conn, exchange)
    viewer = NetbenchApp(AppConfig(open_path=session))
    async with viewer.run_test(size=(160, 50)) as pilot:
        await started(viewer)
        await pilot.pause()
        running = Running(viewer, pilot)
        await open_in_http_tab(running)
        await pilot.press("e")
        await running.until(
            lambda: any("netbench session replay" in n.message for n in viewer._notifications)
        )
        await pilot.press("k", "n")  # copying still works read-only
        await running.until(lambda: viewer.clipboard.startswith("printf"))
    assert recorded == raw
