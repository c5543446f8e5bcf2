"""The Bytes tab: a connection's byte stream, chunk by chunk, of any size.

Rules:
- a chunk is what one `recv` returned or one `send` wrote; each starts with a
  header line, so the boundaries TCP does not keep are visible;
- the chunk index is read a page at a time near the screen (ui/byte_layout.py):
  a million exchanges open as fast as ten. Bytes are read for the chunks on
  screen and kept in a small LRU cache: a 100 MB body costs a few MB;
- the view follows the store by being told (ui/follow.py), not by polling:
  on each notification it reads the chunk count (one index lookup) and only
  the chunks after the last one indexed, never the whole index again;
- the store's readers load after the first frame (issue 18): imported where used;
- lines are counted exactly around the screen and estimated elsewhere
  (`StreamLayout`). In hex mode every count is known from the length; in
  text mode a chunk's count is estimated until its bytes are read, then made
  exact before it is drawn (`_settle`), so lines never jump under the eye;
- every character shown comes from `hexdump` (one symbol per byte) or from
  `textsafe.visible`: control bytes show as ␍ ␊ ␉ ␀ ␛, never reach the terminal.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from netbench.model import Direction
from netbench.protocol.hexdump import hexdump_lines
from netbench.protocol.textsafe import visible
from netbench.store.chunk_meta import ChunkWindow
from netbench.store.errors import StoreError
from netbench.ui.byte_layout import ChunkPages, StreamLayout
from netbench.ui.byte_text import chunk_header, text_lines
from netbench.ui.follow import SessionServices, session_services
from netbench.ui.messages import Selection

BYTES_PER_LINE = 16
CACHE_BYTES = 4 * 1024 * 1024
"""Chunk bytes kept in memory (at least one chunk, whatever its size)."""
COPY_LIMIT = 1024 * 1024
"""The most stream bytes `c` puts on the clipboard."""

_STYLE = {Direction.IN: Style(color="green"), Direction.OUT: Style(color="cyan")}
_DIM = Style(dim=True)
_HEX_WIDTH = 10 + BYTES_PER_LINE * 3 + (BYTES_PER_LINE - 1) // 8 + 1 + BYTES_PER_LINE


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
        self.chunks = ChunkPages(self._read_window)
        """The connection's chunk index, read a page at a time (positions are seqs)."""
        self._layout = StreamLayout(self.chunks, self._lines_in)
        self._t0 = 0.0
        self._stream_end = 0
        """The furthest stream offset known (the hex dump's offset column fits it)."""
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cached_bytes = 0
        self._text: OrderedDict[int, list[str]] = OrderedDict()
        self._text_counts: dict[int, int] = {}
        self._text_width = 0
        self._per_line = 80.0
        """Bytes per text line, for chunks not read yet (measured, so estimates are close)."""
        self._message = "Select a connection or request in the traffic list (Enter)."
        self._goto: int | None = None
        """The exchange whose first chunk goes on top once it is recorded."""
        self._settling = False
        self.fetches = 0
        """How many chunks were read from the store (lazy loading, observable)."""

    @property
    def services(self) -> SessionServices:
        return session_services(self)

    @property
    def fetched_index(self) -> int:
        """Chunk index entries read from the store for this connection (never re-read)."""
        return self.chunks.fetched

    @property
    def chunk_count(self) -> int:
        return len(self.chunks)

    def on_mount(self) -> None:
        self.services.follower.subscribe(self._grow)

    def on_unmount(self) -> None:
        self.services.follower.unsubscribe(self._grow)

    # -- loading ---------------------------------------------------------------------

    def show(self, selection: Selection | None) -> None:
        """Show this connection's stream, from the named exchange's first chunk."""
        self.selection, self.selected_chunk = selection, None
        self._goto = None if selection is None else selection.exchange_id
        self._cache.clear()
        self._text.clear()
        self._text_counts.clear()
        self._cached_bytes = 0
        self.chunks = ChunkPages(self._read_window)
        self._layout = StreamLayout(self.chunks, self._lines_in)
        self._t0, self._stream_end = 0.0, 0
        self.scroll_to(x=0, y=0, animate=False, force=True)
        self._open()

    def _read_window(self, first: int, count: int) -> ChunkWindow:
        from netbench.store.windows import chunk_window

        reader = self.services.reader()
        if reader is None or self.selection is None:
            return ChunkWindow(first, [], 0)
        try:
            return chunk_window(reader, self.selection.conn_id, first, count)
        except StoreError:
            return ChunkWindow(first, [], 0)  # shown as empty chunks; the header said why

    def _open(self) -> None:
        """Read the chunk count and the first page (or the named exchange's page)."""
        from netbench.store.windows import chunk_count, connection_opened, exchange, stream_sizes

        reader = self.services.reader()
        goto: int | None = None
        if self.selection is None:
            self._message = "Select a connection or request in the traffic list (Enter)."
        elif reader is None:
            self._message = "No session file: nothing was recorded."
        else:
            conn_id = self.selection.conn_id
            try:
                total = chunk_count(reader, conn_id)
                opened = connection_opened(reader, conn_id)
                found = exchange(reader, self._goto, include_bodies=False) if self._goto else None
                sizes = stream_sizes(reader, conn_id) if total else {}
            except StoreError as error:
                self._message = f"Cannot read the session: {error}"
            else:
                self._message = self.services.no_bytes  # an imported HAR has none
                self.chunks.grow(total)
                self._stream_end = max(sizes.values(), default=0)
                self._t0 = opened if opened is not None else self.chunks[0].t if total else 0.0
                if found is not None:
                    seq = found.req_first_chunk if found.request else found.resp_first_chunk
                    goto = seq if seq is not None and 0 <= seq < total else None
        self._relayout(around=goto or 0)
        if goto is not None:
            self._goto = None
            self._scroll_line(self._layout.line_of(goto))

    def _grow(self) -> None:
        """The store has new rows (the follower says): index only the chunks that are new."""
        from netbench.store.windows import chunk_count

        reader = self.services.reader()
        if self.selection is None or reader is None:
            return
        old = len(self.chunks)
        if not old or self._goto is not None:
            top = round(self.scroll_y)
            self._open()  # nothing shown yet, or the exchange to show was not recorded yet
            if old and self._goto is not None:
                self._scroll_line(top)
            return
        try:
            total = chunk_count(reader, self.selection.conn_id)
        except StoreError:
            return
        if total <= old:
            return
        top = round(self.scroll_y)
        following = top >= self.max_scroll_y
        first = self._layout.chunk_at(top)
        self.chunks.grow(total)
        for index in range(max(old, total - 16), total):
            meta = self.chunks[index]
            self._stream_end = max(self._stream_end, meta.offset + meta.length)
        if following:
            self._layout.place(total - 1)
        elif not self._layout.extend(old):
            self._layout.place(first)
        self._update_size()
        self._scroll_line(self.max_scroll_y if following else top)
        self.refresh()

    def _data(self, index: int) -> bytes:
        """A chunk's bytes, from the cache or the store (only complete ones are kept)."""
        from netbench.store import chunk_data

        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        reader = self.services.reader()
        if reader is None or self.selection is None:
            return b""
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
        return self._layout.line_count

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

    def _relayout(self, around: int | None = None) -> None:
        """Lay the stream out again around chunk `around` (default: the one on top)."""
        width = self._wrap_width()
        if self.text_only and width != self._text_width:
            self._text.clear()
            self._text_counts.clear()
        self._text_width = width
        top = self._layout.chunk_at(round(self.scroll_y)) if around is None else around
        if self.text_only and self.chunks and not self._text_counts:
            # Estimate the unread chunks from a few read ones (from the top on).
            for index in range(top, min(top + 4, len(self.chunks))):
                self._text_of(index)
            length = sum(self.chunks[i].length for i in self._text_counts)
            lines = sum(self._text_counts.values()) - len(self._text_counts)
            self._per_line = max(1.0, length / lines) if lines else float(width)
        self._layout.place(top, measure=True)
        self._update_size()
        self._settle()
        self.refresh()
        # A vertical scroll bar that appears narrows the view: fit the width again.
        self.call_after_refresh(self._update_size)

    def _update_size(self) -> None:
        # Offsets past 4 GiB take more than 8 hex digits.
        hex_width = _HEX_WIDTH + max(0, len(f"{self._stream_end:x}") - 8)
        width = self._wrap_width()
        width = width if self.text_only else max(width, hex_width)
        self.virtual_size = Size(width, max(1, self.line_count))

    def _settle(self) -> None:
        """Lay out exactly the chunks on screen: move the exact region to them if
        the screen left it, and make their text-mode line counts exact. The chunk
        on top stays where it was on screen."""
        if self._settling or not self.chunks:
            return
        self._settling = True
        layout = self._layout
        try:
            for _ in range(16):
                height = max(1, self.scrollable_content_region.height)
                top = round(self.scroll_y)
                at_end = top >= self.max_scroll_y and top > 0
                first = layout.chunk_at(top)
                if not layout.covers(first, layout.chunk_at(top + height - 1)):
                    offset = top - layout.line_of(first)
                    layout.place(first)
                    top = layout.line_of(first) + min(offset, self._lines_in(first) - 1)
                elif not self._count_text(first, top + height):
                    return
                else:
                    layout.restart()
                    # Only `first` can start above the top: keep the top inside it.
                    top = min(top, layout.line_of(first + 1) - 1)
                self._update_size()
                if at_end:
                    top = self.max_scroll_y
                self.scroll_to(y=top, animate=False, force=True)
        finally:
            self._settling = False

    def _count_text(self, first: int, bottom: int) -> bool:
        """Read the text of the chunks from `first` to line `bottom`; True if a count changed."""
        if not self.text_only:
            return False
        changed = False
        index = first
        while index < len(self.chunks) and self._layout.line_of(index) < bottom:
            if index not in self._text_counts:
                before = self._lines_in(index)
                self._text_of(index)
                changed |= self._lines_in(index) != before
            index += 1
        return changed

    def _chunk_at(self, line: int) -> int:
        return self._layout.chunk_at(line)

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
        meta, k = self.chunks[index], line - self._layout.line_of(index)
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
        self._scroll_line(self._layout.line_of(index))

    def action_toggle_text(self) -> None:
        top_chunk = self._chunk_at(round(self.scroll_y))
        self.text_only = not self.text_only
        if self.chunks:
            self._scroll_line(self._layout.line_of(top_chunk))

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
            self.notify(
                f"Copied chunk #{meta.seq} ({len(data)} bytes) as {how}", timeout=3, markup=False
            )
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
        total = self._stream_total()
        note = "" if copied >= total else f" (the first {copied} of {total} bytes)"
        how = "escaped text" if as_text else "a hex dump"
        self.notify(f"Copied the stream as {how}{note}", timeout=3, markup=False)

    def _stream_total(self) -> int:
        """Bytes of both directions so far (from the ends of the streams)."""
        from netbench.store.windows import stream_sizes

        reader = self.services.reader()
        if reader is None or self.selection is None:
            return 0
        try:
            return sum(stream_sizes(reader, self.selection.conn_id).values())
        except StoreError:
            return 0
