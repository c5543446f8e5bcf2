"""The proxy in the TUI: the add-server form's Upstream field, seed 004's two-server preset."""

from __future__ import annotations

from textual.widgets import Input, Select
from uikit import Running

from netbench.ui.screens.add_server import AddServerScreen
from netbench.ui.widgets.servers import ServersPanel
from netbench.ui.widgets.traffic import TrafficList


async def test_the_form_starts_a_reverse_proxy_in_front_of_the_page_server(
    running: Running,
) -> None:
    running.app.screen.query_one(ServersPanel).focus()
    await running.pilot.press("a")
    await running.until(lambda: isinstance(running.app.screen, AddServerScreen))
    screen = running.app.screen
    assert isinstance(screen, AddServerScreen)
    screen.query_one("#kind", Select).value = "proxy"
    await running.pilot.pause()
    assert screen.query_one("#row-upstream").display
    screen.query_one("#upstream", Input).value = f"127.0.0.1:{running.port}"
    screen.query_one("#port", Input).value = "0"
    await running.pilot.press("ctrl+s")
    await running.until(lambda: not isinstance(running.app.screen, AddServerScreen), timeout=10)
    panel = running.app.screen.query_one(ServersPanel)
    (row,) = [row for row in panel.rows_by_id.values() if row.kind == "proxy"]
    status, body = await running.get("/", port=row.address.port)
    assert status == 200 and b'<IMG src="test.jpg"/>' in body


async def test_preset_8_shows_client_proxy_app_and_back_in_the_list(running: Running) -> None:
    panel = running.app.screen.query_one(ServersPanel)
    panel.focus()
    await running.pilot.press("8", "enter")  # the preset's form: Enter starts it
    await running.until(lambda: {"wsgi", "proxy"} <= {r.kind for r in panel.rows_by_id.values()})
    (proxy,) = [row for row in panel.rows_by_id.values() if row.kind == "proxy"]
    (app,) = [row for row in panel.rows_by_id.values() if row.kind == "wsgi"]
    assert proxy.config is not None
    assert proxy.config.value("upstream") == f"127.0.0.1:{app.address.port}"
    assert await running.get("/", port=proxy.address.port) == (200, b"Hello World")
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= 2)
    rows = [traffic.model.row_at(i, running.app.reader()) for i in range(len(traffic.model))]
    client = next(r for r in rows if r and r.server_id == proxy.server_id)
    leg = next(r for r in rows if r and r.via is not None)
    assert leg.via == client.conn_id and rows.index(leg) > rows.index(client)
    assert any("in front of wsgi" in n.message for n in running.app._notifications)
