"""The two ends of a long connection, and its chunks found by stream offset.

Why: the TCP ladder of a keep-alive connection with a million exchanges
cannot read, let alone draw, its two million chunks (or four million
packets). It shows the first and the last few with a line saying how many
are left out, and a step it shows leads to the chunk that carried its bytes.
Every read here is a window (store/windows.py) or an index range of the
size asked for:

- the ends: `chunk_window` at seq 0 and at the count minus `edge`; packets
  by `packets_at_end` (one index range per direction, cut by LIMIT);
- a chunk by stream offset: within one direction a chunk's offset only
  grows with its seq, so a binary search over seq finds it, each probe a
  window of `PROBE` chunks. A probe holding no chunk of that direction
  reads the next windows until one does (a long one-way stretch, say a
  download, costs as many windows as it has chunks up to one);
- `StreamFinder` answers from the windows it has read (the ends, where the
  ladder's steps are) before it searches, and keeps what it searched.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from netbench.model import Direction
from netbench.store.chunk_meta import ChunkMeta
from netbench.store.reader import SessionReader
from netbench.store.traffic import chunk_data
from netbench.store.windows import chunk_count, chunk_window

PROBE = 64
"""Chunks read by one probe of the binary search."""


@dataclass(frozen=True, slots=True)
class Ends:
    """The first and last chunks (or packets) of a connection, and how many lie between."""

    head: list[ChunkMeta]
    tail: list[ChunkMeta]
    """Empty when the head holds them all."""
    hidden: int
    """How many are in neither."""


def chunk_ends(reader: SessionReader, conn_id: int, edge: int) -> Ends:
    """The first and the last `edge` chunks; all of them when there are at most 2 * edge."""
    total = chunk_count(reader, conn_id)
    if total <= 2 * edge:
        return Ends(chunk_window(reader, conn_id, 0, total).chunks, [], 0)
    head = chunk_window(reader, conn_id, 0, edge).chunks
    tail = chunk_window(reader, conn_id, total - edge, edge).chunks
    return Ends(head, tail, total - 2 * edge)


def find_chunk(
    reader: SessionReader, conn_id: int, direction: Direction, start: int, stop: int | None = None
) -> ChunkMeta | None:
    """The first chunk going `direction` that holds any stream bytes of [start, stop)
    (just `start` when `stop` is None); None when no chunk holds them."""
    stop = start + 1 if stop is None else max(stop, start + 1)
    lo, hi = 0, chunk_count(reader, conn_id)
    best: ChunkMeta | None = None
    # The answer is the first chunk of `direction` ending after `start`: in [lo, hi) or `best`.
    while hi - lo > PROBE:
        middle = (lo + hi) // 2
        first, end = middle, min(hi, middle + PROBE)
        mine: list[ChunkMeta] = []
        while not mine and first < hi:
            found = chunk_window(reader, conn_id, first, end - first).chunks
            mine = [meta for meta in found if meta.direction is direction]
            first, end = end, min(hi, end + 2 * (end - first))
        if not mine:
            hi = middle  # [middle, hi) holds none of `direction`
            continue
        after = next((meta for meta in mine if meta.offset + meta.length > start), None)
        if after is None:
            lo = mine[-1].seq + 1
        elif after is not mine[0]:
            best = after  # the one before it ends at or before `start`: it is the answer
            break
        else:
            best, hi = after, middle  # it, unless one of [lo, middle) is
    else:
        found = chunk_window(reader, conn_id, lo, hi - lo).chunks
        best = next(
            (m for m in found if m.direction is direction and m.offset + m.length > start), best
        )
    return best if best is not None and best.offset < stop else None


class StreamFinder:
    """A connection's stream bytes by offset, from windows already read or searched."""

    def __init__(self, reader: SessionReader, conn_id: int, known: list[list[ChunkMeta]]):
        self.reader = reader
        self.conn_id = conn_id
        self._runs: list[list[ChunkMeta]] = [run for run in known if run]
        """Runs of consecutive chunks (both directions, by seq)."""
        self.searches = 0
        """Binary searches made (offsets outside every run read)."""

    def chunk(self, direction: Direction, offset: int) -> ChunkMeta | None:
        """The chunk going `direction` that holds stream byte `offset`."""
        for run in self._runs:
            mine = [meta for meta in run if meta.direction is direction]
            if mine and mine[0].offset <= offset < mine[-1].offset + mine[-1].length:
                at = bisect_right([meta.offset for meta in mine], offset) - 1
                meta = mine[at]
                return meta if offset < meta.offset + meta.length else None
        self.searches += 1
        found = find_chunk(self.reader, self.conn_id, direction, offset)
        if found is not None:
            self._runs.append(chunk_window(self.reader, self.conn_id, found.seq, PROBE).chunks)
        return found

    def read(self, direction: Direction, start: int, size: int) -> bytes:
        """Stream bytes [start, start + size) going `direction`; shorter at the stream's
        end or at a gap in the recording (bytes are never shown out of place)."""
        found = bytearray()
        while len(found) < size:
            at = start + len(found)
            meta = self.chunk(direction, at)
            if meta is None or meta.offset > at:
                break
            data = chunk_data(self.reader, self.conn_id, meta.seq)
            piece = data[at - meta.offset : at - meta.offset + size - len(found)]
            if not piece:
                break
            found += piece
        return bytes(found)
