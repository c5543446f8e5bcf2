"""The Bytes tab: a connection's byte stream, chunk by chunk, of any size.

Rules:
- a chunk is what one `recv` returned or one `send` wrote; each starts with a
  header line, so the boundaries TCP does not keep are visible;
- only the chunk index (seq, direction, time, offset, length) is loaded on
  `show()`; bytes are fetched from the session file for the chunks on screen
  and kept in a small LRU cache, so a 100 MB body costs a few MB;
- while chunks arrive, a refresh reads only the chunks after the last one
  indexed: re-reading the index of a keep-alive connection with 30,000
  exchanges took ~350 ms, a read that held the session's WAL (it cannot
  start over under a reader) and the screen;
- `_starts[i]` is the first line of chunk i: `bisect` finds the chunk of any
  line in O(log n). In hex mode every count is known from the length; in
  text mode a chunk's count is estimated until its bytes are read, then made
  exact before it is drawn (`_settle`), so lines never jump under the eye;
- every character shown comes from `hexdump` (one symbol per byte) or from
  `textsafe.visible`: control bytes show as ␍ ␊ ␉ ␀ ␛, never reach the terminal.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections import OrderedDict
from itertools import accumulate
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from netbench.events import ChunkRecorded, ConnectionClosed
from netbench.model import Direction
from netbench.protocol.hexdump import hexdump_lines
from netbench.protocol.textsafe import visible
from netbench.ui.messages import EventsArrived, Selection

if TYPE_CHECKING:
    from netbench.store import ChunkMeta
    from netbench.ui.app import NetbenchApp

BYTES_PER_LINE = 16
CACHE_BYTES = 4 * 1024 * 1024
"""Chunk bytes kept in memory (at least one chunk, whatever its size)."""
COPY_LIMIT = 1024 * 1024
"""The most stream bytes `c` puts on the clipboard."""
REFRESH_DELAY = 0.15
"""The store is up to ~100 ms behind the engine: re-read a little after events."""
REFRESH_GAP = 0.2

_STYLE = {Direction.IN: Style(color="green"), Direction.OUT: Style(color="cyan")}
_ARROW = {Direction.IN: "<- in ", Direction.OUT: "-> out"}
_DIM = Style(dim=True)
_CR, _LF = visible(b"\r"), visible(b"\n")
_NARROW = re.compile("[\x20-\x7e\u2400-\u2421]*")
"""Printable ASCII and control pictures: one cell each, so wrapping is slicing."""
_RUNS = re.compile("[\x20-\x7e\u2400-\u2421]+|.", re.DOTALL)
_HEX_WIDTH = 10 + BYTES_PER_LINE * 3 + (BYTES_PER_LINE - 1) // 8 + 1 + BYTES_PER_LINE


def chunk_header(meta: ChunkMeta, t0: float) -> str:
    """`#3  +12.345 ms  <- in   517 B  offset 1024  14:03:22.123` (no user bytes)."""
    clock = time.strftime("%H:%M:%S", time.localtime(meta.t)) + f".{int(meta.t * 1000) % 1000:03d}"
    return (
        f"#{meta.seq:<4} +{(meta.t - t0) * 1000:.3f} ms  {_ARROW[meta.direction]} "
        f"{meta.length:>7} B  offset {meta.offset:<9} {clock}"
    )


def wrap(line: str, width: int) -> list[str]:
    """`line` in pieces of at most `width` cells; a wide character is never split."""
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for run in _RUNS.findall(line):
        narrow = _NARROW.fullmatch(run) is not None
        size = len(run) if narrow else cell_len(run)
        while narrow and used + size > width:  # cut a narrow run to fit
            cut = max(0, width - used)
            pieces.append("".join([*current, run[:cut]]))
            current, used, run, size = [], 0, run[cut:], size - cut
        if used + size > width and current:
            pieces.append("".join(current))
            current, used = [], 0
        current.append(run)
        used += size
    return [*pieces, "".join(current)]


def text_lines(data: bytes, width: int) -> list[str]:
    """Escaped text, one line per LF (kept as ␊), wrapped at `width` cells.

    The same as `visible(data, keep_newlines=True)` split at its line breaks,
    but sanitised a line at a time with the CR before an LF cut off, which
    keeps `textsafe` on its fast path (printable ASCII) for ordinary text.
    """
    lines: list[str] = []
    pieces = data.split(b"\n")
    for n, piece in enumerate(pieces, 1 - len(pieces)):
        cr = piece.endswith(b"\r")
        line = visible(piece[:-1] if cr else piece) + (_CR if cr else "") + (_LF if n else "")
        if len(line) <= width and _NARROW.fullmatch(line):
            lines.append(line)
        else:
            lines.extend(wrap(line, width))
    if lines and not lines[-1]:
        lines.pop()
    return lines


class BytesView(ScrollView, can_focus=True):
    """Every byte of the selected connection, both directions, as hex+text or text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_by(-1)", "Up", show=False, id="bytes.up"),
        Binding("down", "scroll_by(1)", "Down", show=False, id="bytes.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="bytes.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="bytes.page_down"),
        Binding("home", "home", "Start of stream", show=False, id="bytes.home"),
        Binding("end", "end", "End of stream", show=False, id="bytes.end"),
        Binding("left_square_bracket", "chunk(-1)", "Prev chunk", id="bytes.prev_chunk"),
        Binding("right_square_bracket", "chunk(1)", "Next chunk", id="bytes.next_chunk"),
        Binding("x", "toggle_text", "Hex/text", id="bytes.toggle_text"),
        Binding("c", "copy", "Copy hex", id="bytes.copy"),
    ]

    DEFAULT_CSS = """
    BytesView {
        height: 1fr;
        background: $surface;
    }
    BytesView:focus {
        background-tint: $foreground 3%;
    }
    """

    text_only: reactive[bool] = reactive(False)
    """Show escaped text lines instead of the hex dump."""
    selected_chunk: reactive[int | None] = reactive(None)
    """Index of the chunk `c` copies (None: the whole stream)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.selection: Selection | None = None
        self.chunks: list[ChunkMeta] = []
        self._t0 = 0.0
        self._starts: list[int] = [0]
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cached_bytes = 0
        self._text: OrderedDict[int, list[str]] = OrderedDict()
        self._text_counts: dict[int, int] = {}
        self._text_width = 0
        self._per_line = 80.0
        """Bytes per text line, for chunks not read yet (measured, so estimates are close)."""
        self._message = "Select a connection or request in the traffic list (Enter)."
        self._timer: Timer | None = None
        self._goto: int | None = None
        self._indexed: int | None = None
        """The connection `chunks` indexes (refreshes read only what came since)."""
        self._last_refresh, self._settling = 0.0, False
        self.fetches = 0
        """How many chunks were read from the store (lazy loading, observable)."""

    @property
    def _netbench(self) -> NetbenchApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        self._netbench.hub.register(self)

    def on_unmount(self) -> None:
        self._netbench.hub.unregister(self)

    # -- loading ---------------------------------------------------------------------

    def show(self, selection: Selection | None) -> None:
        """Show this connection's stream, from the named exchange's first chunk."""
        self.selection, self.selected_chunk = selection, None
        self._goto = None if selection is None else selection.exchange_id
        self._cache.clear()
        self._text.clear()
        self._text_counts.clear()
        self._cached_bytes, self._indexed = 0, None
        if self._timer is not None:
            self._timer.stop()
        self.scroll_to(x=0, y=0, animate=False, force=True)
        self._refresh_index()
        if selection is not None:  # the store is up to ~100 ms behind the engine
            self._timer = self.set_timer(REFRESH_DELAY, self._refresh_index)

    def _refresh_index(self) -> None:
        """(Re)load the chunk index; stay at the end if we were there (live follow)."""
        self._timer, self._last_refresh = None, time.monotonic()
        top = round(self.scroll_y)
        following = bool(self.chunks) and top >= self.max_scroll_y
        index: int | None = None
        # Chunks are only ever appended: what is cached stays valid on a reload.
        known, t0 = self.chunks, self._t0
        self.chunks, self._t0 = [], 0.0
        reader = self._netbench.reader()
        if self.selection is None:
            self._message = "Select a connection or request in the traffic list (Enter)."
        elif reader is None:
            self._message = "No session file: nothing was recorded."
        else:
            from netbench.store import StoreError, chunk_index

            conn_id = self.selection.conn_id
            if self._indexed != conn_id or not known:
                known = []
            try:
                if known:
                    self.chunks = known + chunk_index(reader, conn_id, after_seq=known[-1].seq)
                else:
                    self.chunks = chunk_index(reader, conn_id)
                    conn = reader.connection(conn_id)
                    t0 = conn.opened if conn else self.chunks[0].t if self.chunks else 0.0
                rows = reader.exchanges(conn_id, include_bodies=False) if self._goto else ()
                goto = next((e for e in rows if e.id == self._goto), None)
            except StoreError as error:
                self._message = f"Cannot read the session: {error}"
            else:
                self._message = self._netbench.no_bytes  # an imported HAR has none
                self._indexed, self._t0 = conn_id, t0
                if goto is not None:
                    seq = goto.req_first_chunk if goto.request else goto.resp_first_chunk
                    index = next((i for i, m in enumerate(self.chunks) if m.seq == seq), None)
        self._relayout()
        if index is not None:
            self._goto, top, following = None, self._starts[index], False
        self._scroll_line(self.max_scroll_y if following else top)

    def _data(self, index: int) -> bytes:
        """A chunk's bytes, from the cache or the store (only complete ones are kept)."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        reader = self._netbench.reader()
        if reader is None or self.selection is None:
            return b""
        from netbench.store import StoreError, chunk_data

        meta = self.chunks[index]
        try:
            data = chunk_data(reader, self.selection.conn_id, meta.seq)
        except StoreError:
            return b""
        self.fetches += 1
        if len(data) == meta.length:
            self._cache[index] = data
            self._cached_bytes += len(data)
            while self._cached_bytes > CACHE_BYTES and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= len(old)
        return data

    @property
    def cached_chunks(self) -> int:
        return len(self._cache)

    # -- layout ----------------------------------------------------------------------

    @property
    def line_count(self) -> int:
        return self._starts[-1]

    def _wrap_width(self) -> int:
        return max(16, self.scrollable_content_region.width or 80)

    def _lines_in(self, index: int) -> int:
        """Lines chunk `index` takes, its header included (estimated in text mode)."""
        length = self.chunks[index].length
        if not self.text_only:
            return 1 + -(-length // BYTES_PER_LINE)
        exact = self._text_counts.get(index)
        return exact if exact is not None else 1 + max(1, round(length / self._per_line))

    def _text_of(self, index: int) -> list[str]:
        if index in self._text:
            self._text.move_to_end(index)
            return self._text[index]
        meta = self.chunks[index]
        data = self._data(index)
        lines = text_lines(data, self._text_width)
        if len(data) == meta.length:
            self._text[index] = lines
            self._text_counts[index] = 1 + len(lines)
            while len(self._text) > 8:
                self._text.popitem(last=False)
        return lines

    def _relayout(self) -> None:
        width = self._wrap_width()
        if self.text_only and width != self._text_width:
            self._text.clear()
            self._text_counts.clear()
        self._text_width = width
        if self.text_only and self.chunks and not self._text_counts:
            # Estimate the unread chunks from a few read ones (from the top on).
            top = self._chunk_at(round(self.scroll_y))
            for index in range(top, min(top + 4, len(self.chunks))):
                self._text_of(index)
            length = sum(self.chunks[i].length for i in self._text_counts)
            lines = sum(self._text_counts.values()) - len(self._text_counts)
            self._per_line = max(1.0, length / lines) if lines else float(width)
        self._restart()
        # Offsets past 4 GiB take more than 8 hex digits.
        end = max((m.offset + m.length for m in self.chunks), default=0)
        hex_width = _HEX_WIDTH + max(0, len(f"{end:x}") - 8)
        width = width if self.text_only else max(width, hex_width)
        self.virtual_size = Size(width, max(1, self.line_count))
        self._settle()
        self.refresh()

    def _settle(self) -> None:
        """Make the text-mode line counts of the chunks on screen exact."""
        if not self.text_only or self._settling or not self.chunks:
            return
        self._settling = True
        try:
            height = max(1, self.scrollable_content_region.height)
            for _ in range(16):
                top = round(self.scroll_y)
                at_end = top >= self.max_scroll_y and top > 0
                first = self._chunk_at(top)
                changed = False
                index = first
                while index < len(self.chunks) and self._starts[index] < top + height:
                    if index not in self._text_counts:
                        before = self._lines_in(index)
                        self._text_of(index)
                        changed |= self._lines_in(index) != before
                    index += 1
                if not changed:
                    return
                self._restart()
                self.virtual_size = Size(self.virtual_size.width, max(1, self.line_count))
                # Only `first` can start above the top: keep the top inside it.
                top = min(top, self._starts[first + 1] - 1)
                if at_end:
                    top = self.max_scroll_y
                self.scroll_to(y=top, animate=False, force=True)
        finally:
            self._settling = False

    def _restart(self) -> None:
        self._starts = [0, *accumulate(map(self._lines_in, range(len(self.chunks))))]

    def _chunk_at(self, line: int) -> int:
        return max(0, min(len(self.chunks) - 1, bisect_right(self._starts, line) - 1))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._settle()

    def watch_text_only(self) -> None:
        self._relayout()

    def on_resize(self) -> None:
        if self.text_only and self._wrap_width() != self._text_width:
            self._relayout()
        else:
            self._settle()

    # -- live updates ----------------------------------------------------------------

    def on_events_arrived(self, message: EventsArrived) -> None:
        if self.selection is None or self._timer is not None:
            return
        conn_id = self.selection.conn_id
        for event in message.batch.of_conn(conn_id):
            if isinstance(event, ChunkRecorded | ConnectionClosed):
                delay = max(REFRESH_DELAY, self._last_refresh + REFRESH_GAP - time.monotonic())
                self._timer = self.set_timer(delay, self._refresh_index)
                return

    # -- rendering -------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        self._settle()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        line = round(self.scroll_offset.y) + y
        if not self.chunks:
            strip = Strip([Segment(self._message, _DIM)] if line == 0 else [])
            return strip.crop(0, width).extend_cell_length(width)
        if line >= self.line_count:
            return Strip.blank(width)
        index = self._chunk_at(line)
        meta, k = self.chunks[index], line - self._starts[index]
        style = _STYLE[meta.direction]
        full = self.virtual_size.width
        if k == 0:
            head = chunk_header(meta, self._t0)
            rule = "─" * max(0, full - cell_len(head) - 4)
            bold = style + Style(bold=True, reverse=index == self.selected_chunk)
            segments = [Segment("── ", style), Segment(head, bold), Segment(" " + rule, style)]
        elif self.text_only:
            lines = self._text_of(index)
            text = lines[k - 1] if k - 1 < len(lines) else ""
            segments = [Segment(text, style)]
        else:
            start = (k - 1) * BYTES_PER_LINE
            piece = self._data(index)[start : start + BYTES_PER_LINE]
            dump = next(hexdump_lines(piece, meta.offset + start), "")
            offset, _, rest = dump.partition("  ")
            hex_width = len(rest) - len(piece) - 2
            segments = [
                Segment(offset + "  ", _DIM),
                Segment(rest[:hex_width] + "  ", style),
                Segment(rest[hex_width + 2 :], style + Style(bold=True)),
            ]
        scroll_x = round(self.scroll_offset.x)
        return Strip(segments).crop(scroll_x, scroll_x + width).extend_cell_length(width)

    # -- actions ---------------------------------------------------------------------

    def _scroll_line(self, line: int) -> None:
        self.scroll_to(y=max(0, min(line, self.max_scroll_y)), animate=False, force=True)

    def action_scroll_by(self, delta: int) -> None:
        self._scroll_line(round(self.scroll_y) + delta)

    def action_page(self, direction: int) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        self._scroll_line(round(self.scroll_y) + direction * page)

    def action_home(self) -> None:
        self._scroll_line(0)

    def action_end(self) -> None:
        for _ in range(4):  # text mode: the last chunks' exact counts move the end
            self._scroll_line(self.max_scroll_y)
            if round(self.scroll_y) >= self.max_scroll_y:
                return

    def action_chunk(self, delta: int) -> None:
        """Select the previous/next chunk and bring its header to the top."""
        if not self.chunks:
            return
        current = self.selected_chunk
        if current is None:
            current = self._chunk_at(round(self.scroll_y)) - (1 if delta > 0 else 0)
        index = max(0, min(len(self.chunks) - 1, current + delta))
        self.selected_chunk = index
        self._scroll_line(self._starts[index])

    def action_toggle_text(self) -> None:
        top_chunk = self._chunk_at(round(self.scroll_y))
        self.text_only = not self.text_only
        if self.chunks:
            self._scroll_line(self._starts[top_chunk])

    def on_click(self, event: events.Click) -> None:
        line = round(self.scroll_offset.y) + event.y
        if self.chunks and line < self.line_count:
            index = self._chunk_at(line)
            self.selected_chunk = None if index == self.selected_chunk else index

    def action_copy(self) -> None:
        """Copy the selected chunk or the stream: as hex, or as escaped text in text mode."""
        as_text = self.text_only
        if self.selected_chunk is not None and self.selected_chunk < len(self.chunks):
            meta = self.chunks[self.selected_chunk]
            data = self._data(self.selected_chunk)
            shown = visible(data, keep_newlines=True) if as_text else data.hex(" ")
            self.app.copy_to_clipboard(shown)
            how = "escaped text" if as_text else "hex"
            message = f"Copied chunk #{meta.seq} ({len(data)} bytes) as {how}"
            self.notify(message, timeout=3, markup=False)
            return
        out: list[str] = []
        copied = 0
        for index, meta in enumerate(self.chunks):
            if copied >= COPY_LIMIT:
                break
            data = self._data(index)[: COPY_LIMIT - copied]
            body = (
                [visible(data, keep_newlines=True)]
                if as_text
                else list(hexdump_lines(data, meta.offset))
            )
            out += [chunk_header(meta, self._t0), *body]
            copied += len(data)
        self.app.copy_to_clipboard("\n".join(out) + "\n")
        total = sum(m.length for m in self.chunks)
        note = "" if copied >= total else f" (the first {copied} of {total} bytes)"
        how = "escaped text" if as_text else "a hex dump"
        self.notify(f"Copied the stream as {how}{note}", timeout=3, markup=False)
