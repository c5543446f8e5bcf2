"""The Bytes tab's model of a stream of any length: its chunks by page, its lines by region.

Rules:
- `ChunkPages` is a connection's chunk index read a page (`PAGE` chunks) at
  a time through `store.windows.chunk_window`, the last `KEPT_PAGES` pages
  kept; position i is the chunk with seq i. Growing reads only the chunks
  after the last one read. A seq missing from the file (damage) reads as an
  empty chunk, so positions stay seqs;
- `StreamLayout` counts lines exactly in a region of at most `REGION`
  chunks around the screen and estimates the rest at `per_chunk` lines
  each: opening a million-chunk stream reads one page, not the index. A
  stream of up to `REGION` chunks is laid out exactly, as it always was;
- the region moves when the screen leaves it; the view then scrolls so the
  chunk on top stays where it was on screen (`BytesView._ensure`): what the
  user sees never jumps, only the scroll bar's estimate of the rest does.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator
from itertools import accumulate
from math import ceil

from netbench.model import Direction
from netbench.store import ChunkMeta
from netbench.store.windows import ChunkWindow

PAGE = 512
KEPT_PAGES = 16
REGION = 1024
"""Chunks laid out exactly around the screen (a screen shows ~50 at most)."""

ReadWindow = Callable[[int, int], ChunkWindow]
"""(first seq, count) -> those chunks and the connection's total."""


class ChunkPages:
    """A connection's chunks without their bytes, read from the store page by page."""

    def __init__(self, read: ReadWindow, total: int = 0) -> None:
        self._read = read
        self.total = total
        self._pages: OrderedDict[int, list[ChunkMeta]] = OrderedDict()
        self.fetched = 0
        """Index entries read from the store so far (observable: nothing re-read)."""

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[ChunkMeta]:
        return (self[i] for i in range(self.total))

    def __getitem__(self, index: int) -> ChunkMeta:
        if index < 0:
            index += self.total  # as a list: -1 is the last chunk
        if not 0 <= index < self.total:
            raise IndexError(index)
        number, at = divmod(index, PAGE)
        page = self._pages.get(number)
        if page is None or at >= len(page):
            page = self._load(number, page or [])
        else:
            self._pages.move_to_end(number)
        return page[at] if at < len(page) else ChunkMeta(index, Direction.IN, 0.0, 0, 0)

    def _load(self, number: int, known: list[ChunkMeta]) -> list[ChunkMeta]:
        """Page `number`, reading only the chunks after those already `known`."""
        first = number * PAGE + len(known)
        end = min(self.total, (number + 1) * PAGE)
        window = self._read(first, end - first)
        self.fetched += len(window.chunks)
        by_seq = {meta.seq: meta for meta in window.chunks}
        page = known + [
            by_seq.get(seq, ChunkMeta(seq, Direction.IN, 0.0, 0, 0)) for seq in range(first, end)
        ]
        self._pages[number] = page
        self._pages.move_to_end(number)
        while len(self._pages) > KEPT_PAGES:
            self._pages.popitem(last=False)
        return page

    def grow(self, total: int) -> None:
        """The connection has `total` chunks now (pages read before stay valid:
        chunks are only ever appended)."""
        self.total = max(self.total, total)


class StreamLayout:
    """Which line each chunk starts on: exact in `region`, estimated around it."""

    def __init__(self, chunks: ChunkPages, lines_in: Callable[[int], int]) -> None:
        self.chunks = chunks
        self._lines_in = lines_in
        self.region = range(0)
        self.per_chunk = 1.0
        """Estimated lines per chunk outside the region (measured in the region)."""
        self._starts: list[int] = [0]
        self._base = 0

    def place(self, around: int, *, measure: bool = False) -> None:
        """Lay out exactly the region around chunk `around` (and re-estimate the rest)."""
        total = len(self.chunks)
        first = max(0, min(around - REGION // 4, total - REGION))
        self.region = range(first, min(total, first + REGION))
        self.restart(measure=measure)

    def restart(self, *, measure: bool = False) -> None:
        """Count the region's lines again (a chunk's count became exact, or the region grew)."""
        region = self.region
        self._starts = [0, *accumulate(map(self._lines_in, region))]
        if (measure or self.per_chunk <= 0) and len(region):
            self.per_chunk = max(1.0, self._starts[-1] / len(region))
        self._base = self._estimate(region.start)

    def extend(self, old_total: int) -> bool:
        """The stream grew from `old_total` chunks: a region that reached the old end
        takes the new chunks, if it has room (False: place it anew)."""
        region, total = self.region, len(self.chunks)
        if region.stop < old_total or not len(region):
            return bool(len(region))  # elsewhere: only the estimated end moves
        if total - region.start > REGION:
            return False
        self.region = range(region.start, total)
        starts = self._starts
        for index in range(region.stop, total):
            starts.append(starts[-1] + self._lines_in(index))
        return True

    def _estimate(self, chunks: int) -> int:
        return ceil(chunks * self.per_chunk)

    def line_of(self, index: int) -> int:
        """The first line (the header) of chunk `index`."""
        region = self.region
        if index < region.start:
            return self._estimate(index)
        if index < region.stop:
            return self._base + self._starts[index - region.start]
        return self._base + self._starts[-1] + self._estimate(index - region.stop)

    @property
    def line_count(self) -> int:
        return self.line_of(len(self.chunks))

    def chunk_at(self, line: int) -> int:
        """The chunk that line `line` belongs to."""
        total = len(self.chunks)
        region = self.region
        if total == 0:
            return 0
        if region.start <= 0 or line >= self._base:
            inside = line - self._base
            if len(region) and inside < self._starts[-1]:
                return region.start + bisect_right(self._starts, max(0, inside)) - 1
            low, past = region.stop, inside - self._starts[-1]
        else:
            low, past = 0, line
        index = low + int(past / self.per_chunk)
        # The estimate rounds up: step to the chunk whose first line is the
        # last at or before `line` (one step at most, floats aside).
        while index + 1 < total and self.line_of(index + 1) <= line:
            index += 1
        while index > low and self.line_of(index) > line:
            index -= 1
        return max(0, min(total - 1, index))

    def covers(self, first: int, last: int) -> bool:
        """Whether chunks `first` to `last` are all laid out exactly."""
        return first in self.region and last in self.region
