"""F1 / ?: every key of the workstation, its binding id, and where to remap it."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from netbench.ui.commands import bound_actions, key_label
from netbench.ui.settings import config_path

INTRO = (
    "netbench records every byte of every connection to its servers and clients. "
    "Open the page server's URL in a browser and watch the requests arrive; select one "
    "(enter) to read its bytes (b), its HTTP (h); change what the server answers (r); "
    "hold requests and answer them by hand (i). ctrl+p opens the command palette."
)
"""One paragraph: the screen wraps it to its width (80 columns cut hard-broken lines)."""


class HelpScreen(ModalScreen[None]):
    """Keys grouped by where they work, with the ids to remap them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,question_mark,q", "dismiss", "Close help", id="help.close"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 96; max-width: 100%; height: 90%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, under: Screen[object] | None = None) -> None:
        super().__init__()
        self._under = under

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, pad_edge=False)
        # Narrow, the words wrap: an id cut short is not one to type.
        table.add_column("where", style="dim", no_wrap=True)
        table.add_column("key", style="bold", max_width=16)  # "a / b / c" wraps at a space
        table.add_column("does", ratio=1, min_width=16)
        table.add_column("binding id", style="dim", no_wrap=True)
        screen = self._under or self.app.screen_stack[0]
        for action in bound_actions(screen):
            table.add_row(
                action.group, key_label(action.keys), action.binding.description, action.binding.id
            )
        with VerticalScroll():
            yield Static(getattr(screen, "HELP_INTRO", INTRO), markup=False)
            yield Static(table)
            yield Static(
                f'\nRemap any key in {config_path()}:\n  [keymap]\n  "traffic.follow" = "F"',
                markup=False,
            )


def show_help(app: App[Any]) -> None:
    """F1 in either app: the keys of the screen on top (once: F1 on the help closes it)."""
    if not isinstance(app.screen, HelpScreen):
        app.push_screen(HelpScreen(app.screen))
