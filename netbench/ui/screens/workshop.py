"""Workshop mode: a picker of lessons, and one lesson stepped through on real sockets.

`WorkshopPicker` lists the built-in scenarios (name, then title); Enter
opens one in a `WorkshopScreen`, which runs it one socket call per key with
the workshop's `WorkshopRunner` and shows what each call did: the packets
(a ladder), the kernel's sockets, the bytes so far, the explanation and the
checks.

Rules:
- the runner runs on the app's loop, in this screen's worker; its calls are
  async and bounded. One call at a time: a key pressed while a step runs is
  ignored (the heading says "running…"), so steps never interleave;
- each step's screen is shown as soon as its call returns; `drawn` counts
  the frames that showed a step (tests and bench/workshop.py wait on it);
- auto-play takes one step every `AUTO_PLAY_GAP` seconds after the last one
  appeared, until the end or any key;
- nothing from a socket is ever parsed as markup (`workshop_panes` builds
  `Text`); projector mode (`-projector`) hides the small print.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from netbench.protocol.textsafe import visible_text
from netbench.ui.widgets import workshop_panes as panes
from netbench.ui.widgets.footer import KeysFooter
from netbench.ui.widgets.workshop_ladder import StepLadder
from netbench.workshop import builtin_scenarios
from netbench.workshop.results import StepResult
from netbench.workshop.runner import WorkshopRunner
from netbench.workshop.scenario import Scenario

AUTO_PLAY_GAP = 1.5
"""Seconds between two auto-played steps (from the moment the last one appeared)."""

_SIDE_STYLE = {"client": "bold black on cyan", "server": "bold black on green"}


WORKSHOP_HELP = (
    "Each lesson runs real sockets on this machine, one socket call a step, and after "
    "each step shows the packets it caused (captured when netbench may, else inferred "
    "and labelled so), every socket's state and queues as the kernel reports them, and "
    "what happened. space runs the next step, b goes back, r restarts, a plays the rest; "
    "escape or q closes the lesson. `netbench workshop handout NAME OUT.html` writes a "
    "lesson as a page to hand out."
)
"""What F1 says above the keys in the workshop (HelpScreen reads `HELP_INTRO`)."""


class LessonList(OptionList):
    """The built-in lessons, one row each: name, then title."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Open lesson", id="workshop.open"),
    ]


class WorkshopPicker(Screen[None]):
    """Pick a lesson: one row per built-in scenario, its summary under the list."""

    HELP_INTRO = WORKSHOP_HELP

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", id="workshop.picker_close"),
    ]

    DEFAULT_CSS = """
    WorkshopPicker #ws-picker-heading { height: auto; padding: 0 1; background: $panel; }
    WorkshopPicker LessonList { height: 1fr; border: none; }
    WorkshopPicker #ws-picker-summary {
        height: auto; min-height: 5; padding: 0 1; border-top: solid $primary;
    }
    """

    def __init__(
        self, *, capture: bool = False, projector: bool = False, exit_on_close: bool = False
    ) -> None:
        super().__init__()
        self.capture = capture
        self.projector = projector
        self.exit_on_close = exit_on_close
        """Escape quits the app (`netbench workshop`) instead of going back to the screen below."""
        self.scenarios = {scenario.name: scenario for scenario in builtin_scenarios()}

    def compose(self) -> ComposeResult:
        heading = Text("Workshop", style="bold")
        heading.append(
            "  ·  pick a lesson (enter); each runs on real sockets, one call per key", style="dim"
        )
        yield Static(heading, id="ws-picker-heading")
        width = max(len(name) for name in self.scenarios) + 2
        options = []
        for scenario in self.scenarios.values():
            prompt = Text(
                f"{visible_text(scenario.name):<{width}}", style="bold", no_wrap=True, end=""
            )
            prompt.append(visible_text(scenario.title))
            options.append(Option(prompt, id=scenario.name))
        yield LessonList(*options, id="ws-lessons")
        yield Static(id="ws-picker-summary")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.set_class(self.projector, "-projector")
        lessons = self.query_one(LessonList)
        lessons.focus()
        lessons.highlighted = 0

    @on(OptionList.OptionHighlighted)
    def _summary(self, event: OptionList.OptionHighlighted) -> None:
        scenario = self.scenarios.get(event.option.id or "")
        if scenario is not None:
            summary = panes.paragraph(scenario.summary)
            summary.append(f"\n{len(scenario.steps)} steps", style="dim")
            self.query_one("#ws-picker-summary", Static).update(summary)

    @on(OptionList.OptionSelected)
    def _open(self, event: OptionList.OptionSelected) -> None:
        self.open(event.option.id or "")

    def open(self, name: str) -> WorkshopScreen:
        """Open lesson `name` (a built-in) in a step screen above the picker."""
        screen = WorkshopScreen(
            self.scenarios[name], capture=self.capture, projector=self.projector
        )
        self.app.push_screen(screen)
        return screen

    def action_close(self) -> None:
        if self.exit_on_close:
            self.app.exit(0)
        else:
            self.dismiss()


class WorkshopScreen(Screen[None]):
    """One lesson, one socket call per key, and what the kernel did after each."""

    HELP_INTRO = WORKSHOP_HELP

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space,n", "next", "Next step", id="workshop.next"),
        Binding("b", "back", "Previous step", id="workshop.back"),
        Binding("r", "restart", "Restart", id="workshop.restart"),
        Binding("a", "auto_play", "Auto-play", id="workshop.auto_play"),
        Binding("escape,q", "close", "Close", id="workshop.close"),
    ]

    DEFAULT_CSS = """
    WorkshopScreen #ws-heading { height: 2; padding: 0 1; background: $panel; }
    WorkshopScreen #ws-where { width: 1fr; height: 2; text-wrap: nowrap; text-overflow: ellipsis; }
    WorkshopScreen #ws-state { width: auto; height: 2; padding-left: 2; text-align: right; }
    WorkshopScreen #ws-body { height: 1fr; }
    WorkshopScreen .ws-pane {
        height: auto; border-top: solid $primary-darken-1; border-title-color: $text-primary;
        border-title-style: bold;
    }
    WorkshopScreen #ws-explain, WorkshopScreen #ws-sockets, WorkshopScreen #ws-checks,
    WorkshopScreen #ws-bytes { padding: 0 1; }
    /* One line a chunk, cut with an ellipsis: a wrapped preview went on at column 0,
       mid-word, under the lane names. */
    WorkshopScreen #ws-bytes { text-wrap: nowrap; text-overflow: ellipsis; }
    WorkshopScreen #ws-takeaway {
        height: auto; padding: 0 1; border: tall $success; color: $text; text-style: bold;
        display: none;
    }
    WorkshopScreen.-last #ws-takeaway { display: block; }
    WorkshopScreen #ws-capture { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    WorkshopScreen.-intro #ws-ladder, WorkshopScreen.-intro #ws-sockets,
    WorkshopScreen.-intro #ws-checks, WorkshopScreen.-intro #ws-bytes, WorkshopScreen.-intro #ws-capture { display: none; }

    WorkshopScreen.-projector #ws-heading { height: 3; padding: 0 2; text-style: bold; }
    WorkshopScreen.-projector #ws-explain { padding: 1 3; text-style: bold; }
    WorkshopScreen.-projector #ws-sockets { padding: 0 3; }
    WorkshopScreen.-projector #ws-checks { padding: 0 3; }
    WorkshopScreen.-projector #ws-bytes, WorkshopScreen.-projector #ws-capture { display: none; }
    WorkshopScreen.-projector #ws-takeaway { padding: 1 3; }
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        capture: bool = False,
        projector: bool = False,
        exit_on_close: bool = False,
    ) -> None:
        super().__init__()
        self.scenario = scenario
        self.projector = projector
        self.exit_on_close = exit_on_close
        self.runner = WorkshopRunner(scenario, capture=capture)
        self.shown: StepResult | None = None
        """The step on screen (None: the lesson's introduction, before any call)."""
        self.busy = False
        self.auto_playing = False
        self.auto_play_gap = AUTO_PLAY_GAP
        self._auto_timer: Timer | None = None
        self.drawn = 0
        """Frames that showed a step or the introduction, counted after they were painted."""
        self.drawn_at = 0.0
        """`time.perf_counter()` when the last of them was painted."""
        self.failed: str | None = None
        """Why the last key's call failed outside the lesson (a bug or a broken scenario)."""
        self.call_ms = 0.0
        """How long the runner took for the last key (the socket call and the kernel readings)."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="ws-heading"):
            yield Static(id="ws-where")
            yield Static(id="ws-state")
        with VerticalScroll(id="ws-body"):
            yield StepLadder(id="ws-ladder")
            yield Static(id="ws-sockets")
            yield Static(id="ws-explain")
            yield Static(id="ws-takeaway")
            yield Static(id="ws-checks")
            yield Static(id="ws-bytes")
        yield Static(id="ws-capture")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.set_class(self.projector, "-projector")
        self.query_one(StepLadder).projector = self.projector
        titles = {
            "#ws-ladder": "Packets",
            "#ws-sockets": "Sockets: the kernel's view (127.0.0.1)",
            "#ws-explain": "What happened",
            "#ws-checks": "Checks",
            "#ws-bytes": "Bytes so far",
            "#ws-takeaway": "Takeaway",
        }
        for selector, title in titles.items():
            pane = self.query_one(selector)
            pane.add_class("ws-pane")
            pane.border_title = title
        self.show_result(None)
        self._perform(self.runner.start, "starting capture…" if self.runner.want_capture else "")

    async def on_unmount(self) -> None:
        self._stop_auto_play()
        await self.runner.close()

    # -- drawing ------------------------------------------------------------

    def show_result(self, result: StepResult | None, previous: StepResult | None = None) -> None:
        """Show `result` (None: the introduction); `previous` is what changed is measured against."""
        self.shown = result
        self.set_class(result is None, "-intro")
        self.set_class(result is not None and result.takeaway is not None, "-last")
        self._heading(result)
        explain = self.query_one("#ws-explain", Static)
        if result is None:
            explain.border_title = "The lesson"
            explain.update(
                panes.intro(self.scenario.summary, [step.title for step in self.scenario.steps])
            )
        else:
            explain.border_title = "What happened"
            explain.update(panes.explanation(result))
            self.query_one(StepLadder).show(result.packets, result.sockets)
            self.query_one(StepLadder).border_title = self._ladder_title(result)
            sockets = self.query_one("#ws-sockets", Static)
            sockets.update(
                panes.sockets_table(
                    result.sockets,
                    previous.sockets if previous else (),
                    projector=self.projector,
                    width=sockets.content_region.width or None,
                )
            )
            self.query_one("#ws-checks", Static).update(
                panes.checks_text(result, projector=self.projector)
            )
            bytes_pane = self.query_one("#ws-bytes", Static)
            bytes_pane.border_title = panes.chunks_title(result.chunks)
            bytes_pane.update(panes.chunks_text(result.chunks))
            takeaway = result.takeaway or ""
            self.query_one("#ws-takeaway", Static).update(Text(visible_text(takeaway)))
            self.query_one("#ws-capture", Static).update(
                Text(f"packets: {visible_text(result.capture)}")
            )
        self.query_one("#ws-body", VerticalScroll).scroll_home(animate=False)
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        self.drawn_at = time.perf_counter()
        self.drawn += 1

    def _ladder_title(self, result: StepResult) -> str:
        if not result.packets:
            return "Packets: none"
        sources = sorted({packet.source for packet in result.packets})
        return f"Packets this step: {len(result.packets)} ({' and '.join(sources)})"

    def _heading(self, result: StepResult | None, status: str = "") -> None:
        """Left: the lesson, then what this step does; right: where we are, then who acts."""
        where = Text(f"Workshop · {visible_text(self.scenario.name)}", style="bold")
        where.append(f"  {visible_text(self.scenario.title)}", style="dim")
        if status:
            state = Text(status, style="bold yellow")
        elif result is None:
            state = Text(f"{len(self.scenario.steps)} steps · space starts", style="bold")
        else:
            state = Text(f"step {result.index + 1} of {result.total}", style="bold")
        if self.auto_playing:
            state.append("  ▶ auto-play", style="bold magenta")
        if result is None:
            title, side = Text(visible_text(self.scenario.title), style="bold"), Text("")
        else:
            acts = visible_text(result.side)
            style = _SIDE_STYLE.get(acts, "bold reverse")
            title = Text("▌", style=style.replace("black on ", ""))
            title.append(f" {visible_text(result.title)}", style="bold")
            side = Text(f" the {acts} acts ", style=style)
        newline = Text("\n")
        self.query_one("#ws-where", Static).update(Text.assemble(where, newline, title))
        self.query_one("#ws-state", Static).update(Text.assemble(state, newline, side))

    # -- keys ---------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """Any key but `a` stops auto-play (the key then does what it does)."""
        if self.auto_playing and event.key != "a":
            self._stop_auto_play()
            self._heading(self.shown)

    def action_next(self) -> None:
        if self.runner.done:
            self._stop_auto_play()
            self.notify(
                "That was the last step: b goes back, r starts over.", markup=False, timeout=3
            )
            return
        upcoming = self.scenario.steps[len(self.runner.results)]
        self._perform(
            self._next,
            f"running step {len(self.runner.results) + 1}: {visible_text(upcoming.title)}…",
        )

    def action_back(self) -> None:
        if not self.runner.results:
            return
        self._perform(self._back, "going back: the steps before run again on fresh sockets…")

    def action_restart(self) -> None:
        self._stop_auto_play()
        self._perform(self._restart, "starting over…")

    def action_auto_play(self) -> None:
        if self.auto_playing:
            self._stop_auto_play()
        else:
            self.auto_playing = True
            self.action_next()
        self._heading(self.shown)

    def action_close(self) -> None:
        self._stop_auto_play()
        if self.exit_on_close:
            self.app.exit(0)
        else:
            self.dismiss()

    # -- running the lesson -------------------------------------------------

    def _perform(self, call: Callable[[], Awaitable[object]], status: str = "") -> None:
        if self.busy:
            return
        self.busy = True
        if status:
            self._heading(self.shown, status)
        self._run(call)

    @work(group="workshop-step", exit_on_error=False)
    async def _run(self, call: Callable[[], Awaitable[object]]) -> None:
        started = time.perf_counter()
        self.failed = None
        try:
            await call()
        except Exception as error:  # a broken scenario must not take the app down
            self.failed = f"{type(error).__name__}: {error}"
            self.notify(
                f"The step failed: {type(error).__name__}: {error}", severity="error", markup=False
            )
            self._heading(self.shown)
            return
        finally:
            self.call_ms = (time.perf_counter() - started) * 1000
            self.busy = False
        results = self.runner.results
        self.show_result(
            results[-1] if results else None, results[-2] if len(results) > 1 else None
        )
        if self.auto_playing:
            if self.runner.done:
                self._stop_auto_play()
                self._heading(self.shown)
            else:
                self._auto_timer = self.set_timer(self.auto_play_gap, self._auto_next)

    async def _next(self) -> None:
        await self.runner.next()

    async def _back(self) -> None:
        await self.runner.back()

    async def _restart(self) -> None:
        await self.runner.restart()

    def _auto_next(self) -> None:
        self._auto_timer = None
        if self.auto_playing:
            self.action_next()

    def _stop_auto_play(self) -> None:
        self.auto_playing = False
        if self._auto_timer is not None:
            self._auto_timer.stop()
            self._auto_timer = None
