"""Help, palette and remappable keys: the conventions of a mature Textual app."""

from __future__ import annotations

from pathlib import Path

import pytest
from uikit import Running, started

from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.commands import bound_actions
from netbench.ui.screens.help import HelpScreen
from netbench.ui.widgets.traffic import TrafficList


async def test_every_binding_has_an_id_and_a_description(running: Running) -> None:
    actions = list(bound_actions(running.app.screen))
    ids = [action.binding.id for action in actions]
    assert "app.quit" in ids
    assert "traffic.follow" in ids
    assert all(action.binding.description for action in actions)


async def test_f1_opens_help_listing_keys(running: Running) -> None:
    await running.pilot.press("f1")
    await running.until(lambda: isinstance(running.app.screen, HelpScreen))
    await running.pilot.press("escape")
    await running.until(lambda: not isinstance(running.app.screen, HelpScreen))


async def test_palette_holds_netbench_actions(running: Running) -> None:
    titles = [command.title for command in running.app.get_system_commands(running.app.screen)]
    assert "Follow" in titles
    assert "Quit" in titles


async def test_keymap_file_remaps_a_binding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text('[keymap]\n"traffic.follow" = "F"\n')
    monkeypatch.setenv("NETBENCH_CONFIG_DIR", str(tmp_path))
    app = NetbenchApp(AppConfig(port=0, session=tmp_path / "s.netbench.sqlite"))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        traffic = app.screen.query_one(TrafficList)
        assert traffic.follow
        await pilot.press("F")
        await pilot.pause()
        assert not traffic.follow


async def test_a_broken_settings_file_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text("[keymap\n")
    monkeypatch.setenv("NETBENCH_CONFIG_DIR", str(tmp_path))
    app = NetbenchApp(AppConfig(port=0, session=tmp_path / "s.netbench.sqlite"))
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        await pilot.pause()
        assert app.is_running
        assert any("config.toml" in n.message for n in app._notifications)
