"""A real request appears in the traffic list; untrusted text stays inert."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from uikit import Running, started

from netbench.engine.config import default_config
from netbench.model import Endpoint, Role
from netbench.store import TrafficRow
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.widgets.servers import COLUMNS as SERVER_COLUMNS
from netbench.ui.widgets.traffic import TrafficList, column_widths, header_text, row_cells


async def test_a_request_appears_live(running: Running) -> None:
    status, _body = await running.get("/hello")
    assert status == 404
    traffic = running.app.screen.query_one(TrafficList)
    # Live, not read back: the row comes from the hub's batch (how fast is
    # the benchmark's business, not a test's: bench/run.py).
    await running.until(lambda: len(traffic.model) >= 1)
    row = traffic.model.row_at(0, running.app.reader())
    assert row is not None
    assert (row.method, row.target, row.status) == (b"GET", b"/hello", 404)


async def test_markup_in_a_path_is_shown_literally(running: Running) -> None:
    await running.get("/[bold]x[/]")
    await running.get("/[@click=app.quit]x")
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= 2)
    await running.pilot.pause(0.2)
    lines = [traffic.render_line(y).text for y in range(2)]
    assert any("GET /[bold]x[/]" in line for line in lines)
    assert any("GET /[@click=app" in line for line in lines)
    assert running.app.is_running  # the click action did not quit the app


async def test_filter_narrows_the_list(running: Running) -> None:
    for path in ("/alpha", "/beta", "/alphabet"):
        await running.get(path)
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= 3)
    await running.pilot.press("slash", *"alpha", "enter")
    await running.until(lambda: len(traffic.model) == 2)
    targets = {traffic.model.row_at(i, running.app.reader()).target for i in range(2)}  # type: ignore[union-attr]
    assert targets == {b"/alpha", b"/alphabet"}


def _exchange_row(role: Role) -> TrafficRow:
    """An exchange whose request body was 3 bytes and response body 250."""
    peer, local = Endpoint("127.0.0.1", 8000), Endpoint("127.0.0.1", 50000)
    return TrafficRow(
        7, 1, 7, None, role, 0.0, peer, local, b"POST", b"/", 200, 3, 250, 0.001, None, None
    )


def test_the_columns_say_body_where_the_servers_panel_says_bytes() -> None:
    header = header_text(column_widths(120)).split()
    assert header[-6:-2] == ["body", "in", "body", "out"]
    assert "in / out" in SERVER_COLUMNS  # every byte of every connection


def test_a_client_exchange_counts_the_response_body_as_in() -> None:
    widths = column_widths(120)
    cells = [text for text, _style in row_cells(_exchange_row(Role.CLIENT), widths, "")]
    assert cells[4].split() == ["250", "B", "3", "B"]  # received 250, sent 3
    server_cells = [text for text, _style in row_cells(_exchange_row(Role.SERVER), widths, "")]
    assert server_cells[4].split() == ["3", "B", "250", "B"]


@pytest.mark.parametrize(
    ("width", "optional", "cells"),
    [
        (200, {"peer", "body", "ms", "end"}, 111),  # wide: the peer too
        (103, {"body", "ms", "end"}, 37),  # the list on a 160-column terminal
        (70, {"end"}, 30),  # ms, then the body sizes give way
        (60, {"end"}, 20),  # the list on a 100-column terminal
        (40, set(), 18),  # the request never gets fewer than 18
    ],
)
def test_the_request_column_takes_what_the_others_leave(
    width: int, optional: set[str], cells: int
) -> None:
    widths = column_widths(width, server=len("http :8000"))
    assert widths.request == cells
    header = header_text(widths)
    assert set(header.split()) & {"peer", "body", "ms", "end"} == optional
    row = _exchange_row(Role.SERVER)
    text = "".join(cell for cell, _style in row_cells(row, widths, "http :8000"))
    assert len(text.rstrip()) <= max(width, len(header))  # the list cuts the rest
    assert header.index("request") == text.index("POST / -> 200")  # under its header
    if "end" in optional:
        assert header.index(" end") == text.index(" open")
    assert ("127.0.0.1:8000" in text) == ("peer" in optional)


# -- what the columns show ----------------------------------------------------------

LONG_PATH = "/bar-live-market-prices/europe/2026/12/07/closing-auction?venue=xetra"


@pytest.fixture(params=[(160, 50), (100, 30)], ids=["160x50", "100x30"])
async def sized(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Running]:
    app = NetbenchApp(AppConfig(port=0, session=tmp_path / "ui.netbench.sqlite"))
    async with app.run_test(size=request.param) as pilot:
        await started(app)
        await pilot.pause()
        yield Running(app, pilot)


def _row_texts(traffic: TrafficList) -> list[str]:
    return [traffic.render_line(y).text for y in range(len(traffic.model))]


async def _echo_round_trip(port: int, data: bytes) -> None:
    """A raw TCP client, off the app's loop: send, read the echo, close."""

    def call() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(data)
            received = b""
            while len(received) < len(data):
                received += sock.recv(65536)

    await asyncio.to_thread(call)


async def test_the_path_gets_the_room_and_the_server_is_named(sized: Running) -> None:
    await sized.get(LONG_PATH)
    traffic = sized.app.screen.query_one(TrafficList)
    await sized.until(lambda: len(traffic.model) == 1 and "fin-" in _row_texts(traffic)[0])
    row = _row_texts(traffic)[0]
    # 13 characters of the path showed at 160 columns (`GET /bar-live-mar…`).
    shown = 24 if sized.app.size.width >= 160 else 7
    assert f"GET {LONG_PATH[:shown]}" in row
    assert f"http :{sized.port} " in row
    assert "-> 404" in row and "fin-" in row  # the status and the end still show


async def test_a_raw_connection_shows_its_first_bytes_inert(running: Running) -> None:
    assert running.app.engine is not None
    server = await running.app.engine.start_server(default_config("echo", port=0))
    await _echo_round_trip(server.address.port, b"hello\x1b[31m")
    traffic = running.app.screen.query_one(TrafficList)
    echo = f"echo :{server.address.port} "
    await running.until(lambda: any(echo in line for line in _row_texts(traffic)))
    await running.until(lambda: any("hello␛[31m" in line for line in _row_texts(traffic)))
    strips = [traffic.render_line(y) for y in range(len(traffic.model))]
    assert not any("\x1b" in segment.text for strip in strips for segment in strip)
    assert "\x1b" not in "".join(_row_texts(traffic))


async def test_an_http_connection_without_a_request_shows_what_it_sent(running: Running) -> None:
    def call() -> None:
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
            sock.sendall(b"GET /half")  # and goes: no request was read

    await asyncio.to_thread(call)
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: any("GET /half" in line for line in _row_texts(traffic)))
    (line,) = [line for line in _row_texts(traffic) if "GET /half" in line]
    assert f"http :{running.port} GET /half " in line
