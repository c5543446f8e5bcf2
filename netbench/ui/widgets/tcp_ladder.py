"""The TCP tab: a connection's packets as a ladder between its two ends.

Rules:
- two lanes, the client's on the left and the server's on the right, each
  labelled by role and port (netbench is one of them, the header says which);
- one arrow per captured packet (the tracker drops loopback copies) with its
  flags, relative seq/ack, window, length and time since the first packet;
  a data segment shows its first payload bytes, made inert by `textsafe`;
- socket events sit between the packets, dim, at their time; a lane's TCP
  state is written beside it when it changes;
- no packets, no arrows: without capture the rows are what `tcp_inferred`
  reads from the socket events and chunks (dashed, hollow-headed), under a
  banner saying why nothing was captured. A packet is never invented;
- virtual (Line API): the rows (`ladder_model.Ladder`) are small tuples drawn
  only when on screen, so 10k packets cost a list, not 10k widgets;
- bounded: a connection is read from its ends (store/ends.py), its first and
  last `EDGE` packets (or chunks), with a gap row counting the rest, so a
  keep-alive connection of a million exchanges costs what a short one does;
- loaded when seen: while its tab is hidden a selection is only noted (and
  a follower's call remembered); the ladder loads when the tab is shown;
- live: told that the store has new rows (ui/follow.py), it counts what
  the ladder is made of (its packets, chunks and socket events, the capture
  statuses: index lookups) and reloads only when one changed, spaced by 4x
  the last reload's cost (a timer, only then) so a busy ladder never hogs the UI.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from netbench.capture.preflight import has_net_raw, no_privilege
from netbench.model import Direction, Endpoint, Role, TcpPacket, Transport
from netbench.protocol.tcp_inferred import ChunkLike, SocketEventLike
from netbench.protocol.textsafe import visible_text
from netbench.store import StoreError
from netbench.store.ends import StreamFinder, chunk_ends
from netbench.store.packets import CaptureRow, capture_history, packets_at_end
from netbench.store.windows import connection, ladder_mark
from netbench.ui.follow import SessionServices, session_services
from netbench.ui.ladder_model import FIXED, MIN_ARROW, Gap, Ladder, Row
from netbench.ui.messages import Selection

if TYPE_CHECKING:
    from textual.timer import Timer

MARGIN = 2.0
"""Seconds before the connection opened and after it closed searched for its packets."""
EDGE = 200
"""Packets (or chunks) read at each end of a connection; those between are counted."""
BANNER = "Inferred from socket events — no packets were captured."
IMPORTED = "Imported from HAR: no packets (a HAR records no TCP packets or socket events)."
_HIGHLIGHT = Style(bgcolor="#2a3f5f")
_DIM = Style(dim=True)


class LadderLines(ScrollView, can_focus=False):
    """The ladder's rows, drawn when on screen, under its lane header pinned on line 0."""

    DEFAULT_CSS = """
    LadderLines {
        height: 1fr;
    }
    """

    def __init__(self, owner: TcpLadder, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.owner = owner

    def resize_rows(self) -> None:
        width = max(self.scrollable_content_region.width, FIXED + MIN_ARROW)
        self.virtual_size = Size(width, len(self.owner.rows) + 1)
        self.refresh()

    def on_resize(self) -> None:
        self.resize_rows()

    def render_line(self, y: int) -> Strip:
        width, full = self.scrollable_content_region.width, self.virtual_size.width
        ladder, index = self.owner.ladder, round(self.scroll_offset.y) + y - 1
        if ladder is None:
            segments = [Segment(self.owner.message, _DIM)] if y == 0 else []
        elif y == 0:
            segments = ladder.header(full)
        elif index < len(ladder.rows):
            segments = ladder.row(index, full, self.owner.row_style(index))
        elif index == 0:
            segments = [Segment(" " * (FIXED // 2) + self.owner.message, _DIM)]
        else:
            segments = []
        scroll_x = round(self.scroll_offset.x)
        return Strip(segments).crop(scroll_x, scroll_x + width).extend_cell_length(width)

    def show_row(self, index: int) -> None:
        """Scroll so row `index` is on screen (the header keeps line 0)."""
        top = round(self.scroll_y)
        height = max(1, self.scrollable_content_region.height - 1)
        if index < top:
            self.scroll_to(y=index, animate=False, force=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, force=True)

    def on_click(self, event: events.Click) -> None:
        index = round(self.scroll_offset.y) + event.y - 1
        if event.y > 0 and 0 <= index < len(self.owner.rows):
            self.owner.select(index)


class TcpLadder(Widget, can_focus=True):
    """A connection's TCP packets as a ladder diagram, each step explained on demand."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Previous step", show=False, id="tcp.up"),
        Binding("down", "cursor(1)", "Next step", show=False, id="tcp.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="tcp.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="tcp.page_down"),
        Binding("home", "jump(0)", "First step", show=False, id="tcp.first"),
        Binding("end", "jump(-1)", "Last step", show=False, id="tcp.last"),
        Binding("m", "mark(1)", "Next mark", id="tcp.next_mark"),
        Binding("M", "mark(-1)", "Previous mark", show=False, id="tcp.prev_mark"),
    ]

    DEFAULT_CSS = """
    TcpLadder {
        height: 1fr;
        layout: vertical;
        background: $surface;
    }
    TcpLadder:focus {
        background-tint: $foreground 3%;
    }
    TcpLadder > #tcp-banner {
        display: none;
        height: auto;
        padding: 0 1;
        color: $text-warning;
        background: $warning-muted;
    }
    TcpLadder.-inferred > #tcp-banner {
        display: block;
    }
    TcpLadder > #tcp-explain {
        height: auto;
        max-height: 4;
        padding: 0 1;
        border-top: solid $panel-lighten-2;
    }
    """

    cursor: reactive[int] = reactive(-1)
    """Index of the selected row (-1: none)."""
    inferred: reactive[bool] = reactive(False)
    """No packet was captured: the rows are inferred from socket events and chunks."""

    class SegmentSelected(Message):
        """A step that carried data was selected: its stream bytes, for the Bytes tab."""

        def __init__(self, conn_id: int, direction: Direction, stream_offset_range: range):
            super().__init__()
            self.conn_id = conn_id
            self.direction = direction
            """Seen from netbench, as chunks record it."""
            self.stream_offset_range = stream_offset_range
            """Stream offsets in that direction (relative seq - 1)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.selection: Selection | None = None
        self.conn_id = 0
        self.ladder: Ladder | None = None
        """What is shown; None with a `message` instead."""
        self.message = "Select a connection in the traffic list (Enter) to see its packets."
        self.highlighted: frozenset[int] = frozenset()
        """Rows that carried the byte range the Bytes tab selected."""
        self.capture_status: CaptureRow | None = None
        """The session's capture status during this connection: why there are no packets."""
        self._wanted: tuple[Direction, int, int] | None = None
        """The byte range `highlight_offsets` asked for, kept across live reloads."""
        self._mark: tuple[object, ...] | None = None
        """What the shown ladder was made of, counted (`_follow` compares it)."""
        self._deferred: Timer | None = None
        """A reload put off while the last one's cost says wait (a busy ladder)."""
        self._last_refresh = 0.0
        self._cost = 0.0
        """Seconds the last reload took: live reloads are spaced to keep the UI free."""
        self._pending: Literal["show", "follow"] | None = None
        """What waits for the tab to be shown: a selection to load, or a follower's call."""
        self.loads = 0
        """Ladders read from the session (observable: a hidden tab reads none)."""
        self.fetched = 0
        """Packets and chunk index entries read from the session, in all."""
        self._lines = LadderLines(self)

    @property
    def services(self) -> SessionServices:
        return session_services(self)

    @property
    def rows(self) -> list[Row]:
        return [] if self.ladder is None else self.ladder.rows

    def compose(self) -> ComposeResult:
        yield Static("", id="tcp-banner", markup=False)
        yield self._lines
        yield Static("", id="tcp-explain", markup=False)

    def on_mount(self) -> None:
        self.services.follower.subscribe(self._follow)

    def on_unmount(self) -> None:
        self.services.follower.unsubscribe(self._follow)

    # -- loading ---------------------------------------------------------------------

    def show(self, selection: Selection | None) -> None:
        """Show this connection's packets (or, without any, its inferred steps);
        while the tab is hidden, only note which: it loads when shown."""
        self.selection, self._wanted = selection, None
        self._reload(keep=False)

    def _out_of_sight(self) -> bool:
        """A parent is not displayed (the tab is not the active one)."""
        return not all(node.display for node in self.ancestors_with_self)

    def on_show(self) -> None:
        pending, self._pending = self._pending, None
        if pending == "show":
            self._reload(keep=False)
        elif pending == "follow":
            self._follow()

    def show_packets(
        self,
        client: Endpoint,
        server: Endpoint,
        packets: Sequence[TcpPacket],
        socket_events: Sequence[SocketEventLike] = (),
        *,
        role: Role = Role.SERVER,
        chunks: Sequence[ChunkLike] = (),
        conn_id: int = 0,
    ) -> None:
        """Show packets given directly, not read from the session (tests, demos)."""
        self.selection = Selection(conn_id) if conn_id else None
        self.conn_id, self.capture_status, self._wanted = conn_id, None, None
        self._show(Ladder.build(role, client, server, packets, socket_events, chunks), False)

    def _reload(self, keep: bool = True) -> None:
        if self._deferred is not None:
            self._deferred.stop()
        self._deferred = None
        if self._out_of_sight():
            self._pending = "follow" if keep and self._pending != "show" else "show"
            if not keep:
                self._clear("Loading the connection…")
            return
        self._mark, self._last_refresh = None, time.monotonic()
        reader = self.services.reader()
        if self.selection is None:
            self._clear("Select a connection in the traffic list (Enter) to see its packets.")
            return
        if reader is None:
            self._clear("No session file: nothing was recorded.")
            return
        if self.services.imported is not None:
            self._clear(IMPORTED)
            return
        conn_id = self.selection.conn_id
        try:
            self._mark = ladder_mark(reader, conn_id)
            conn = connection(reader, conn_id)
            if conn is None:
                self._clear(f"Connection {conn_id} is not in the session yet.")
                return
            if conn.transport is not Transport.TCP:
                self._clear("A UDP exchange has no connection: no handshake, no teardown.")
                return
            end = conn.closed if conn.closed is not None else time.time()
            t_from, t_to = conn.opened - MARGIN, end + MARGIN
            ends = (conn.local, conn.peer, t_from, t_to)
            counted = self._mark[2:3]  # its packets, counted
            total = counted[0] if counted and isinstance(counted[0], int) else 0
            packets = packets_at_end(reader, *ends, EDGE if total > 2 * EDGE else 2 * EDGE)
            tail = packets_at_end(reader, *ends, EDGE, last=True) if total > 2 * EDGE else []
            gap = Gap(packets[-1].t, total - 2 * EDGE, "segments") if tail and packets else None
            packets, chunks = packets + tail, chunk_ends(reader, conn_id, EDGE)
            if not packets and chunks.tail:
                gap = Gap(chunks.head[-1].t, chunks.hidden, "chunks")
            socket_events = reader.socket_events(conn_id)
            history = [] if packets else capture_history(reader)
        except StoreError as error:
            self._clear(f"Cannot read the session: {error}")
            return
        self.loads += 1
        self.fetched += len(packets) + len(chunks.head) + len(chunks.tail)
        # The status in force when the connection ended (or the first one, if later).
        during = [row for row in history if row.t <= t_to]
        self.conn_id = conn_id
        self.capture_status = during[-1] if during else history[0] if history else None
        client, server = conn.local, conn.peer
        if conn.role is Role.SERVER:
            client, server = server, client

        finder = StreamFinder(reader, conn_id, [chunks.head, chunks.tail])

        def stream(direction: Direction, start: int, size: int) -> bytes:
            try:
                return finder.read(direction, start, size)
            except StoreError:
                return b""

        inferred = [] if packets else [*chunks.head, *chunks.tail]
        ladder = Ladder.build(
            conn.role, client, server, packets, socket_events, inferred, stream, gap
        )
        self._show(ladder, keep)
        self._cost = time.monotonic() - self._last_refresh

    def _clear(self, message: str) -> None:
        self.message, self.ladder, self.capture_status = message, None, None
        self.highlighted, self._wanted = frozenset(), None
        self.inferred = False
        self.cursor = -1
        self._lines.resize_rows()
        self._explain()

    def _show(self, ladder: Ladder, keep: bool) -> None:
        old = self.ladder
        before = old.key(self.cursor) if keep and old and 0 <= self.cursor < len(old.rows) else None
        self.ladder = ladder
        self.message = "No socket events or bytes recorded for this connection yet."
        hits = self._hits()
        self.inferred = ladder.inferred
        self.query_one("#tcp-banner", Static).update(f"{BANNER} {self.no_capture_reason()}")
        count = len(ladder.rows)
        found = next((i for i in range(count) if ladder.key(i) == before), None)
        if found is None and hits:
            found = hits[0]  # the Bytes tab selected a chunk while this tab was hidden
        self._lines.resize_rows()
        self.cursor = found if found is not None else (0 if count else -1)
        self._explain()

    def no_capture_reason(self) -> str:
        """Why this connection has no packets, and how to get them."""
        status = self.capture_status
        if status is not None and status.running:
            why = f"Capture runs ({visible_text(status.detail)}) but saw none of its packets"
            lost = f"; the kernel dropped {status.dropped} packets" if status.dropped else ""
            return f"{why}{lost}."
        if status is not None:
            return visible_text(status.detail)
        services = self.services
        if services.read_only:
            return "The session holds none of its packets and no capture status."
        config = getattr(services, "config", None)
        if config is not None and not getattr(config, "capture", True):
            return "Capture is off (--no-capture): start netbench without it to capture."
        if os.geteuid() != 0 and has_net_raw() is False:  # preflight's cheap check
            return f"{no_privilege()}."
        return "Capture has not reported its status yet."

    # -- live updates ----------------------------------------------------------------

    def _follow(self) -> None:
        """The store has new rows: reload if any of what the ladder is made of grew."""
        if self.selection is None or self._deferred is not None:
            return
        if self._out_of_sight():
            self._pending = self._pending or "follow"
            return
        reader = self.services.reader()
        if reader is None or self._mark is None:
            return
        try:
            changed = ladder_mark(reader, self.selection.conn_id) != self._mark
        except StoreError:
            return
        if changed:
            wait = self._last_refresh + 4 * self._cost - time.monotonic()
            if wait > 0:
                self._deferred = self.set_timer(wait, self._reload)
            else:
                self._reload()

    # -- selection and cross-highlighting -------------------------------------------

    def select(self, index: int) -> None:
        """Select row `index` as the user did: announce the bytes it carried."""
        if self.ladder is None or not self.ladder.rows:
            return
        self.cursor = index = max(0, min(len(self.ladder.rows) - 1, index))
        carried = self.ladder.data_range(index)
        if carried is not None:
            self.post_message(self.SegmentSelected(self.conn_id, *carried))

    def highlight_offsets(self, direction: Direction, start: int, end: int) -> bool:
        """Mark the steps that carried stream bytes [start, end); select the first.

        The selection stays put when it is already one of them, so a round
        trip (a step selected here, its chunk selected in the Bytes tab, that
        chunk highlighted back) does not move it. Nothing is announced.
        """
        self._wanted = (direction, start, max(end, start + 1))
        hits = self._hits()
        if hits and self.cursor not in self.highlighted:
            self.cursor = hits[0]
        self._lines.refresh()
        return bool(hits)

    def _hits(self) -> list[int]:
        hits = (
            [] if self.ladder is None or not self._wanted else self.ladder.carrying(*self._wanted)
        )
        self.highlighted = frozenset(hits)
        return hits

    def row_style(self, index: int) -> Style:
        """The background of row `index`: selected, highlighted, or plain."""
        if index == self.cursor:
            return Style(reverse=True) if self.has_focus else Style(bgcolor="grey23")
        return _HIGHLIGHT if index in self.highlighted else Style()

    def watch_cursor(self, index: int) -> None:
        if index >= 0:
            self._lines.show_row(index)
        self._lines.refresh()
        self._explain()

    def watch_inferred(self, inferred: bool) -> None:
        self.set_class(inferred, "-inferred")

    def on_focus(self) -> None:
        self._lines.refresh()  # the selected row is drawn reversed only when focused

    def on_blur(self) -> None:
        self._lines.refresh()

    def _explain(self) -> None:
        text = ""
        if self.ladder is not None and 0 <= self.cursor < len(self.ladder.rows):
            text = self.ladder.explanation(self.cursor)
        elif self.rows:
            text = "↑/↓ select a step to see what it means."
        self.query_one("#tcp-explain", Static).update(text)
        if self.cursor >= 0:
            # A longer explanation shrinks the ladder: keep the step on screen
            # once the new layout is in place.
            self.call_after_refresh(self._lines.show_row, self.cursor)

    # -- actions ---------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self.select(self.cursor + delta if self.cursor >= 0 else 0)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self._lines.scrollable_content_region.height - 2))

    def action_jump(self, where: int) -> None:
        self.select(len(self.rows) - 1 if where < 0 else 0)

    def action_mark(self, direction: int) -> None:
        """Select the next (or previous) marked step: retransmission, RST, zero window..."""
        count = len(self.rows)
        for step in range(1, count + 1):
            index = (self.cursor + direction * step) % count
            if self.ladder is not None and self.ladder.marked(index):
                self.select(index)
                return
        self.notify("No marked step (retransmission, RST, zero window...)", timeout=3)
