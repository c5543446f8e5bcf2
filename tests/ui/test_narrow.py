"""An 80x24 terminal: traffic and the inspector get the whole width, the servers
and clients open as a drawer with S and C, and the key bar starts with Help."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from rich.table import Table
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey
from uikit import Running, started

from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.commands import bound_actions
from netbench.ui.screens.help import HelpScreen
from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.footer import KeysFooter
from netbench.ui.widgets.http_view import HttpView
from netbench.ui.widgets.servers import ServersPanel
from netbench.ui.widgets.traffic import TrafficList


def _drawer_shown(running: Running) -> bool:
    return running.app.screen.query_one("#left").display


def _footer_keys(running: Running) -> list[FooterKey]:
    return list(running.app.screen.query_one(KeysFooter).query(FooterKey))


async def test_traffic_and_the_inspector_take_the_whole_width(narrow: Running) -> None:
    assert not _drawer_shown(narrow)
    traffic = narrow.app.screen.query_one(TrafficList)
    assert traffic.region.width == 80
    assert narrow.app.screen.query_one(BytesView).region.width == 80
    status, _body = await narrow.get("/narrow")
    assert status == 404
    await narrow.until(lambda: "GET /narrow -> 404" in traffic.render_line(0).text)


async def test_s_opens_the_servers_and_escape_closes_them(narrow: Running) -> None:
    panel = narrow.app.screen.query_one(ServersPanel)
    await narrow.pilot.press("S")
    await narrow.until(lambda: _drawer_shown(narrow) and panel.region.width > 0)
    assert panel.has_focus
    row = str(panel.get_row_at(0))
    assert f":{narrow.port}" in row and "running" in row  # the state column, whole
    assert panel.region.right <= 80
    await narrow.pilot.press("escape")
    await narrow.until(lambda: not _drawer_shown(narrow))
    assert narrow.app.screen.query_one(TrafficList).has_focus


async def test_c_opens_the_clients_and_keys_type_into_them(narrow: Running) -> None:
    await narrow.pilot.press("C")
    await narrow.until(lambda: _drawer_shown(narrow))
    await narrow.pilot.press("8")  # a digit: a preset in the servers, text here
    focused = narrow.app.focused
    assert isinstance(focused, Input) and focused.value == "8"
    await narrow.pilot.press("escape")  # leave the input
    await narrow.until(lambda: not _drawer_shown(narrow))


async def test_the_key_bar_starts_with_help_and_quit(narrow: Running) -> None:
    keys = _footer_keys(narrow)
    assert [key.action for key in keys[:2]] == ["help", "quit"]
    assert all(key.region.right <= 80 for key in keys[:2])
    assert keys[0].region.x <= 2  # not pushed right by what the focused widget adds
    await narrow.pilot.press("S")
    await narrow.until(lambda: any(key.action == "add" for key in _footer_keys(narrow)))
    assert [key.action for key in _footer_keys(narrow)[:2]] == ["help", "quit"]


async def test_the_key_bar_shows_whole_keys_only(narrow: Running) -> None:
    """Cut at the edge, `C Clients` read `C Cl`; the keys past the edge are hidden."""
    keys = _footer_keys(narrow)
    palette = next(key for key in keys if key.has_class("-command-palette"))
    shown = [key for key in keys if key.display and key is not palette]
    assert len(shown) >= 6
    assert all(key.region.right <= palette.region.x for key in shown)
    assert not keys[len(shown)].display  # a prefix: none shown after the first hidden
    await narrow.pilot.resize_terminal(160, 50)
    await narrow.until(lambda: all(key.display for key in _footer_keys(narrow)))
    assert "Intercept" in {key.description for key in _footer_keys(narrow)}
    assert _drawer_shown(narrow)  # wide again: the side column is back


async def test_a_wide_screen_keeps_the_side_column(running: Running) -> None:
    assert _drawer_shown(running)
    assert running.app.screen.query_one(TrafficList).has_focus
    assert running.app.screen.query_one(ServersPanel).region.width >= 40


async def test_e_on_an_exchange_opens_the_clients_with_its_request(narrow: Running) -> None:
    status, _body = await narrow.get("/edit-me")
    assert status == 404
    traffic = narrow.app.screen.query_one(TrafficList)
    await narrow.until(lambda: len(traffic.model) >= 1)
    await narrow.pilot.press("end", "enter", "h")
    view = narrow.app.screen.query_one(HttpView)
    await narrow.until(lambda: view.exchange is not None and view.exchange.response is not None)
    view.focus()
    await narrow.pilot.press("e")
    url = narrow.app.screen.query_one("#http-url", Input)
    await narrow.until(lambda: url.has_focus and _drawer_shown(narrow))
    assert url.value.endswith(f":{narrow.port}/edit-me")
    assert url.region.width > 0  # shown, not only focused


async def test_help_fits_the_screen_and_shows_every_id_whole(narrow: Running) -> None:
    await narrow.pilot.press("f1")
    await narrow.until(lambda: isinstance(narrow.app.screen, HelpScreen))
    await narrow.pilot.pause()
    frame = narrow.app.screen.query_one(VerticalScroll)
    assert frame.region.x >= 0 and frame.region.right <= 80
    table = next(s for s in narrow.app.screen.query(Static) if isinstance(s.content, Table))
    console = Console(width=table.content_region.width, record=True, file=io.StringIO())
    console.print(table.content)
    text = console.export_text()
    help_screen = narrow.app.screen
    assert isinstance(help_screen, HelpScreen) and help_screen._under is not None
    ids = [action.binding.id for action in bound_actions(help_screen._under)]
    assert "main.export_har" in ids
    assert [i for i in ids if i and i not in text] == []  # none cut ("servers.restar")


async def test_no_frame_shows_the_drawer_at_startup(tmp_path: Path) -> None:
    """Textual focused the servers panel first, and the first frames showed it."""
    app = NetbenchApp(AppConfig(port=0, session=tmp_path / "first.netbench.sqlite"))
    drawn: list[bool] = []
    display = app._display

    def spy(screen: Screen[object], update: object) -> None:
        if screen.query("#left"):
            drawn.append(screen.query_one("#left").display)
        display(screen, update)  # type: ignore[arg-type]

    app._display = spy  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        await pilot.pause()
    assert drawn and not any(drawn)


async def test_the_drawers_panel_with_the_keys_gets_the_height(narrow: Running) -> None:
    """At 80x24 the TCP client's replies had two lines beside an equal servers panel."""
    screen = narrow.app.screen

    def heights() -> tuple[int, int]:
        return screen.query_one("#servers").region.height, screen.query_one(
            "#clients"
        ).region.height

    await narrow.pilot.press("C")
    await narrow.until(lambda: heights()[1] > 2 * heights()[0] > 0)
    await narrow.pilot.press("escape", "S")
    await narrow.until(lambda: heights()[0] > 2 * heights()[1] > 0)
