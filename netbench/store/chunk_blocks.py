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
  migrated while appending keeps them there) and both are read together;
- a `meta` of any other form than the writer's, or a block whose `meta`
  does not list its `first_seq` to `last_seq`, is damage (store/damage.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from netbench.events import ChunkRecorded
from netbench.store.damage import Columns, Rows, damaged
from netbench.store.errors import DamagedFileError

BLOCK_BYTES = 64 * 1024
_CACHED_BLOCK_BYTES = 4 * BLOCK_BYTES

Row = tuple[Any, ...]
Query = Callable[[str, tuple[Any, ...]], Rows]
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


_META = re.compile(r'\[(?:\["(?:in|out)",-?\d{1,16}(?:,\d{1,19}){3}\],?)*\]')
"""`meta` as `pack_blocks` writes it (a JSON array of `[direction, ns, offset,
start, length]`): checked in one pass in C before it is trusted."""
_FIRST_META = re.compile(r'\[\["(?:in|out)",-?\d{1,16},\d{1,19},\d{1,19},(\d{1,19})\]')
"""The first entry of a block's `meta`, for the length of its first chunk."""
_FIRST_META_CHARS = 100
"""Enough of `meta` for its first entry (at most 78 characters)."""
_ROW_INFO = Columns("chunk_rows", "seq:int direction:text t:time offset:size length:size")
_ROW = Columns("chunk_rows", "seq:int direction:text t:time offset:size data:blob")
_ROW_DATA = Columns("chunk_rows", "data:blob")
_BLOCK_INFO = Columns("chunk_blocks", "first_seq:int t0:time meta:text")
_BLOCK_FOUND = Columns("chunk_blocks", "first_seq:int last_seq:int meta:text length:int")
_BLOCK = Columns("chunk_blocks", "first_seq:int t0:time meta:text data:blob")
_BLOCK_DATA = Columns("chunk_blocks", "data:blob?")
_SEQ_SUM = Columns("chunk_blocks", "last_seq:int")
"""The sum of the blocks' `last_seq - first_seq + 1` (no integer when a value is none)."""

INSERT_BLOCK = (
    "INSERT INTO chunk_blocks (conn_id, first_seq, last_seq, t0, meta, data)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


class ChunkTables:
    """Reads a session's chunks from whichever tables its schema version has."""

    def __init__(self, query: Query, schema_version: int, where: str) -> None:
        self._query = query
        self._where = where
        self.blocks = schema_version >= 3
        self.rows_table = "chunk_rows" if self.blocks else "chunks"
        # Since schema 3 nothing writes chunk_rows: an upgraded file's old rows
        # are all there is, so whether to look there is known once.
        try:
            self._rows = not self.blocks or bool(
                self._query("SELECT 1 FROM chunk_rows LIMIT 1", ()).fetchone()
            )
        except DamagedFileError:
            self._rows = True  # the damage is told when chunks are read, not on opening
        self._block: tuple[int, int, int, list[list[Any]], bytes | None] | None = None
        """The block read last, (conn_id, first_seq, last_seq, meta, data if small):
        a byte view reads a connection's chunks one after another."""

    def count(self) -> int:
        total = int(self._query(f"SELECT count(*) FROM {self.rows_table}", ()).fetchone()[0])
        if self.blocks:
            row = self._query(
                "SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM chunk_blocks", ()
            ).fetchone()
            total += _SEQ_SUM.check(row, self._where)[0]
        return total

    def index(self, conn_id: int, after_seq: int = -1) -> list[ChunkInfo]:
        """Every chunk of a connection without its bytes, by seq (those after
        `after_seq`, the last of an index read before: blocks are written
        whole and in seq order, so the new chunks are in new blocks)."""
        where = self._where
        found: list[ChunkInfo] = [
            _ROW_INFO.check(row, where)
            for row in self._query(
                f"SELECT seq, direction, t, offset, length(data) FROM {self.rows_table}"
                " WHERE conn_id = ? AND seq > ? ORDER BY seq",
                (conn_id, after_seq),
            )
        ]
        if self.blocks:
            blocks = self._query(
                "SELECT first_seq, t0, meta FROM chunk_blocks"
                " WHERE conn_id = ? AND first_seq > ? ORDER BY first_seq",
                (conn_id, after_seq),
            )
            from_blocks = [
                (first + index, direction, t0 + ns / 1e9, offset, length)
                for first, t0, meta in (_BLOCK_INFO.check(row, where) for row in blocks)
                for index, (direction, ns, offset, _start, length) in enumerate(self._meta(meta))
            ]
            found = _merged(found, from_blocks) if found else from_blocks
        return found

    def index_range(self, conn_id: int, first: int, end: int) -> list[ChunkInfo]:
        """The chunks with seq in [first, end) without their bytes, by seq: the
        rows in it and the blocks that overlap it (one at most starts before)."""
        where = self._where
        found: list[ChunkInfo] = []
        if self._rows:
            found = [
                _ROW_INFO.check(row, where)
                for row in self._query(
                    f"SELECT seq, direction, t, offset, length(data) FROM {self.rows_table}"
                    " WHERE conn_id = ? AND seq >= ? AND seq < ? ORDER BY seq",
                    (conn_id, first, end),
                )
            ]
        if not self.blocks or end <= first:
            return found
        row = self._query(
            "SELECT max(first_seq) FROM chunk_blocks WHERE conn_id = ? AND first_seq <= ?",
            (conn_id, first),
        ).fetchone()
        start = row[0] if row is not None and isinstance(row[0], int) else first
        blocks = self._query(
            "SELECT first_seq, t0, meta FROM chunk_blocks"
            " WHERE conn_id = ? AND first_seq >= ? AND first_seq < ? ORDER BY first_seq",
            (conn_id, start, end),
        )
        from_blocks = [
            (seq, direction, t0 + ns / 1e9, offset, length)
            for block_first, t0, meta in (_BLOCK_INFO.check(row, where) for row in blocks)
            for seq, (direction, ns, offset, _start, length) in enumerate(
                self._meta(meta), block_first
            )
            if first <= seq < end
        ]
        return _merged(found, from_blocks) if found else from_blocks

    def data(self, conn_id: int, seq: int) -> bytes | None:
        """One chunk's bytes (None when there is no such chunk)."""
        if self._rows:
            row = self._query(
                f"SELECT data FROM {self.rows_table} WHERE conn_id = ? AND seq = ?",
                (conn_id, seq),
            ).fetchone()
            if row is not None:
                return bytes(_ROW_DATA.check(row, self._where)[0])
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
        return b"" if part is None else bytes(_BLOCK_DATA.check(part, self._where)[0] or b"")

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
        first, last, meta, size = _BLOCK_FOUND.check(found, self._where)
        entries = self._meta(meta)
        if len(entries) != last - first + 1:
            count = last - first + 1
            raise damaged(
                self._where, f"a block of {count} chunks lists {len(entries)} in its meta"
            )
        data = None
        if size <= _CACHED_BLOCK_BYTES:  # a block with a huge chunk is sliced in SQLite
            row = self._query(
                "SELECT data FROM chunk_blocks WHERE conn_id = ? AND first_seq = ?",
                (conn_id, first),
            ).fetchone()
            data = bytes(_BLOCK_DATA.check(row, self._where)[0] or b"")
        self._block = (conn_id, first, last, entries, data)
        return self._block

    def _meta(self, text: str) -> list[list[Any]]:
        """A block's `meta`, parsed; anything but what the writer writes is damage."""
        if _META.fullmatch(text):
            try:
                return list(json.loads(text))
            except ValueError:
                pass  # a trailing comma
        raise damaged(self._where, "chunk_blocks.meta is not a list of chunks")

    def chunks(self, conn_id: int) -> Iterator[Chunk]:
        """A connection's chunks by seq, bytes included, fetched as iterated."""
        rows = self._query(
            f"SELECT seq, direction, t, offset, data FROM {self.rows_table}"
            " WHERE conn_id = ? ORDER BY seq",
            (conn_id,),
        )
        where = self._where
        checked = (_ROW.check(row, where) for row in rows)
        if not self.blocks:
            yield from checked
            return
        pending = list(checked)
        blocks = self._query(
            "SELECT first_seq, t0, meta, data FROM chunk_blocks"
            " WHERE conn_id = ? ORDER BY first_seq",
            (conn_id,),
        )
        at = 0
        for first, t0, meta, data in (_BLOCK.check(row, where) for row in blocks):
            for index, (direction, ns, offset, start, length) in enumerate(self._meta(meta)):
                seq = first + index
                while at < len(pending) and pending[at][0] < seq:
                    yield pending[at]
                    at += 1
                yield seq, direction, t0 + ns / 1e9, offset, bytes(data[start : start + length])
        yield from pending[at:]

    def first_chunk_sql(self, size: int) -> str:
        """Two scalar subqueries on `c.id`: the meta of its first block (NULL when
        its first chunk is a row), and its first `size` bytes (several chunks'
        when in a block: `first_chunk` cuts them to the first chunk's)."""
        rows = (
            f"(SELECT substr(data, 1, {size}) FROM {self.rows_table}"
            " WHERE conn_id = c.id AND seq = 0)"
        )
        if not self.blocks:
            return f"NULL, {rows}"
        block = "(SELECT substr({column}) FROM chunk_blocks WHERE conn_id = c.id AND first_seq = 0)"
        meta = block.format(column=f"meta, 1, {_FIRST_META_CHARS}")
        data = block.format(column=f"data, 1, {size}")
        return f"{meta}, {data}" if not self._rows else f"{meta}, coalesce({rows}, {data})"

    def first_chunk(self, meta: str | None, data: bytes | None) -> bytes | None:
        """The first chunk's bytes from what `first_chunk_sql` read (None: no chunk)."""
        if meta is None:
            return data
        found = _FIRST_META.match(meta)
        if found is None:
            raise damaged(self._where, "chunk_blocks.meta is not a list of chunks")
        return (data or b"")[: int(found[1])]  # (substr of an empty BLOB is NULL)

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

    def matching_connections_sql(self, id_range: bool = False) -> str:
        """Connection ids whose recorded bytes contain the LIKE pattern `:q`
        (`id_range`: only those in `:after < conn_id <= :upto`, an index range)."""
        only = " AND {conn} > :after AND {conn} <= :upto" if id_range else ""
        rows = (
            f"SELECT conn_id FROM {self.rows_table}"
            f" WHERE CAST(data AS TEXT) LIKE :q ESCAPE '\\'{only.format(conn='conn_id')}"
        )
        if not self.blocks:
            return rows
        # Chunk by chunk, as before blocks: TEXT ends at a NUL byte, so one
        # binary chunk must not hide the rest of its block, and a match must
        # not join the end of a request to the start of its response.
        return rows + (
            " UNION SELECT b.conn_id FROM chunk_blocks AS b, json_each(b.meta) AS j"
            " WHERE CAST(substr(b.data, json_extract(j.value, '$[3]') + 1,"
            " json_extract(j.value, '$[4]')) AS TEXT) LIKE :q ESCAPE '\\'"
            + only.format(conn="b.conn_id")
        )


def _merged(a: list[ChunkInfo], b: list[ChunkInfo]) -> list[ChunkInfo]:
    return sorted(a + b, key=lambda chunk: chunk[0])
