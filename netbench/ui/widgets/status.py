"""The status bar: live counters and a requests-per-second sparkline."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static

from netbench.ui.widgets.traffic import human_bytes


class StatusBar(Horizontal):
    """Connections open and total, requests and requests/s, bytes each way."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; }
    StatusBar > #counters { width: auto; padding: 0 1; }
    StatusBar > Sparkline { width: 1fr; height: 1; margin: 0 1; }
    """

    _shown_length = -1

    def compose(self) -> ComposeResult:
        yield Static(id="counters", markup=False)
        yield Sparkline([0.0], summary_function=max, id="rate")

    def on_mount(self) -> None:
        self.set_interval(0.5, self.update_counters)
        self.update_counters()

    def update_counters(self) -> None:
        counters = self.app.hub.counters  # type: ignore[attr-defined]
        text = (
            f"conns {counters.connections_open} open / {counters.connections_total}  "
            f"requests {counters.requests_total} ({counters.requests_per_second:.0f}/s)  "
            f"in {human_bytes(counters.bytes_in)}  out {human_bytes(counters.bytes_out)}"
        )
        # Its width follows the text, and a layout repaints the whole screen:
        # the text is padded to the widest it has been, so it lays out only
        # when it grows past that (counts gain digits rarely).
        resized = len(text) > self._shown_length
        self._shown_length = max(self._shown_length, len(text))
        self.query_one("#counters", Static).update(text.ljust(self._shown_length), layout=resized)
        self.query_one(Sparkline).data = list(counters.history)
