"""The TCP and HTTP clients on the real app, against netbench's own servers."""

from __future__ import annotations

import socket

import pytest
from textual.widgets import Input, Log, Select, TextArea
from uikit import Running

from netbench.engine.clients import HttpResult
from netbench.engine.config import default_config
from netbench.engine.engine import RunningServer
from netbench.model import HttpResponse, Role
from netbench.ui.widgets.clients import ClientsPanel, TcpClientPane
from netbench.ui.widgets.clients_http import (
    HttpClientPane,
    parse_headers,
    raw_lines,
    status_line,
    summary_lines,
)
from netbench.ui.widgets.clients_tcp import chunk_line, encode_data, parse_target
from netbench.ui.widgets.traffic import TrafficList


async def _echo(running: Running) -> RunningServer:
    assert running.app.engine is not None
    return await running.app.engine.start_server(default_config("echo", port=0))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tcp(running: Running) -> TcpClientPane:
    return running.app.screen.query_one(TcpClientPane)


def _log(pane: TcpClientPane | HttpClientPane, selector: str) -> list[str]:
    return list(pane.query_one(selector, Log).lines)


async def _type(running: Running, field: Input, text: str) -> None:
    field.focus()
    field.value = ""
    await running.pilot.press(*text)


# -- TCP ------------------------------------------------------------------------------


async def test_tcp_client_sends_crlf_and_shows_the_echoed_chunk(running: Running) -> None:
    server = await _echo(running)
    pane = _tcp(running)
    target = pane.query_one("#tcp-target", Input)
    await running.until(lambda: target.value == str(server.address))  # the echo server
    await _type(running, pane.query_one("#tcp-data", Input), "hello")
    await running.pilot.press("enter")  # connects, then sends
    await running.until(lambda: "←     7 B  hello␍␊" in _log(pane, "#tcp-log"))
    assert "→     7 B  hello␍␊" in _log(pane, "#tcp-log")
    assert pane.connected
    assert pane.state.startswith(f"connected to {server.address} from :")

    # Both ends are in the traffic list: the client's connection and the server's.
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= 2)
    rows = [traffic.model.row_at(i, running.app.reader()) for i in range(len(traffic.model))]
    assert {row.role for row in rows if row is not None} == {Role.CLIENT, Role.SERVER}

    # Half-close: the echo server answers our FIN with its own and the socket is done.
    await running.pilot.press("ctrl+f")
    await running.until(lambda: pane.state == "closed: FIN from you first")
    assert not pane.connected


async def test_tcp_reset_and_hex(running: Running) -> None:
    server = await _echo(running)
    pane = _tcp(running)
    await running.until(lambda: bool(pane.query_one("#tcp-target", Input).value))
    pane.query_one("#tcp-mode", Select).value = "hex"
    await running.pilot.pause()
    assert pane.query_one("#tcp-line-end", Select).disabled
    # An escape sequence and markup come back inert, as visible symbols.
    payload = b"\x1b[31m[bold]x[/]"
    await _type(running, pane.query_one("#tcp-data", Input), payload.hex(" "))
    await running.pilot.press("enter")
    await running.until(lambda: f"←    {len(payload)} B  ␛[31m[bold]x[/]" in _log(pane, "#tcp-log"))
    await running.pilot.press("ctrl+r")
    await running.until(lambda: pane.state == "closed: RST (you reset it)")
    assert running.app.is_running
    assert server.config.kind == "echo"


async def test_tcp_refused_and_bad_target_are_one_line(running: Running) -> None:
    pane = _tcp(running)
    target = pane.query_one("#tcp-target", Input)
    await _type(running, target, "nonsense")
    await running.pilot.press("ctrl+o")
    await running.until(lambda: any("host:port" in line for line in _log(pane, "#tcp-log")))
    await _type(running, target, f"127.0.0.1:{_free_port()}")
    await running.pilot.press("ctrl+o")
    await running.until(lambda: "connection refused" in pane.state)
    assert any(line.startswith("✗ cannot connect") for line in _log(pane, "#tcp-log"))
    assert not pane.connected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000", ("127.0.0.1", 5000)),
        ("tcp://127.0.0.1:5000", ("127.0.0.1", 5000)),
        ("http://localhost:8000/", ("localhost", 8000)),
        ("[::1]:80", ("::1", 80)),
    ],
)
def test_parse_target(text: str, expected: tuple[str, int]) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["", "host", ":80", "host:0", "host:x", "udp://127.0.0.1:5000"])
def test_parse_target_rejects(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is for the user
        parse_target(text)


def test_encode_and_show_chunks() -> None:
    assert encode_data("hi", "text", b"\r\n") == b"hi\r\n"
    assert encode_data("48 69 0x0a", "hex", b"\r\n") == b"Hi\n"
    with pytest.raises(ValueError, match="pairs of digits"):
        encode_data("4", "hex", b"")
    assert chunk_line("←", b"a\x1b\n") == "←     3 B  a␛␊"
    assert chunk_line("→", b"x" * 5000).endswith("… (+904 B)")


# -- HTTP -----------------------------------------------------------------------------


async def _http(running: Running) -> HttpClientPane:
    panel = running.app.screen.query_one(ClientsPanel)
    panel.tab = "http"
    await running.pilot.pause()
    return running.app.screen.query_one(HttpClientPane)


async def test_http_client_gets_the_page_server(running: Running) -> None:
    pane = await _http(running)
    assert running.app.page_server is not None
    url = pane.query_one("#http-url", Input)
    assert url.value == running.app.page_server.url
    url.focus()
    await running.pilot.press("ctrl+enter")
    await running.until(lambda: pane.result is not None)
    raw = _log(pane, "#http-raw")
    assert raw[0] == "HTTP/1.1 200 OK␍␊"
    assert "␍␊" in raw  # the blank line that ends the head
    assert any("test.jpg" in line for line in raw)
    assert pane.status.startswith("200 OK")
    assert _log(pane, "#http-parsed")[0].startswith("200 OK  HTTP/1.1")


async def test_an_http_client_request_is_one_row_on_each_side(running: Running) -> None:
    """Its connection showed raw from its open and its exchange got a second row."""
    pane = await _http(running)
    pane.query_one("#http-url", Input).focus()
    await running.pilot.press("ctrl+enter")
    await running.until(lambda: pane.result is not None)
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= 2)
    await running.pilot.pause(0.3)  # a second batch: the close
    rows = [traffic.model.row_at(i, None) for i in range(len(traffic.model))]
    assert [(r.role, r.method, r.status) for r in rows if r is not None] == [
        (Role.CLIENT, b"GET", 200),
        (Role.SERVER, b"GET", 200),
    ]


async def test_http_client_head_and_headers(running: Running) -> None:
    pane = await _http(running)
    pane.query_one("#http-method", Select).value = "HEAD"
    pane.query_one("#http-headers", TextArea).text = "X-Test: [bold]1\n\n"
    await running.pilot.pause()
    pane.query_one("#http-url", Input).focus()
    await running.pilot.press("enter")
    await running.until(lambda: pane.result is not None)
    assert pane.result is not None
    assert b"X-Test: [bold]1\r\n" in pane.result.sent
    assert _log(pane, "#http-raw")[-1] == "(no body)"


@pytest.mark.parametrize(
    ("url", "headers", "expected"),
    [
        ("https://example.com/", "", "https is not supported"),
        ("ftp://x/", "", "unsupported scheme"),
        ("http://127.0.0.1:{free}/", "", "connection refused"),
        ("http://127.0.0.1:{free}/", "no colon here", "header line 1"),
    ],
)
async def test_http_client_errors_are_one_line(
    running: Running, url: str, headers: str, expected: str
) -> None:
    pane = await _http(running)
    pane.query_one("#http-headers", TextArea).text = headers
    await _type(running, pane.query_one("#http-url", Input), url.format(free=_free_port()))
    await running.pilot.press("enter")
    await running.until(lambda: expected in pane.status)
    assert pane.status.startswith("✗")
    assert running.app.is_running


def test_raw_lines_describe_binary_and_keep_line_ends() -> None:
    assert raw_lines(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nhi\nthere") == [
        "HTTP/1.1 200 OK␍␊",
        "A: b␍␊",
        "␍␊",
        "hi␊",
        "there",
    ]
    binary = raw_lines(b"HTTP/1.1 200 OK\n\n" + bytes(range(256)))
    assert binary[-1].startswith("(body: binary, 256 B")
    assert raw_lines(b"") == ["(nothing received)"]


def test_parse_headers() -> None:
    assert parse_headers("A: 1\n\nB:2") == ((b"A", b"1"), (b"B", b"2"))
    with pytest.raises(ValueError, match="header line 2"):
        parse_headers("A: 1\nbad")
    with pytest.raises(ValueError, match="Latin-1"):
        parse_headers("A: \u2603")


def test_a_response_cut_short_is_not_shown_as_a_success() -> None:
    error = "cut short: the connection was reset after 30 of 250 body bytes"
    response = HttpResponse(200, b"OK", "1.1", (), b"x" * 30, 30, error=error)
    result = HttpResult(4, 9, b"GET / HTTP/1.1\r\n\r\n", b"", response, 0.003)
    line, outcome = status_line(result)
    assert outcome == "error"
    assert line.startswith("✗ 200 OK") and line.endswith(error)
    assert error in summary_lines(result)


@pytest.mark.parametrize(
    ("why", "says"),
    [
        ("no response within 10 s", "✗ no response within 10 s (10000.0 ms)"),
        ("the connection was reset before any response", "✗ the connection was reset before"),
    ],
)
def test_no_response_says_who_ended_it(why: str, says: str) -> None:
    """The client's own timeout read "no response from the server", as if the server hung up."""
    result = HttpResult(4, 9, b"GET / HTTP/1.1\r\n\r\n", b"", None, 10.0, why, "10 s" in why)
    line, outcome = status_line(result)
    assert outcome == "error" and line.startswith(says)
    assert summary_lines(result) == [f"no response: {why} (10000.0 ms)"]
