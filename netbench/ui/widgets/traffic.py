"""The traffic list: every connection and exchange, virtual, as it happens.

It renders only the rows on screen (the Line API): a million rows cost a
key array, not a million widgets. Rows come from `TrafficModel`, which
reads old ones back from the session file a page at a time; a row a damaged
file cannot give back is shown in its place as unreadable, with why.
"""

from __future__ import annotations

import asyncio
import time
from codecs import getincrementaldecoder
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from netbench.model import EndReason, Role
from netbench.protocol.textsafe import visible_latin1, visible_text
from netbench.ui.messages import EventsArrived, Selection, SelectionChanged
from netbench.ui.traffic_model import SERVER_HEADER, TrafficModel

if TYPE_CHECKING:
    from netbench.store import SessionReader, TrafficRow

_TIME, _CONN, _BODIES, _MS, _END = 13, 6, 18, 8, 9
"""Cells of the other columns: time, #, body in and out, ms, end (with their gaps)."""
_PEER = 23
_MIN_REQUEST = 18
"""On a narrow list ms, then the body sizes, then the end go before the request
gets fewer cells than this."""
_ROOMY = 60
"""The request column keeps this many cells before the peer column is shown."""


@dataclass(frozen=True, slots=True)
class ColumnWidths:
    """The columns that change with the width (computed on resize, not per row);
    a width of 0 is a column not shown."""

    request: int
    server: int
    peer: int = 0
    bodies: int = _BODIES
    ms: int = _MS
    end: int = _END


def column_widths(width: int, server: int = len(SERVER_HEADER)) -> ColumnWidths:
    """The request column takes what the others leave, like mitmproxy's flow list."""
    request = width - (_TIME + _CONN + server + 1) - 1
    shown = []
    for cells in (_END, _BODIES, _MS):
        if request - cells < _MIN_REQUEST:
            break
        shown.append(cells)
        request -= cells
    end, bodies, ms = (*shown, 0, 0, 0)[:3]
    peer = _PEER if request - _PEER >= _ROOMY else 0
    return ColumnWidths(max(_MIN_REQUEST, request - peer), server, peer, bodies, ms, end)


def header_text(widths: ColumnWidths) -> str:
    columns = [f"{'time':<12}", f"{'conn':>5}", f"{SERVER_HEADER:<{widths.server}}"]
    if widths.peer:
        columns.append(f"{'peer':<{widths.peer - 1}}")
    columns.append(f"{'request -> status':<{widths.request}}")
    if widths.bodies:
        columns.append(f"{'body in':>8} {'body out':>8}")
    if widths.ms:
        columns.append(f"{'ms':>7}")
    if widths.end:
        columns.append("end")
    return " ".join(columns)


def _cut(text: str, cells: int) -> str:
    """`text` in at most `cells` cells, ending in … when it was cut."""
    if text.isascii():  # one cell a character: the usual case, without rich's per-character walk
        return text if len(text) <= cells else text[: max(0, cells - 1)] + "…"
    if cell_len(text) > cells:
        return set_cell_size(text, max(0, cells - 1)) + "…"
    return text


def _fit(text: str, cells: int) -> str:
    """`text` in exactly `cells` cells: cut, or padded with spaces."""
    text = _cut(text, cells)
    return text.ljust(cells) if text.isascii() else set_cell_size(text, cells)


def _fit_port(text: str, cells: int) -> str:
    """`_fit`, but a cut keeps the `:port` at the end whole (`prefix-e… :5001`)."""
    head, colon, port = text.rpartition(":")
    name = head.rstrip()
    gap = head[len(name) :]
    room = cells - len(gap) - len(colon) - len(port)
    if cell_len(text) <= cells or not colon or room < 2:
        return _fit(text, cells)
    return _fit(_cut(name, room) + gap + colon + port, cells)


def first_bytes_text(row: TrafficRow) -> str:
    """A connection row's summary: its first bytes, inert, … when there are more."""
    first = row.first_bytes
    if first is None:
        return "(no data)"
    # An incomplete UTF-8 character at the cut is left out, not shown as \xNN.
    text = visible_text(getincrementaldecoder("utf-8")("backslashreplace").decode(first))
    more = (row.bytes_in or 0) + (row.bytes_out or 0) > len(first)
    return text + "…" if more else text


def human_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024 / 1024:.1f} MiB"


def _status_style(status: int | None, error: str | None) -> str:
    if error:
        return "bold red"
    if status is None:
        return "dim"
    return {2: "green", 3: "cyan", 4: "yellow", 5: "bold red"}.get(status // 100, "magenta")


_END_STYLE = {
    EndReason.RST_PEER: "bold red",
    EndReason.RST_LOCAL: "red",
    EndReason.TIMEOUT: "yellow",
    EndReason.ERROR: "bold red",
    EndReason.REFUSED: "red",
}


def _end_style(row: TrafficRow) -> str:
    if row.ended_uncleanly:
        return "yellow"
    return _END_STYLE.get(row.end_reason, "dim") if row.end_reason else "italic dim"


def row_cells(
    row: TrafficRow, widths: ColumnWidths, server: str, *, imported: bool = False
) -> list[tuple[str, str]]:
    """The row's text, column by column, already sanitised, with a style each.

    `server` is the server column's text (`TrafficModel.server_label`).
    `imported`: the session came from a HAR file, whose connections have no
    recorded end: the end column says `imported` instead of `open`.
    """
    clock = time.strftime("%H:%M:%S", time.localtime(row.t)) + f".{int(row.t * 1000) % 1000:03d}"
    style = _status_style(row.status, row.error)
    if row.via is not None:  # a proxy's upstream leg, under the client connection it serves
        server = f"↳#{row.via} {server}"
    if row.exchange_id is not None:
        method = visible_latin1(row.method or b"?") or "?"
        target = visible_latin1(row.target or b"")
        status = "…" if row.status is None else str(row.status)
        if row.error and row.status is None:
            status = "no response" if row.unanswered else "error"  # as `serve` prints it
        room = widths.request - len(status) - 4
        what = f"{method} {target}"
        if len(what) > room and "://" in target[:9]:
            # An absolute URL (a HAR's, a proxy request's): the path says more
            # than the scheme and host, and the server column names the server.
            what = f"{method} …/{target.split('://', 1)[1].partition('/')[2]}"
        what = _cut(what, room)
        request = _fit(f"{what} -> {status}", widths.request)
    else:
        request = _fit(first_bytes_text(row), widths.request)
        if row.first_bytes is not None and not row.error:
            style = ""
    # An exchange's columns are body sizes seen from netbench: a client's
    # request body went out, its response body came in (docs/tui.md).
    body_in, body_out = row.bytes_in, row.bytes_out
    if row.exchange_id is not None and row.role is Role.CLIENT:
        body_in, body_out = body_out, body_in
    duration = "" if row.duration is None else f"{row.duration * 1000:.1f}"
    end = row.end_reason.value if row.end_reason else "imported" if imported else "open"
    if row.ended_uncleanly:
        end = "unclean"  # ended uncleanly: its column fits the longest end reason, 9 cells
    cells = [
        (f"{clock:<12} ", "dim"),
        (f"{row.conn_id:>5} ", "dim"),
        (_fit_port(server, widths.server) + " ", ""),
    ]
    if widths.peer:
        peer = "client" if row.role is Role.CLIENT else visible_text(str(row.peer))
        cells.append((_fit(peer, widths.peer - 1) + " ", "dim"))
    cells.append((request + " ", style))
    if widths.bodies:
        cells.append((f"{human_bytes(body_in):>8} {human_bytes(body_out):>8} ", ""))
    if widths.ms:
        cells.append((f"{duration:>7} ", "dim"))
    if widths.end:
        cells.append((end, _end_style(row)))
    return cells


class TrafficList(ScrollView, can_focus=True):
    """Every connection and HTTP exchange; Enter or click shows it in the inspector."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False, id="traffic.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="traffic.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="traffic.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="traffic.page_down"),
        Binding("home", "jump(0)", "First", show=False, id="traffic.first"),
        Binding("end", "jump(-1)", "Last", show=False, id="traffic.last"),
        Binding("f", "toggle_follow", "Follow", id="traffic.follow"),
        Binding("enter", "select", "Inspect", id="traffic.select"),
    ]

    DEFAULT_CSS = """
    TrafficList {
        height: 1fr;
        overflow-x: hidden;  /* rows are cut to the width; no scrollbar flip-flop per batch */
        border-title-align: left;
        border-title-color: $text-muted;
        border-title-style: bold;
    }
    """

    cursor: reactive[int] = reactive(-1)
    """Index of the highlighted row among the visible ones (-1: none)."""
    follow: reactive[bool] = reactive(True)
    """Keep the newest row in view and highlighted as traffic arrives."""

    class Changed(Message):
        """Rows were added or the filter changed (for counters and titles)."""

        def __init__(self, total: int, shown: int) -> None:
            super().__init__()
            self.total = total
            self.shown = shown

    def on_resize(self) -> None:
        self._lay_out()

    def _lay_out(self) -> None:
        self._widths = column_widths(self.scrollable_content_region.width, self.model.server_width)
        self.border_title = header_text(self._widths)

    def __init__(self, model: TrafficModel | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.model = model or TrafficModel()
        self._selected_key: int | None = None
        self._widths = column_widths(120)
        self._unreadable_told = 0
        """Unreadable rows already counted in a notification."""

    def on_mount(self) -> None:
        self.app.hub.register(self)  # type: ignore[attr-defined]
        if self.app.read_only:  # type: ignore[attr-defined]
            reader = self.app.reader()  # type: ignore[attr-defined]
            if reader is not None:
                self._load_recorded(reader)

    def on_unmount(self) -> None:
        self.app.hub.unregister(self)  # type: ignore[attr-defined]

    @property
    def _imported(self) -> bool:
        return getattr(self.app, "imported", None) is not None

    def _load_recorded(self, reader: SessionReader) -> None:
        from netbench.store import StoreError

        try:
            self.model.load(reader)
        except StoreError as error:
            self.notify(f"Traffic unreadable: {error}", severity="error", timeout=30, markup=False)
        self.follow = False
        self._lay_out()
        self._refresh_size()

    def on_events_arrived(self, message: EventsArrived) -> None:
        if self.model.apply(message.events):
            self._refresh_size()
        if self.model.server_width != self._widths.server:  # a server with a longer label
            self._lay_out()
            self.refresh()

    def set_filter(self, text: str) -> None:
        """Filter at once with what the first slice of the file finds, then search on
        between frames: a key press is never held up by a million rows."""
        self.model.set_filter(text, self.app.reader())  # type: ignore[attr-defined]
        searching = not self.model.search_step()
        self.cursor = min(self.cursor, len(self.model) - 1)
        self._refresh_size()
        if searching:
            # The coroutine function, not a coroutine: a worker cancelled before it
            # starts (the next key's) leaves no coroutine never awaited.
            self.run_worker(self._search, group="traffic-filter", exclusive=True)  # type: ignore[arg-type]

    async def _search(self) -> None:
        search = self.model.search
        while self.model.search is search and not self.model.search_step():
            self._refresh_size()
            await asyncio.sleep(0)  # keys, live rows and frames go between slices
        if self.model.search is None:
            self._refresh_size()

    def _refresh_size(self) -> None:
        count = len(self.model)
        size = Size(self.size.width, count)
        height = self.scrollable_content_region.height
        old = self.virtual_size
        if old.width == size.width and (old.height > height) == (count > height):
            # Rows came and the scrollbar stays as it was: no layout needed.
            # Setting `virtual_size` would reflow and repaint the whole screen,
            # ten times a second under load (most of the UI's cost).
            self.set_reactive(TrafficList.virtual_size, size)
            self._scroll_update(size)
        else:
            self.virtual_size = size
        if self.follow and count:
            self.cursor = count - 1
        self.refresh()
        total = len(self.model.keys)
        if self.model.filtered is None:
            self.border_subtitle = ""
        else:
            searching = " (searching…)" if self.model.search is not None else ""
            self.border_subtitle = f"{count:,} of {total:,} match{searching}"
        self.post_message(self.Changed(total, count))

    def watch_cursor(self, old: int, new: int) -> None:
        if new < 0:
            return
        top = round(self.scroll_offset.y)
        height = self.scrollable_content_region.height
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self.refresh()

    # -- rendering ------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        row = self.model.row_at(index, self.app.reader())  # type: ignore[attr-defined]
        unreadable = None if row is not None else self.model.unreadable_at(index)
        if row is None and unreadable is None:
            return Strip.blank(width)
        highlight = index == self.cursor
        selected = row is not None and row.key == self._selected_key
        base = (
            Style(reverse=True)
            if highlight and self.has_focus
            else (Style(bgcolor="grey23") if highlight or selected else Style())
        )
        if row is None:
            if len(self.model.unreadable) > self._unreadable_told:
                self.call_later(self._tell_unreadable)
            text = f"row unreadable (the file is damaged: {visible_text(unreadable or '')})"
            segments = [Segment(text, base + Style(color="red", bold=True))]
        else:
            segments = [
                Segment(text, base + Style.parse(style) if style else base)
                for text, style in row_cells(
                    row, self._widths, self.model.server_label(row), imported=self._imported
                )
            ]
        strip = Strip(segments).crop(0, width)
        return strip.extend_cell_length(width, base)

    def _tell_unreadable(self) -> None:
        count = len(self.model.unreadable)
        if count == self._unreadable_told or self.model.damage is None:
            return
        self._unreadable_told = count
        rows = "row" if count == 1 else "rows"
        self.notify(
            f"{count} {rows} unreadable: {self.model.damage}",
            severity="error",
            timeout=30,
            markup=False,
        )

    # -- actions --------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self.follow = False
        if len(self.model):
            self.cursor = max(0, min(len(self.model) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, where: int) -> None:
        count = len(self.model)
        if count:
            self.cursor = count - 1 if where < 0 else 0
            self.follow = where < 0

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self.notify("Following new traffic" if self.follow else "Stopped following", timeout=2)
        if self.follow:
            self.action_jump(-1)

    def action_select(self) -> None:
        row = self.model.row_at(self.cursor, self.app.reader())  # type: ignore[attr-defined]
        if row is None:
            return
        self._selected_key = row.key
        self.refresh()
        self.post_message(SelectionChanged(Selection(row.conn_id, row.exchange_id)))

    def on_click(self, event: events.Click) -> None:
        index = round(self.scroll_offset.y) + event.y
        if 0 <= index < len(self.model):
            self.follow = False
            self.cursor = index
            self.action_select()

    def selected_row(self) -> TrafficRow | None:
        return self.model.row_at(self.cursor, self.app.reader())  # type: ignore[attr-defined]
