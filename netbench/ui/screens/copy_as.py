"""k on an exchange: a small menu of the formats a request can be copied as."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from netbench.protocol.copy_as import FORMATS, Format

KEYS: dict[Format, str] = {"curl": "c", "httpie": "h", "python": "p", "nc": "n"}
"""The key that picks each format in the menu."""

NOTES: dict[Format, str] = {
    "curl": "the recorded bytes (headers in wire order and spelling, the body exact)",
    "httpie": "the same fields; HTTPie orders the headers itself",
    "python": "http.client, the recorded bytes; prints the response",
    "nc": "printf | nc: every byte as recorded, malformed ones too",
}


class CopyAsMenu(ModalScreen[Format | None]):
    """Pick a format: curl, HTTPie, Python (http.client) or the raw nc form."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss(None)", "Cancel", id="copy_as.cancel"),
        *(
            Binding(key, f"pick('{kind}')", f"Copy as {FORMATS[kind][0]}", id=f"copy_as.{kind}")
            for kind, key in KEYS.items()
        ),
    ]

    DEFAULT_CSS = """
    CopyAsMenu { align: center middle; }
    CopyAsMenu > Vertical {
        width: 84; height: auto; border: thick $primary; background: $surface; padding: 0 1;
    }
    CopyAsMenu OptionList { height: auto; border: none; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Copy the request as… (enter, or the key; escape: cancel)", markup=False)
            yield OptionList(
                *(
                    Option(f"{KEYS[kind]}  {label:<22} {NOTES[kind]}", id=kind)
                    for kind, (label, _export) in FORMATS.items()
                ),
                id="copy-as-formats",
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_pick(str(event.option.id))

    def action_pick(self, kind: str) -> None:
        if kind in FORMATS:
            self.dismiss(kind)
