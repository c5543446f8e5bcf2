"""Bound beyond loopback, the TUI says so on screen: in the header and on the servers panel."""

from __future__ import annotations

from pathlib import Path

import pytest
from uikit import Running, started

from netbench.engine.config import default_config
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.widgets.servers import ServersPanel

WARNING = "beyond loopback, others can connect"


def _screen_lines(app: NetbenchApp) -> list[str]:
    """What the terminal shows, line by line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def _panel_lines(app: NetbenchApp) -> list[str]:
    """What the terminal shows of the servers panel, its edges included."""
    panel = app.screen.query_one(ServersPanel).region
    return [line[panel.x : panel.right] for line in _screen_lines(app)[panel.y : panel.bottom]]


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
async def test_the_startup_server_beyond_loopback_is_warned_of(
    tmp_path: Path, host: str, warned: bool
) -> None:
    config = AppConfig(host=host, port=0, capture=False, session=tmp_path / "s.netbench.sqlite")
    app = NetbenchApp(config)
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        await pilot.pause()
        assert app.page_server is not None
        lines = _screen_lines(app)
        header = lines[0]
        panel_lines = _panel_lines(app)
        assert f"{app.page_server.url}  ·  recording to" in header
        if warned:
            assert f"⚠ 0.0.0.0: {WARNING}" in header
            assert f"⚠ 0.0.0.0: {WARNING}" in panel_lines[-1]
            notes = [note.message for note in app._notifications]
            assert f"⚠ 0.0.0.0: {WARNING}" in notes
        else:
            assert "⚠" not in header
            assert not any(WARNING in line for line in lines)


async def test_a_server_added_beyond_loopback_warns_until_it_stops(running: Running) -> None:
    panel = running.app.screen.query_one(ServersPanel)
    assert await panel.start(default_config("echo", host="0.0.0.0", port=0)) is None
    await running.pilot.pause()
    assert f"⚠ 0.0.0.0: {WARNING}" in _panel_lines(running.app)[-1]
    panel.focus()
    await running.pilot.press("s")  # the new server is highlighted: stop it
    await running.until(lambda: WARNING not in _panel_lines(running.app)[-1])
