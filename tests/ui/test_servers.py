"""The servers panel on the real app: presets by key, the add form, stop, restart, errors."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from textual.widgets import Input, Select
from uikit import Running

from netbench.engine.engine import ServerState
from netbench.ui.screens.add_server import AddServerScreen, build_config
from netbench.ui.server_row import ServerRow
from netbench.ui.widgets.servers import ServersPanel


def _exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """A plain blocking socket client (run it off the app's loop)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
            return received
        return sock.recv(4096)


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _panel(running: Running) -> ServersPanel:
    panel = running.app.screen.query_one(ServersPanel)
    panel.focus()
    return panel


def _rows(panel: ServersPanel, kind: str) -> list[ServerRow]:
    return [row for row in panel.rows_by_id.values() if row.kind == kind]


def _notes(running: Running) -> list[str]:
    return [notification.message for notification in running.app._notifications]


async def _open_form(running: Running) -> AddServerScreen:
    await running.pilot.press("a")
    await running.until(lambda: isinstance(running.app.screen, AddServerScreen))
    screen = running.app.screen
    assert isinstance(screen, AddServerScreen)
    return screen


async def _fill(running: Running, screen: AddServerScreen, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = screen.query_one(f"#{name}", Input)
        field.focus()
        field.value = ""
        await running.pilot.press(*value)


async def test_the_page_server_is_listed_and_highlighted(running: Running) -> None:
    panel = _panel(running)
    page = running.app.page_server
    assert page is not None
    await running.until(lambda: page.server_id in panel.rows_by_id)
    assert panel.rows_by_id[page.server_id].state == "running"
    assert panel.highlighted_server == page.server_id


async def test_echo_preset_by_key_echoes_and_counts(running: Running) -> None:
    panel = _panel(running)
    await running.pilot.press("2", "enter")  # the preset's form, Start focused
    await running.until(lambda: bool(_rows(panel, "echo")))
    row = _rows(panel, "echo")[0]
    assert row.state == "running"
    assert row.config is not None and (row.config.backlog, row.config.recv_size) == (5, 2048)
    where = "its seed port 5000" if row.address.port == 5000 else "port 5000 is taken"
    assert any(where in note for note in _notes(running))
    assert panel.highlighted_server == row.server_id

    assert await asyncio.to_thread(_exchange, row.address.port, b"ping") == b"ping"
    await running.until(lambda: row.bytes_in == 4 and row.bytes_out == 4 and row.total == 1)
    await running.until(lambda: row.open == 0)


async def test_add_a_reply_server_through_the_form(running: Running) -> None:
    panel = _panel(running)
    screen = await _open_form(running)
    screen.query_one("#kind", Select).value = "reply"
    await running.pilot.pause()
    assert screen.query_one("#row-text").display
    assert screen.query_one("#backlog", Input).value == "3"  # seed 000's listen(3)
    await _fill(running, screen, {"text": "Hi", "port": "0"})
    await running.pilot.press("enter")
    await running.until(lambda: not isinstance(running.app.screen, AddServerScreen))
    rows = _rows(panel, "reply")
    assert len(rows) == 1
    assert rows[0].config is not None and rows[0].config.text == "Hi"
    assert await asyncio.to_thread(_exchange, rows[0].address.port, b"hello") == b"Hi"


async def test_stop_makes_the_port_refuse(running: Running) -> None:
    panel = _panel(running)
    await running.pilot.press("6", "enter")  # time server
    await running.until(lambda: bool(_rows(panel, "time")))
    row = _rows(panel, "time")[0]
    port = row.address.port
    assert not await asyncio.to_thread(_refuses, port)
    await running.pilot.press("s")
    await running.until(lambda: row.state == "stopped")
    assert await asyncio.to_thread(_refuses, port)
    # The address keeps its text and takes the state's colour, on screen too.
    await running.until(lambda: str(panel.get_row(str(row.server_id))[2].style) == "dim")
    engine = running.app.engine
    assert engine is not None and engine.servers[row.server_id].state is ServerState.STOPPED


async def test_restart_listens_again_on_the_same_port(running: Running) -> None:
    panel = _panel(running)
    await running.pilot.press("2", "enter")  # the preset's form, Start focused
    await running.until(lambda: bool(_rows(panel, "echo")))
    old = _rows(panel, "echo")[0]
    await running.pilot.press("s")
    await running.until(lambda: old.state == "stopped")
    await running.pilot.press("R")
    await running.until(lambda: old.server_id not in panel.rows_by_id)
    new = _rows(panel, "echo")[0]
    assert (new.state, new.address.port) == ("running", old.address.port)
    assert list(panel.rows_by_id).index(new.server_id) == 1  # kept its place
    assert await asyncio.to_thread(_exchange, new.address.port, b"again") == b"again"


async def test_remove_stops_and_drops_the_row(running: Running) -> None:
    panel = _panel(running)
    await running.pilot.press("4", "enter")  # prefix echo
    await running.until(lambda: bool(_rows(panel, "prefix-echo")))
    row = _rows(panel, "prefix-echo")[0]
    assert any("closed without a word, as seed 002" in note for note in _notes(running))
    assert await asyncio.to_thread(_exchange, row.address.port, b"x") == b"Echo=>x"
    await running.pilot.press("delete", "y")  # y: the question before removing
    await running.until(lambda: row.server_id not in panel.rows_by_id)
    assert await asyncio.to_thread(_refuses, row.address.port)
    await running.pilot.pause(0.3)  # late events of the removed server add nothing back
    assert row.server_id not in panel.rows_by_id


async def test_a_port_in_use_is_a_notification_not_a_crash(
    running: Running, listening: int
) -> None:
    panel = _panel(running)
    screen = await _open_form(running)
    await _fill(running, screen, {"port": str(listening)})
    await running.pilot.press("enter")
    await running.until(lambda: any("already in use" in note for note in _notes(running)))
    assert running.app.is_running
    assert running.app.screen is screen  # the form stays open to fix the port
    assert "already in use" in str(screen.query_one("#error-port").render())
    await running.pilot.press("escape")
    await running.until(lambda: running.app.screen is not screen)
    assert not _rows(panel, "echo")


async def test_a_markup_host_is_shown_literally(running: Running) -> None:
    _panel(running)
    screen = await _open_form(running)
    await _fill(running, screen, {"host": "[@click=app.quit]x[/]"})
    await running.pilot.press("enter")
    await running.until(lambda: any("[@click=app.quit]x[/]" in n for n in _notes(running)))
    assert running.app.is_running
    assert running.app.screen is screen


async def test_bad_input_is_shown_under_its_field(running: Running) -> None:
    _panel(running)
    screen = await _open_form(running)
    await _fill(running, screen, {"port": "70000", "backlog": "[bold]x[/]"})
    await running.pilot.press("enter")
    await running.pilot.pause()
    assert running.app.screen is screen
    assert "between 0 and 65535" in str(screen.query_one("#error-port").render())
    assert "whole number" in str(screen.query_one("#error-backlog").render())


@pytest.mark.parametrize(
    ("kind", "values", "error_field"),
    [
        ("echo", {"host": ""}, "host"),
        ("echo", {"host": "a b"}, "host"),
        ("echo", {"port": "-1"}, "port"),
        ("echo", {"recv_size": "0"}, "recv_size"),
        ("echo", {"idle_timeout": "nan"}, "idle_timeout"),
        ("echo", {"idle_timeout": "-2"}, "idle_timeout"),
        ("static", {"root": "/no/such/dir"}, "root"),
        ("reply", {"text": ""}, "text"),
        ("nonsense", {}, "form"),
    ],
)
def test_build_config_rejects(kind: str, values: dict[str, str], error_field: str) -> None:
    form = {"host": "127.0.0.1", "port": "0", "backlog": "5", "recv_size": "1024"}
    form |= {"idle_timeout": "0", "text": "Yes", "root": ""}
    config, errors = build_config(kind, form | values)
    assert config is None
    assert error_field in errors


def test_build_config_accepts_a_full_form() -> None:
    config, errors = build_config(
        "http",
        {"host": " 127.0.0.1 ", "port": "8080", "backlog": "7", "recv_size": "10"}
        | {"idle_timeout": "2.5", "text": "ignored", "root": ""},
        keep_alive=False,
    )
    assert errors == {}
    assert config is not None
    assert (config.host, config.port, config.backlog, config.recv_size) == (
        "127.0.0.1",
        8080,
        7,
        10,
    )
    assert (config.idle_timeout, config.keep_alive, config.text) == (2.5, False, "Yes")


@pytest.mark.parametrize(("typed", "message"), [("Time Out", "Time Out"), ("", None)])
def test_build_config_takes_prefix_echo_s_timeout_text(typed: str, message: str | None) -> None:
    form = {"host": "127.0.0.1", "port": "0", "backlog": "5", "recv_size": "1024"}
    form |= {"idle_timeout": "5", "text": "Yes", "root": "", "timeout_message": typed}
    config, errors = build_config("prefix-echo", form)
    assert errors == {} and config is not None
    assert config.timeout_message == message
    assert build_config("echo", form)[0].timeout_message is None  # type: ignore[union-attr]


async def test_the_form_shows_timeout_text_for_prefix_echo_only(running: Running) -> None:
    _panel(running)
    screen = await _open_form(running)
    assert not screen.query_one("#row-timeout_message").display
    screen.query_one("#kind", Select).value = "prefix-echo"
    await running.pilot.pause()
    assert screen.query_one("#row-timeout_message").display


async def test_a_preset_opens_its_form_where_the_port_can_be_chosen(running: Running) -> None:
    panel = _panel(running)
    await running.pilot.press("2")
    await running.until(lambda: isinstance(running.app.screen, AddServerScreen))
    screen = running.app.screen
    assert screen.query_one("#port", Input).value == "5000"  # the seed's port, offered
    assert screen.query_one("#backlog", Input).value == "5"  # and its listen(5)
    assert "Preset 2" in str(screen.query_one("#dialog").border_title)
    chosen = await asyncio.to_thread(_free_port)
    screen.query_one("#port", Input).value = str(chosen)
    await running.pilot.press("ctrl+s")
    await running.until(lambda: bool(_rows(panel, "echo")))
    assert _rows(panel, "echo")[0].address.port == chosen
    assert await asyncio.to_thread(_exchange, chosen, b"mine") == b"mine"


async def test_a_port_typed_in_a_preset_form_that_is_taken_is_said_there(running: Running) -> None:
    _panel(running)
    page = running.app.page_server
    assert page is not None
    await running.pilot.press("2")
    await running.until(lambda: isinstance(running.app.screen, AddServerScreen))
    screen = running.app.screen
    screen.query_one("#port", Input).value = str(page.address.port)  # taken: the page server's
    await running.pilot.press("ctrl+s")
    error = screen.query_one("#error-port")
    await running.until(lambda: "in use" in str(error.render()))
    assert isinstance(running.app.screen, AddServerScreen)  # no silent move to another port


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _screen_lines(running: Running) -> list[str]:
    """What the terminal shows, line by line."""
    return [strip.text for strip in running.app.screen._compositor.render_strips()]


async def test_at_160_columns_every_column_of_the_page_servers_row_is_shown(
    running: Running,
) -> None:
    panel = _panel(running)
    status, _ = await running.get("/")
    assert status == 200
    [page] = _rows(panel, "http")
    await running.until(lambda: page.bytes_out > 0)
    await running.pilot.pause(0.3)  # the panel's counts are redrawn a few times a second
    region = panel.region
    lines = _screen_lines(running)[region.y : region.bottom]
    shown = [line[region.x : region.right] for line in lines]
    header = next(line for line in shown if "address" in line)
    assert "in / out" in header
    [line] = [line for line in shown if f" :{running.port} " in line]
    assert line.rstrip().endswith(f"{page.cells()[-2].plain}  running")  # counts and state whole


async def test_at_120_columns_the_drawer_shows_the_counts_and_the_state_whole(
    running: Running,
) -> None:
    """Beside the traffic at 120 columns the edge cut the state, then the counts;
    there the servers open as a drawer, wide enough for every column."""
    await running.pilot.resize_terminal(120, 40)
    await running.pilot.pause(0.3)
    assert not running.app.screen.query_one("#left").display
    await running.pilot.press("S")
    panel = running.app.screen.query_one(ServersPanel)
    await running.until(lambda: panel.has_focus and panel.region.width > 0)
    await running.pilot.pause()
    [page] = _rows(panel, "http")
    region = panel.region
    lines = _screen_lines(running)[region.y : region.bottom]
    [line] = [line[region.x : region.right] for line in lines if f" :{running.port} " in line]
    assert line.rstrip().endswith(f"{page.cells()[-2].plain}  running")  # counts and state whole
    assert page.cells()[2].style == "green"  # the state colours the address


async def test_the_app_behind_a_proxy_presets_form_says_both_ports_uncut(running: Running) -> None:
    _panel(running)
    await running.pilot.press("8")
    await running.until(lambda: isinstance(running.app.screen, AddServerScreen))
    await running.pilot.pause()
    screen = "\n".join(_screen_lines(running))
    assert "Preset 8: App behind a proxy (seed 004)" in screen
    assert "wsgi on 8001, proxy on 8099, or free ones" in screen
    await running.pilot.press("escape")
