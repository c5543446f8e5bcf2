"""Chunks stored in blocks: many of a connection's chunks in one row.

Why: SQLite spends ~4-5 µs on each row it inserts on this kind of machine,
and a keep-alive request brings two chunks (the request, the response). At
tens of thousands of requests per second one row per chunk was most of what
recording cost. The writer packs the chunks of one batch (one flush
interval) per connection into a block: one row per connection per batch.

Rules:
- a block holds consecutive chunks of one connection: seq `first_seq`,
  `first_seq + 1`, ... `last_seq`, in order, without gaps;
- `meta` is a JSON array with one `[direction, ns, offset, start, length]`
  per chunk (`ns` the nanoseconds since the block's `t0`, in unix seconds;
  `start` the chunk's position in `data`), so SQLite's own `json_each` can
  unpack it: the `chunks` view does, and keeps the documented
  one-row-per-chunk shape for `sqlite3` users;
- a block takes no more chunks once its data reaches `BLOCK_BYTES`, so
  reading one chunk loads at most that much plus the chunk itself (chunks
  are bounded by the recv size or one write);
- netbench itself reads `meta` and slices `data` in Python, never through
  the view, and never loads a block's `data` to lay out a byte view;
- files written before schema 3 have their chunks one per row in a table
  named `chunks`; since schema 3 those rows live in `chunk_rows` (a file
  migrated while appending keeps them there) and both are read together.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from netbench.events import ChunkRecorded

BLOCK_BYTES = 64 * 1024
_CACHED_BLOCK_BYTES = 4 * BLOCK_BYTES

Row = tuple[Any, ...]
Query = Callable[[str, tuple[Any, ...]], sqlite3.Cursor]
Chunk = tuple[int, str, float, int, bytes]
"""(seq, direction, t, offset, data), as `chunks` rows are."""
ChunkInfo = tuple[int, str, float, int, int]
"""(seq, direction, t, offset, length): a chunk without its bytes."""


def pack_blocks(chunks: Sequence[ChunkRecorded], mono: float, wall: float) -> list[Row]:
    """`chunk_blocks` rows for a batch of chunk events (any connections, in arrival order).

    The anchors turn the events' monotonic `t` into unix time, exactly as the
    writer does for every other time. This runs for every chunk recorded, on
    the writer thread but holding the GIL the servers need: each chunk costs a
    few list operations and one f-string (integers format ~3x faster than
    floats, hence nanoseconds after the block's first chunk).
    """
    rows: list[Row] = []
    open_blocks: dict[int, list[Any]] = {}
    # A block in the making: [conn_id, first_seq, next_seq, size, t0, meta, parts].
    for conn_id, seq, direction, offset, data, t in chunks:
        block = open_blocks.get(conn_id)
        if block is None or seq != block[2] or block[3] >= BLOCK_BYTES:
            if block is not None:
                rows.append(_block_row(block, mono, wall))
            block = open_blocks[conn_id] = [conn_id, seq, seq, 0, t, [], []]
        size = block[3]
        length = len(data)
        # _value_, not .value: Enum's property costs ten times the attribute.
        block[5].append(
            f'["{direction._value_}",{round((t - block[4]) * 1e9)},{offset},{size},{length}]'
        )
        block[6].append(data)
        block[2] = seq + 1
        block[3] = size + length
    rows.extend(_block_row(block, mono, wall) for block in open_blocks.values())
    return rows


def _block_row(block: list[Any], mono: float, wall: float) -> Row:
    conn_id, first_seq, next_seq, _size, t0, meta, parts = block
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    return (conn_id, first_seq, next_seq - 1, wall + (t0 - mono), f"[{','.join(meta)}]", data)


INSERT_BLOCK = (
    "INSERT INTO chunk_blocks (conn_id, first_seq, last_seq, t0, meta, data)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


class ChunkTables:
    """Reads a session's chunks from whichever tables its schema version has."""

    def __init__(self, query: Query, schema_version: int) -> None:
        self._query = query
        self.blocks = schema_version >= 3
        self.rows_table = "chunk_rows" if self.blocks else "chunks"
        # Since schema 3 nothing writes chunk_rows: an upgraded file's old rows
        # are all there is, so whether to look there is known once.
        self._rows = not self.blocks or bool(
            self._query("SELECT 1 FROM chunk_rows LIMIT 1", ()).fetchone()
        )
        self._block: tuple[int, int, int, list[list[Any]], bytes | None] | None = None
        """The block read last, (conn_id, first_seq, last_seq, meta, data if small):
        a byte view reads a connection's chunks one after another."""

    def count(self) -> int:
        total = int(self._query(f"SELECT count(*) FROM {self.rows_table}", ()).fetchone()[0])
        if self.blocks:
            row = self._query(
                "SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM chunk_blocks", ()
            ).fetchone()
            total += int(row[0])
        return total

    def index(self, conn_id: int, after_seq: int = -1) -> list[ChunkInfo]:
        """Every chunk of a connection without its bytes, by seq (those after
        `after_seq`, the last of an index read before: blocks are written
        whole and in seq order, so the new chunks are in new blocks)."""
        found: list[ChunkInfo] = list(
            self._query(
                f"SELECT seq, direction, t, offset, length(data) FROM {self.rows_table}"
                " WHERE conn_id = ? AND seq > ? ORDER BY seq",
                (conn_id, after_seq),
            )
        )
        if self.blocks:
            blocks = self._query(
                "SELECT first_seq, t0, meta FROM chunk_blocks"
                " WHERE conn_id = ? AND first_seq > ? ORDER BY first_seq",
                (conn_id, after_seq),
            )
            from_blocks = [
                (first + index, direction, t0 + ns / 1e9, offset, length)
                for first, t0, meta in blocks
                for index, (direction, ns, offset, _start, length) in enumerate(json.loads(meta))
            ]
            found = _merged(found, from_blocks) if found else from_blocks
        return found

    def data(self, conn_id: int, seq: int) -> bytes | None:
        """One chunk's bytes (None when there is no such chunk)."""
        if self._rows:
            row = self._query(
                f"SELECT data FROM {self.rows_table} WHERE conn_id = ? AND seq = ?",
                (conn_id, seq),
            ).fetchone()
            if row is not None:
                return bytes(row[0])
        if not self.blocks:
            return None
        block = self._block
        if block is None or block[0] != conn_id or not block[1] <= seq <= block[2]:
            block = self._read_block(conn_id, seq)
            if block is None:
                return None
        _conn, first, _last, meta, data = block
        _direction, _ns, _offset, start, length = meta[seq - first]
        if not length:
            return b""  # (substr of an empty BLOB is NULL: a block of empty datagrams)
        if data is not None:
            return data[start : start + length]
        # substr on a BLOB counts bytes, from 1.
        part = self._query(
            "SELECT substr(data, ?, ?) FROM chunk_blocks WHERE conn_id = ? AND first_seq = ?",
            (start + 1, length, conn_id, first),
        ).fetchone()
        return bytes(part[0])

    def _read_block(
        self, conn_id: int, seq: int
    ) -> tuple[int, int, int, list[list[Any]], bytes | None] | None:
        found = self._query(
            "SELECT first_seq, last_seq, meta, length(data) FROM chunk_blocks"
            " WHERE conn_id = ? AND first_seq <= ? AND last_seq >= ?",
            (conn_id, seq, seq),
        ).fetchone()
        if found is None:
            return None
        first, last, meta, size = found
        data = None
        if size <= _CACHED_BLOCK_BYTES:  # a block with a huge chunk is sliced in SQLite
            row = self._query(
                "SELECT data FROM chunk_blocks WHERE conn_id = ? AND first_seq = ?",
                (conn_id, first),
            ).fetchone()
            data = bytes(row[0])
        self._block = (conn_id, first, last, json.loads(meta), data)
        return self._block

    def chunks(self, conn_id: int) -> Iterator[Chunk]:
        """A connection's chunks by seq, bytes included, fetched as iterated."""
        rows = self._query(
            f"SELECT seq, direction, t, offset, data FROM {self.rows_table}"
            " WHERE conn_id = ? ORDER BY seq",
            (conn_id,),
        )
        if not self.blocks:
            yield from ((seq, d, t, offset, bytes(data)) for seq, d, t, offset, data in rows)
            return
        pending = [(seq, d, t, offset, bytes(data)) for seq, d, t, offset, data in rows]
        blocks = self._query(
            "SELECT first_seq, t0, meta, data FROM chunk_blocks"
            " WHERE conn_id = ? ORDER BY first_seq",
            (conn_id,),
        )
        at = 0
        for first, t0, meta, data in blocks:
            for index, (direction, ns, offset, start, length) in enumerate(json.loads(meta)):
                seq = first + index
                while at < len(pending) and pending[at][0] < seq:
                    yield pending[at]
                    at += 1
                yield seq, direction, t0 + ns / 1e9, offset, bytes(data[start : start + length])
        yield from pending[at:]

    def byte_count_sql(self, direction: str) -> str:
        """A scalar subquery: the bytes of `connections.id` in one direction so far."""
        rows = (
            f"(SELECT coalesce(sum(length(data)), 0) FROM {self.rows_table}"
            f" WHERE conn_id = connections.id AND direction = '{direction}')"
        )
        if not self.blocks:
            return rows
        # Lengths come from meta: the data itself is never loaded for a count.
        blocks = (
            "(SELECT coalesce(sum(json_extract(j.value, '$[4]')), 0)"
            " FROM chunk_blocks AS b, json_each(b.meta) AS j"
            f" WHERE b.conn_id = connections.id AND json_extract(j.value, '$[0]') = '{direction}')"
        )
        return f"({rows} + {blocks})"

    def matching_connections_sql(self) -> str:
        """Connection ids whose recorded bytes contain the LIKE pattern `:q`."""
        rows = f"SELECT conn_id FROM {self.rows_table} WHERE CAST(data AS TEXT) LIKE :q ESCAPE '\\'"
        if not self.blocks:
            return rows
        # Chunk by chunk, as before blocks: TEXT ends at a NUL byte, so one
        # binary chunk must not hide the rest of its block, and a match must
        # not join the end of a request to the start of its response.
        return rows + (
            " UNION SELECT b.conn_id FROM chunk_blocks AS b, json_each(b.meta) AS j"
            " WHERE CAST(substr(b.data, json_extract(j.value, '$[3]') + 1,"
            " json_extract(j.value, '$[4]')) AS TEXT) LIKE :q ESCAPE '\\'"
        )


def _merged(a: list[ChunkInfo], b: list[ChunkInfo]) -> list[ChunkInfo]:
    return sorted(a + b, key=lambda chunk: chunk[0])
