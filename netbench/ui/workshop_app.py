"""`netbench workshop`: the workshop's own app, a picker or one lesson, on a terminal or a projector.

The CLI calls `run_workshop_tui`; the main workstation reaches the same
screens with `w` (or "Workshop" in the command palette), which pushes the
picker on the running app instead.

`--projector` switches to a high-contrast theme and a layout with no small
print: the ladder and the explanation take the screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.theme import Theme

from netbench.ui.commands import palette_commands
from netbench.ui.screens.workshop import WorkshopPicker, WorkshopScreen
from netbench.ui.settings import load_settings
from netbench.workshop.scenario import Scenario

PROJECTOR_THEME = Theme(
    name="netbench-projector",
    primary="#ffd500",
    secondary="#00e5ff",
    accent="#ff9e00",
    warning="#ffd500",
    error="#ff4d4d",
    success="#00ff6a",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1c1c1c",
    dark=True,
)
"""White on black, saturated colours: what survives a washed-out projector."""


class WorkshopApp(App[int]):
    """Workshop mode on its own: the lesson picker, or one lesson."""

    TITLE = "netbench workshop"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("f1,question_mark", "help", "Help", id="app.help"),
    ]

    def __init__(
        self, scenario: Scenario | None = None, *, projector: bool = False, capture: bool = False
    ) -> None:
        super().__init__()
        self.scenario = scenario
        self.projector = projector
        self.capture = capture
        self.register_theme(PROJECTOR_THEME)

    def on_mount(self) -> None:
        settings = load_settings()
        if settings.keymap:
            self.set_keymap(settings.keymap)
        if self.projector:
            self.theme = PROJECTOR_THEME.name
        elif settings.theme in self.available_themes:
            self.theme = settings.theme
        if self.scenario is None:
            picker = WorkshopPicker(
                capture=self.capture, projector=self.projector, exit_on_close=True
            )
            self.push_screen(picker)
        else:
            screen = WorkshopScreen(
                self.scenario, capture=self.capture, projector=self.projector, exit_on_close=True
            )
            self.push_screen(screen)

    async def action_quit(self) -> None:
        self.exit(0)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: Textual's own commands, then the lesson's (Next step, Auto-play...)."""
        yield from super().get_system_commands(screen)
        yield from palette_commands(self, screen)

    def action_help(self) -> None:
        from netbench.ui.screens.help import show_help

        show_help(self)


def run_workshop_tui(scenario: Scenario | None, *, projector: bool, capture: bool) -> int:
    """Run the workshop in the terminal (None: start at the picker); the exit code."""
    app = WorkshopApp(scenario, projector=projector, capture=capture)
    result = app.run()
    if app.return_code:
        return app.return_code
    return result or 0
