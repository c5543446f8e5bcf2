"""A yes/no question before a step that cannot be undone (removing a server)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismissed with True only by `y` or the confirm button; any other way out is no.

    The key that asked (delete) does not answer: pressed again, it leaves the
    question open instead of confirming it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 100%; height: auto;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmScreen #confirm-buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmScreen #confirm-buttons Button { margin-left: 1; }
    """

    def __init__(self, question: str, confirm: str) -> None:
        super().__init__()
        self._question = question
        self._confirm = confirm

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._question, markup=False, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button(
                    f"{self._confirm} (y)", variant="error", compact=True, action="answer(True)"
                )
                yield Button(
                    "Cancel (n)", compact=True, id="confirm-cancel", action="answer(False)"
                )

    def on_mount(self) -> None:
        self.query_one("#confirm-cancel", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
