"""Which rows of the traffic list a filter shows, in memory that does not grow with its matches.

A filter over a million rows once kept a set of the matching keys and an
array of them in list order: 60-70 MB when most rows matched. Here:

- a match is one bit, in a bitmap per kind of key (exchange ids, the
  connection ids of connection rows): ids are dense row ids, so a million
  rows cost some 125 KB however many of them match; an id far beyond the
  rows (only a damaged file has one) goes to a small set instead;
- the list's order stays the model's key array's; per block of `BLOCK`
  positions the filter keeps how many of them match, and which ids the block
  holds, so the n-th match is found by summing blocks, then walking one;
  a block of consecutive ids is counted by popcount, without a walk;
- SQLite evaluates the filter, one id range (`search_step`) at a time, so
  a search over a million rows never holds the event loop for more than a
  slice and the list fills in as it goes; a slice only recounts the blocks
  whose ids it covered.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # The store loads after the first frame (issue 18): imported where used.
    from netbench.store import SessionReader


BLOCK = 1024
"""Positions of the key array counted together (a walk of one costs ~0.1 ms)."""
_NO_RANGE = (1, 0)
"""An empty id range (lo > hi): the block holds no key of that kind."""
SLICE_SECONDS = 0.02
"""What one search step may take before it hands the event loop back."""
_FIRST_SLICE = 4096


class KeyBlocks:
    """Which ids each full block of the key array holds: the same for every filter
    (keys are appended; a replaced one makes its block `forget`), so the model
    keeps one and each filter reuses it."""

    def __init__(self) -> None:
        self.ranges = array("q")
        """Per block: its smallest and largest exchange id, then connection id."""
        self.known = bytearray()
        """Per block: 1 once `ranges` holds the full block's."""

    def forget(self, block: int) -> None:
        """A key of `block` was replaced (a client's connection row by its
        exchange): its ranges are read again when next needed."""
        if block < len(self.known):
            self.known[block] = 0


class FilterMatches:
    """The matching keys of a filter, kept as bits, and their places in `keys`."""

    def __init__(self, keys: array[int], blocks: KeyBlocks | None = None) -> None:
        self._keys = keys
        self.blocks = blocks or KeyBlocks()
        self._bits = (bytearray(), bytearray())
        """Bit per exchange id, bit per connection id (of connection rows)."""
        self._far: set[int] = set()
        """Matching keys whose id is too large for a bitmap (a damaged file's)."""
        self._counts = array("q")
        """Matches per block of positions; -1: to count again."""
        self._total: int | None = None
        self._counted_len = -1
        self._prefix = array("q")
        """Matches before each block (valid with `_total`)."""

    # -- membership -------------------------------------------------------------------

    def __contains__(self, key: int) -> bool:
        bits, row_id = (self._bits[0], key) if key > 0 else (self._bits[1], -key)
        byte = row_id >> 3
        if byte < len(bits):
            return bool(bits[byte] >> (row_id & 7) & 1)
        return key in self._far

    def add(self, key: int) -> None:
        """Mark a key matching without knowing where it sits (a search slice's)."""
        bits, row_id = (self._bits[0], key) if key > 0 else (self._bits[1], -key)
        byte = row_id >> 3
        if byte >= len(bits):
            if byte > 2 * len(self._keys) + (1 << 17):
                self._far.add(key)
                return
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits) // 2)))
        bits[byte] |= 1 << (row_id & 7)

    def add_at(self, key: int, position: int) -> None:
        """Mark a key at a known position of `keys` matching (a row that arrived)."""
        if key in self:
            return
        self.add(key)
        block = position // BLOCK
        if block < len(self._counts):
            self._counts[block] = -1
        self._total = None

    def forget(self, block: int) -> None:
        """A key of `block` was replaced: count its matches again."""
        if block < len(self._counts):
            self._counts[block] = -1
        self._total = None

    def covered(self, exchanges: bool, after: int, upto: int) -> None:
        """Ids in (after, upto] of one kind may have changed: recount their blocks."""
        first = 0 if exchanges else 2
        ranges, counts = self.blocks.ranges, self._counts
        for block in range(len(counts)):
            lo, hi = ranges[4 * block + first], ranges[4 * block + first + 1]
            if lo <= hi and lo <= upto and hi > after:
                counts[block] = -1
        self._total = None

    # -- counting and finding ---------------------------------------------------------

    def __len__(self) -> int:
        self._count()
        assert self._total is not None
        return self._total

    def _count(self) -> None:
        length = len(self._keys)
        if self._total is not None and length == self._counted_len:
            return
        blocks = -(-length // BLOCK)
        counts = self._counts
        if len(counts) and len(counts) * BLOCK > self._counted_len:
            counts[-1] = -1  # the last block was partial: it grew
        while len(counts) < blocks:
            counts.append(-1)
        while len(self.blocks.known) < blocks:
            self.blocks.ranges.extend((*_NO_RANGE, *_NO_RANGE))
            self.blocks.known.append(0)
        prefix = array("q", bytes(8 * blocks))
        total = 0
        for block in range(blocks):
            if counts[block] < 0:
                counts[block] = self._count_block(block)
            prefix[block] = total
            total += counts[block]
        self._prefix, self._total, self._counted_len = prefix, total, length

    def _count_block(self, block: int) -> int:
        ranges, at = self.blocks.ranges, 4 * block
        if self.blocks.known[block] and not self._far:
            lo, hi, conn_lo, conn_hi = ranges[at : at + 4]
            if hi - lo + 1 == BLOCK:  # a run of exchanges (keys are unique)
                return _popcount(self._bits[0], lo, hi)
            if conn_hi - conn_lo + 1 == BLOCK:  # a run of connection rows
                return _popcount(self._bits[1], conn_lo, conn_hi)
        keys = self._keys[block * BLOCK : (block + 1) * BLOCK]
        self.blocks.known[block] = len(keys) == BLOCK
        lo, hi = min(keys), max(keys)
        if lo > 0 and hi - lo + 1 == len(keys):
            ranges[at : at + 4] = array("q", (lo, hi, *_NO_RANGE))
            return _popcount(self._bits[0], lo, hi) if not self._far else self._walk_count(keys)
        if hi < 0 and hi - lo + 1 == len(keys):
            ranges[at : at + 4] = array("q", (*_NO_RANGE, -hi, -lo))
            return _popcount(self._bits[1], -hi, -lo) if not self._far else self._walk_count(keys)
        exchanges = [key for key in keys if key > 0]
        connections = [-key for key in keys if key < 0]
        ranges[at : at + 4] = array(
            "q",
            (
                *((min(exchanges), max(exchanges)) if exchanges else _NO_RANGE),
                *((min(connections), max(connections)) if connections else _NO_RANGE),
            ),
        )
        return self._walk_count(keys)

    def _walk_count(self, keys: array[int]) -> int:
        return sum(map(self.__contains__, keys))

    def keys_from(self, index: int, count: int) -> list[int]:
        """The keys of matches `index` to `index + count` (fewer at the end), in list order."""
        self._count()
        assert self._total is not None
        if not 0 <= index < self._total:
            return []
        prefix = self._prefix
        low, high = 0, len(prefix) - 1
        while low < high:  # the last block with fewer matches before it than `index`
            middle = (low + high + 1) // 2
            if prefix[middle] <= index:
                low = middle
            else:
                high = middle - 1
        skip = index - prefix[low]
        found: list[int] = []
        counts, keys = self._counts, self._keys
        for block in range(low, len(counts)):
            left = counts[block]  # matches in this block: the walk stops at its last one
            if left <= skip:
                skip -= left
                continue
            for key in keys[block * BLOCK : (block + 1) * BLOCK]:
                if key in self:
                    left -= 1
                    if skip:
                        skip -= 1
                    else:
                        found.append(key)
                        if len(found) == count:
                            return found
                    if not left:
                        break
        return found

    def __iter__(self) -> Iterator[int]:
        """Every match in list order (an export walks them; nothing is kept)."""
        return (key for key in self._keys if key in self)


class FilterSearch:
    """A filter's walk over the session file, a slice of ids per step."""

    def __init__(self, text: str, matches: FilterMatches, reader: SessionReader | None) -> None:
        self.text = text
        self.matches = matches
        self._reader = reader
        from netbench.store import traffic_id_ranges

        exchanges, connections = traffic_id_ranges(reader) if reader is not None else (0, 0)
        self._todo = [
            (kind, last) for kind, last in ((True, exchanges), (False, connections)) if last
        ]
        self._after = 0
        self._slice = _FIRST_SLICE

    @property
    def done(self) -> bool:
        return not self._todo

    def step(self, seconds: float = SLICE_SECONDS) -> bool:
        """Search for about `seconds`; True when it is done (StoreError if the file fails)."""
        from netbench.store import traffic_matches

        deadline = time.monotonic() + seconds
        while self._todo and time.monotonic() < deadline:
            exchanges, last = self._todo[0]
            upto = min(last, self._after + self._slice)
            started = time.monotonic()
            assert self._reader is not None
            for key in traffic_matches(
                self._reader, self.text, exchanges=exchanges, after=self._after, upto=upto
            ):
                self.matches.add(key)
            self.matches.covered(exchanges, self._after, upto)
            took = time.monotonic() - started
            # Aim each slice at a quarter of the step: rows cost what their bodies do.
            wanted = int(self._slice * seconds / 4 / max(took, 1e-4))
            self._slice = max(256, min(wanted, 4 * self._slice))
            self._after = upto
            if upto >= last:
                self._todo.pop(0)
                self._after = 0
        return not self._todo


def _popcount(bits: bytearray, lo: int, hi: int) -> int:
    """Bits lo..hi (inclusive) set in `bits`."""
    first, last = lo >> 3, hi >> 3
    if first >= len(bits):
        return 0
    value = int.from_bytes(bits[first : last + 1], "little") >> (lo & 7)
    return (value & ((1 << (hi - lo + 1)) - 1)).bit_count()
