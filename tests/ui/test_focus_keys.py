"""Keys act on what is shown selected (issue 15): the Servers panel's cursor,
the Respond editor's letters and its way out, a removal that asks first."""

from __future__ import annotations

from textual.widgets import TextArea
from uikit import Running

from netbench.ui.screens.confirm import ConfirmScreen
from netbench.ui.widgets.footer import KeysFooter
from netbench.ui.widgets.respond import RespondPane
from netbench.ui.widgets.servers import ServersPanel


def _footer_text(running: Running) -> str:
    footer = running.app.screen.query_one(KeysFooter)
    return " ".join(str(child.render()) for child in footer.query("FooterKey"))


async def _static_preset(running: Running) -> tuple[ServersPanel, int]:
    panel = running.app.screen.query_one(ServersPanel)
    await running.pilot.press("S", "5", "enter")  # the preset's form: Enter starts it
    await running.until(lambda: len(panel.rows_by_id) == 2)
    static = list(panel.rows_by_id)[1]
    assert panel.highlighted_server == static
    return panel, static


async def test_arrows_pick_the_server_respond_shows(running: Running) -> None:
    panel, static = await _static_preset(running)
    page = running.app.page_server
    assert page is not None
    await running.pilot.press("r")  # shows the static server's response...
    await running.pilot.pause()
    respond = running.app.screen.query_one(RespondPane)
    assert respond.server_id == static
    assert panel.has_focus  # ...and the cursor stays in the panel
    await running.pilot.press("S", "up")
    await running.until(lambda: panel.highlighted_server == page.server_id)
    assert panel.cursor_row == 0
    assert respond.server_id == page.server_id
    assert page.url in str(respond.query_one(TextArea).border_title)
    await running.pilot.press("r")  # asked again: into the editor
    await running.pilot.pause()
    assert respond.query_one(TextArea).has_focus


async def test_the_panel_shows_when_it_has_the_keys(running: Running) -> None:
    panel = running.app.screen.query_one(ServersPanel)
    unfocused = panel.styles.border_top
    await running.pilot.press("S")
    await running.pilot.pause()
    assert panel.has_focus
    assert panel.styles.border_top != unfocused


async def test_removing_a_server_asks_first(running: Running) -> None:
    panel, static = await _static_preset(running)
    await running.pilot.press("delete")
    await running.until(lambda: isinstance(running.app.screen, ConfirmScreen))
    question = str(running.app.screen.query_one("#confirm-question").render())
    assert "Remove server" in question and "static" in question
    await running.pilot.press("delete", "delete")  # repeated presses answer nothing
    await running.pilot.press("n")
    await running.until(lambda: not isinstance(running.app.screen, ConfirmScreen))
    assert list(panel.rows_by_id)[1] == static
    await running.pilot.press("delete")
    await running.until(lambda: isinstance(running.app.screen, ConfirmScreen))
    await running.pilot.press("y")
    await running.until(lambda: static not in panel.rows_by_id)
    page = running.app.page_server
    assert page is not None and list(panel.rows_by_id) == [page.server_id]


async def test_letters_type_into_the_editor_and_the_footer_says_how_out(
    running: Running,
) -> None:
    await running.pilot.press("r")
    await running.pilot.pause()
    editor = running.app.screen.query_one(RespondPane).query_one(TextArea)
    assert editor.has_focus
    editor.text = ""
    await running.pilot.press("t", "p")
    assert editor.text == "tp" and editor.has_focus
    await running.until(lambda: "Leave editor" in _footer_text(running))
    await running.pilot.press("escape")
    await running.pilot.pause()
    assert not editor.has_focus
