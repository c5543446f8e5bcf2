"""The Intercept tab: hold an HTTP server's requests and answer each by hand.

The queue lives in the engine (`Engine.intercepts`); this pane shows it,
refreshed when `InterceptHeld` / `InterceptReleased` events arrive and once
a second for the "waiting N s" timers, and sends the user's decisions back
as engine commands. A request's line comes from the network: it is shown
through the sanitiser, never as markup.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Label, OptionList, Static, Switch
from textual.widgets.option_list import Option

from netbench.engine.engine import EngineError, RunningServer
from netbench.engine.intercept import HeldRequest, InterceptQueue
from netbench.events import InterceptHeld, InterceptReleased
from netbench.protocol.textsafe import visible_latin1, visible_text
from netbench.ui.messages import EventsArrived
from netbench.ui.widgets.respond import RespondPane

if TYPE_CHECKING:
    from netbench.ui.app import NetbenchApp

HELP = "a answer (Respond tab's text) · l let the rule answer · c close (FIN) · x reset (RST)"


def held_line(item: HeldRequest, now: float) -> str:
    """One queue row: id, request line and peer (sanitised), and the wait so far."""
    request = item.request
    target = visible_latin1(request.target)
    if len(target) > 60:
        target = target[:59] + "…"
    method = visible_latin1(request.method) or "?"
    peer = visible_text(str(item.peer))
    return (
        f"#{item.exchange_id:<5} {method} {target}  from {peer}  waiting {item.waited(now):.0f} s"
    )


class InterceptPane(Vertical):
    """Requests held by an HTTP server, oldest first, waiting for a decision."""

    DEFAULT_CSS = """
    InterceptPane { height: 1fr; }
    InterceptPane > #intercept-bar { height: 1; }
    InterceptPane > #intercept-bar > Switch { height: 1; width: auto; border: none; padding: 0; }
    InterceptPane > #intercept-bar > Label { margin-left: 1; }
    InterceptPane > OptionList { height: 1fr; }
    InterceptPane > #intercept-help { height: 1; color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "answer", "Answer", id="intercept.answer"),
        Binding("l", "let_rule", "Let rule answer", id="intercept.let_rule"),
        Binding("c", "close_connection", "Close (FIN)", id="intercept.close"),
        Binding("x", "reset_connection", "Reset (RST)", id="intercept.reset"),
        Binding("o", "toggle_intercept", "Intercept on/off", id="intercept.toggle"),
    ]

    server_id: reactive[int | None] = reactive(None, init=False)
    """The HTTP server whose requests are held; None means the app's page server."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="intercept-bar"):
            yield Switch(False, id="intercept-on", animate=False)
            yield Label(id="intercept-label", markup=False)
        yield OptionList(id="intercept-queue", markup=False)
        yield Static(HELP, id="intercept-help", markup=False)

    def on_mount(self) -> None:
        self._app.hub.register(self)
        self.set_interval(1.0, self.refresh_queue, name="intercept-timers")
        self._sync()

    def on_unmount(self) -> None:
        self._app.hub.unregister(self)

    def watch_server_id(self) -> None:
        self._sync()

    # -- the engine's side ----------------------------------------------------------------

    @property
    def _app(self) -> NetbenchApp:
        return self.app  # type: ignore[return-value]

    @property
    def target(self) -> RunningServer | None:
        """The server shown: `server_id`'s, else the page server (None: read-only)."""
        return self._app.server_or_page(self.server_id)

    @property
    def queue(self) -> InterceptQueue | None:
        running, engine = self.target, self._app.engine
        if running is None or engine is None:
            return None
        return engine.intercepts(running.server_id)

    def on_events_arrived(self, message: EventsArrived) -> None:
        held, released = message.batch.of(InterceptHeld), message.batch.of(InterceptReleased)
        if held or released:
            self.refresh_queue()

    # -- rendering ----------------------------------------------------------------------

    def _sync(self) -> None:
        """Show the current server: its switch state, its label, its queue."""
        running, queue = self.target, self.queue
        switch = self.query_one(Switch)
        label = self.query_one("#intercept-label", Label)
        switch.disabled = queue is None
        with switch.prevent(Switch.Changed):
            switch.value = queue is not None and queue.on
        if running is None:
            label.update("Read-only session: nothing to intercept.")
        elif queue is None:
            label.update(
                f"{visible_text(running.url)} is not an HTTP server: nothing to intercept."
            )
        else:
            state = "on: requests wait here" if queue.on else "off (o turns it on)"
            label.update(f"intercept requests on {visible_text(running.url)} · {state}")
        self.refresh_queue()

    def refresh_queue(self) -> None:
        """Rebuild the rows, or just their timers when the same requests wait."""
        queue = self.queue
        items = queue.items() if queue is not None else []
        options = self.query_one(OptionList)
        now = time.monotonic()
        ids = [str(item.exchange_id) for item in items]
        shown = [options.get_option_at_index(i).id for i in range(options.option_count)]
        if ids == shown:
            for item in items:
                options.replace_option_prompt(str(item.exchange_id), held_line(item, now))
            return
        keep = options.highlighted_option.id if options.highlighted_option else None
        options.clear_options()
        options.add_options([Option(held_line(i, now), id=str(i.exchange_id)) for i in items])
        if items:
            options.highlighted = ids.index(keep) if keep in ids else 0

    def _chosen(self) -> tuple[InterceptQueue, int] | None:
        """The highlighted request (or the oldest), with its queue."""
        queue = self.queue
        if queue is None or len(queue) == 0:
            self.notify("No request is waiting.", severity="warning")
            return None
        option = self.query_one(OptionList).highlighted_option
        if option is not None and option.id is not None and queue.get(int(option.id)):
            return queue, int(option.id)
        return queue, queue.items()[0].exchange_id

    def _done(self, released: bool) -> None:
        if not released:
            self.notify("That request is no longer waiting.", severity="warning")
        self.refresh_queue()

    # -- actions ---------------------------------------------------------------------------

    def action_answer(self) -> None:
        """Answer the request with the Respond tab's text (its raw and length switches too)."""
        chosen = self._chosen()
        if chosen is None:
            return
        panes = self.screen.query(RespondPane)
        if not panes:
            self.notify("There is no Respond editor to answer from.", severity="error")
            return
        draft = panes.first().draft()
        queue, exchange_id = chosen
        self._done(
            queue.answer(
                exchange_id, draft.raw, raw_mode=draft.raw_mode, fix_length=draft.fix_length
            )
        )

    def action_let_rule(self) -> None:
        """Send what the server would have answered without intercept."""
        if chosen := self._chosen():
            self._done(chosen[0].let_rule_answer(chosen[1]))

    def action_close_connection(self) -> None:
        """Close the request's connection with FIN, no response."""
        if chosen := self._chosen():
            self._done(chosen[0].close(chosen[1]))

    def action_reset_connection(self) -> None:
        """Abort the request's connection with RST, no response."""
        if chosen := self._chosen():
            self._done(chosen[0].reset(chosen[1]))

    def action_toggle_intercept(self) -> None:
        """Turn intercept on or off for this server."""
        switch = self.query_one(Switch)
        if not switch.disabled:
            switch.toggle()

    @on(Switch.Changed, "#intercept-on")
    def _switched(self, event: Switch.Changed) -> None:
        running, engine = self.target, self._app.engine
        if running is None or engine is None:
            return
        try:
            engine.set_intercept(running.server_id, event.value)
        except EngineError as error:
            self.notify(str(error), severity="error", markup=False)
        self._sync()
