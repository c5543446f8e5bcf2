"""q quits, the palette's screenshot lands somewhere that exists, a picked theme is
kept, a keymap id that names no binding is reported (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input
from uikit import Running, started

from netbench.ui.app import AppConfig, NetbenchApp


def _notes(app: NetbenchApp) -> list[str]:
    return [notification.message for notification in app._notifications]


async def test_q_quits_where_no_text_input_has_focus(running: Running) -> None:
    running.app.screen.query_one("#filter", Input).focus()
    await running.pilot.press("q")
    await running.pilot.pause()
    assert running.app.is_running
    assert running.app.screen.query_one("#filter", Input).value == "q"
    await running.pilot.press("escape", "t", "q")
    await running.until(lambda: not running.app.is_running)
    assert running.app.return_code == 0


async def test_the_palette_screenshot_is_saved_under_the_data_dir(
    running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"  # no Downloads folder in it
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    monkeypatch.setenv("NETBENCH_DATA_DIR", str(tmp_path / "data"))
    app = running.app
    command = next(c for c in app.get_system_commands(app.screen) if c.title == "Screenshot")
    command.callback()
    folder = tmp_path / "data" / "screenshots"
    await running.until(lambda: any(note.startswith("Saved to ") for note in _notes(app)))
    saved = list(folder.glob("*.svg"))
    assert len(saved) == 1 and saved[0].read_text().startswith("<svg")
    assert f"Saved to {saved[0]}" in _notes(app)


async def test_a_theme_picked_in_the_palette_is_saved(
    running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETBENCH_CONFIG_DIR", str(tmp_path / "config"))
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text('[keymap]\n"traffic.follow" = "F"\n')
    running.app.theme = "textual-light"  # what the palette's "Change theme" does
    await running.until(lambda: "textual-light" in config.read_text())
    assert config.read_text() == 'theme = "textual-light"\n[keymap]\n"traffic.follow" = "F"\n'
    running.app.theme = "nord"
    await running.until(lambda: 'theme = "nord"\n[keymap]' in config.read_text())


async def test_an_unknown_keymap_id_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[keymap]\n"traffic.folow" = "F"\n"traffic.follow" = "F"\n')
    app = NetbenchApp(AppConfig(port=0, session=tmp_path / "s.netbench.sqlite", keymap_path=config))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app)
        await pilot.pause()
        reports = [note for note in _notes(app) if "Unknown binding id" in note]
        assert reports == ["Unknown binding id(s) in [keymap]: traffic.folow (F1 lists the ids)"]
