"""The Respond and Intercept tabs, on the real app and real sockets."""

from __future__ import annotations

import asyncio
import socket

import pytest
from textual.widgets import OptionList, Select, Switch, TextArea
from uikit import Running

from netbench.engine.config import default_config
from netbench.protocol.images import is_complete_jpeg
from netbench.ui.widgets.intercept import InterceptPane
from netbench.ui.widgets.respond import PRESETS, RespondPane


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send a request on a plain socket and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        parts = []
        while data := sock.recv(65536):
            parts.append(data)
        return b"".join(parts)


GET_CLOSE = b"GET /held HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


async def open_respond(running: Running) -> TextArea:
    await running.pilot.press("r")
    await running.pilot.pause()
    editor = running.app.screen.query_one(RespondPane).query_one(TextArea)
    assert editor.has_focus
    return editor


async def test_a_typed_response_answers_the_next_request(running: Running) -> None:
    editor = await open_respond(running)
    editor.text = ""
    pilot = running.pilot
    await pilot.press(*"HTTP/1.1 203 Typed", "enter", *"X-Hand: yes", "enter", "enter")
    await pilot.press(*"typed body", "ctrl+s")
    status, body = await running.get("/anything")
    assert (status, body) == (203, b"typed body")
    assert running.app.session_path is not None
    saved = running.app.session_path.with_name(running.app.session_path.name + ".responses")
    assert (saved / "server-1.http").read_text().startswith("HTTP/1.1 203 Typed\n")
    await pilot.press("ctrl+b")  # back to the built-in page
    status, body = await running.get("/")
    assert status == 200 and b"<title>WOW</title>" in body


async def test_the_jpeg_preset_serves_a_valid_jpeg(running: Running) -> None:
    await open_respond(running)
    pane = running.app.screen.query_one(RespondPane)
    labels = [label for label, _raw in PRESETS]
    pane.query_one(Select).value = labels.index("JPEG image")
    await running.pilot.pause()
    assert "body-file" in pane.query_one(TextArea).text
    await running.pilot.press("ctrl+s")
    status, body = await running.get("/any.jpg")
    assert status == 200 and is_complete_jpeg(body)


async def test_auto_content_length_off_sends_the_head_as_typed(running: Running) -> None:
    editor = await open_respond(running)
    pane = running.app.screen.query_one(RespondPane)
    pane.query_one("#respond-auto-length", Switch).value = False
    editor.text = "HTTP/1.1 200 OK\nContent-Length: 3\n\nlonger than three"
    await running.pilot.press("ctrl+s")
    got = await asyncio.to_thread(raw_exchange, running.port, GET_CLOSE)
    assert (
        got == b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nlonger than three"
    )


async def test_rules_are_edited_saved_and_listed(running: Running) -> None:
    editor = await open_respond(running)
    await running.pilot.press("ctrl+r")
    pane = running.app.screen.query_one(RespondPane)
    assert pane.mode == "rules"
    editor.text = (
        '[[rule]]\nmethod = "GET"\npath = "/api/*"\ntext = "HTTP/1.1 202 Rule\\n\\nby rule"\n'
    )
    await running.pilot.press("ctrl+s")
    assert await running.get("/api/x") == (202, b"by rule")
    assert (await running.get("/"))[0] == 200  # no rule: the page
    listing = str(pane.query_one("#respond-rules").render())
    assert "GET /api/*" in listing
    editor.text = "[[rule]\n"  # invalid: not applied
    await running.pilot.press("ctrl+s")
    assert await running.get("/api/y") == (202, b"by rule")


async def start_held(running: Running, request: bytes) -> asyncio.Task[bytes]:
    """Turn intercept on from the UI and send a request that will wait in its queue."""
    await running.pilot.press("i")
    pane = running.app.screen.query_one(InterceptPane)
    await running.pilot.press("o")
    assert pane.query_one(Switch).value
    client = asyncio.create_task(asyncio.to_thread(raw_exchange, running.port, request))
    queue = pane.query_one(OptionList)
    await running.until(lambda: queue.option_count == 1)
    assert "GET /held" in str(queue.get_option_at_index(0).prompt)
    return client


async def test_an_intercepted_request_gets_the_typed_bytes(running: Running) -> None:
    editor = await open_respond(running)
    pane = running.app.screen.query_one(RespondPane)
    pane.query_one("#respond-raw", Switch).value = True
    typed = "HTTP/1.1 200 By hand\nX-Typed: yes\nContent-Length: 5\n\nhello"
    editor.text = typed
    await running.pilot.press("escape")
    client = await start_held(running, GET_CLOSE)
    await asyncio.sleep(0.1)
    assert not client.done()
    await running.pilot.press("a")
    assert await asyncio.wait_for(client, 3) == typed.encode()
    queue = running.app.screen.query_one(InterceptPane).query_one(OptionList)
    await running.until(lambda: queue.option_count == 0)


async def test_reset_from_the_intercept_tab(running: Running) -> None:
    client = await start_held(running, GET_CLOSE)
    await running.pilot.press("x")
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(client, 3)


async def test_let_the_rule_answer_and_turn_intercept_off(running: Running) -> None:
    client = await start_held(running, GET_CLOSE)
    await running.pilot.press("l")
    assert (await asyncio.wait_for(client, 3)).startswith(b"HTTP/1.1 404 ")
    second = asyncio.create_task(asyncio.to_thread(raw_exchange, running.port, GET_CLOSE))
    queue = running.app.screen.query_one(InterceptPane).query_one(OptionList)
    await running.until(lambda: queue.option_count == 1)
    await running.pilot.press("o")  # off: what waits gets the server's answer
    assert (await asyncio.wait_for(second, 3)).startswith(b"HTTP/1.1 404 ")


async def test_each_server_has_its_own_response(running: Running) -> None:
    engine = running.app.engine
    assert engine is not None
    other = await engine.start_server(default_config("http", port=0))
    echo = await engine.start_server(default_config("echo", port=0))
    editor = await open_respond(running)
    pane = running.app.screen.query_one(RespondPane)
    editor.text = "HTTP/1.1 200 OK\n\nfor the page server"  # a draft, kept per server
    pane.server_id = other.server_id
    await running.pilot.pause()
    assert editor.text == PRESETS[0][1]
    editor.text = "HTTP/1.1 200 OK\n\nfor the other server"
    await running.pilot.press("ctrl+s")
    assert (await running.get("/", port=other.address.port))[1] == b"for the other server"
    assert b"WOW" in (await running.get("/"))[1]
    pane.server_id = echo.server_id
    await running.pilot.pause()
    assert editor.read_only
    pane.server_id = None
    await running.pilot.pause()
    assert editor.text == "HTTP/1.1 200 OK\n\nfor the page server"


async def test_the_tab_names_who_answers_each_kind(running: Running) -> None:
    """A proxy's requests are answered by its upstream, not by "the built-in page";
    an echo server takes no response and has no rules to list."""
    engine = running.app.engine
    assert engine is not None
    echo = await engine.start_server(default_config("echo", port=0))
    upstream = f"127.0.0.1:{running.port}"
    proxy = await engine.start_server(default_config("proxy", port=0, upstream=upstream))
    await open_respond(running)
    pane = running.app.screen.query_one(RespondPane)

    def said() -> tuple[str, str]:
        return (
            str(pane.query_one("#respond-status").render()),
            str(pane.query_one("#respond-rules").render()),
        )

    page = running.app.page_server
    assert page is not None
    assert said()[0].startswith(f"the built-in page answers {page.url}")
    pane.server_id = proxy.server_id
    await running.pilot.pause()
    assert said() == (
        f"the server behind the proxy answers {proxy.url} (ctrl+s answers with this text).",
        "No rules: every request gets the response above (ctrl+r writes rules).",
    )
    pane.server_id = echo.server_id
    await running.pilot.pause()
    assert said() == (f"{echo.url} (echo) takes no response: only HTTP servers do.", "")
