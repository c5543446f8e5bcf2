"""A real request appears in the traffic list; untrusted text stays inert."""

from __future__ import annotations

from uikit import Running

from netbench.model import Endpoint, Role
from netbench.store import TrafficRow
from netbench.ui.widgets.servers import COLUMNS as SERVER_COLUMNS
from netbench.ui.widgets.traffic import TrafficList, header_text, row_cells


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
    header = header_text(120).split()
    assert header[-6:-2] == ["body", "in", "body", "out"]
    assert "bytes in / out" in SERVER_COLUMNS  # every byte of every connection


def test_a_client_exchange_counts_the_response_body_as_in() -> None:
    cells = [text for text, _style in row_cells(_exchange_row(Role.CLIENT))]
    assert cells[4].split() == ["250", "B", "3", "B"]  # received 250, sent 3
    server_cells = [text for text, _style in row_cells(_exchange_row(Role.SERVER))]
    assert server_cells[4].split() == ["3", "B", "250", "B"]
