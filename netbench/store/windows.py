"""Windows onto one long connection: a part of its chunks or exchanges, and how many.

Why: a keep-alive connection can carry a million exchanges (two million
chunks). A view shows a screenful of them; reading the whole index to lay
one out took seconds and held the session's WAL meanwhile. Every query here
is an index lookup or a range scan of the window asked for:

- chunks are numbered by `seq`, 0, 1, 2... on their connection (the engine
  numbers them as it reads and writes), so a chunk's position is its seq and
  the count is the last seq + 1 (one lookup at the end of the
  `(conn_id, first_seq)` or `(conn_id, seq)` index);
- a chunk window is seqs [first, first + count): the blocks that overlap it
  (at most one starts before it) and the rows in it;
- exchanges are ordered by `(idx, id)` on their connection, the
  `exchanges_conn` index; `idx` counts a connection's requests from 0, so
  their count is the last `idx` + 1 and those without one (a response
  alone), and a window is a LIMIT/OFFSET over that index;
- an open connection's byte counts are the ends of its two streams (the
  last chunk of each direction, found from the end), not a sum over every
  chunk: the row a view shows costs the same at any length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from netbench.model import Direction, Endpoint
from netbench.store.chunk_meta import ChunkMeta, ChunkWindow
from netbench.store.packets import packet_count_between
from netbench.store.reader import (
    _EXCHANGE,
    _EXCHANGE_COLUMNS,
    ConnectionRow,
    ExchangeRow,
    SessionReader,
)
from netbench.store.reader import _enum_value as enum_value
from netbench.store.reader import _exchange as exchange_row


@dataclass(frozen=True, slots=True)
class ExchangeWindow:
    """Exchanges `start` to `start + len(exchanges) - 1` of a connection, and how many it has."""

    start: int
    exchanges: list[ExchangeRow]
    total: int


def chunk_count(reader: SessionReader, conn_id: int) -> int:
    """How many chunks the connection has so far (its last seq + 1; 0 without any)."""
    tables = reader.chunk_tables
    row = reader._query(
        f"SELECT max(seq) FROM {tables.rows_table} WHERE conn_id = ?", (conn_id,)
    ).fetchone()
    last = row[0] if row is not None and isinstance(row[0], int) else -1
    if tables.blocks:
        row = reader._query(
            "SELECT last_seq FROM chunk_blocks WHERE conn_id = ? ORDER BY first_seq DESC LIMIT 1",
            (conn_id,),
        ).fetchone()
        if row is not None and isinstance(row[0], int):
            last = max(last, row[0])
    return last + 1


def chunk_window(reader: SessionReader, conn_id: int, first: int, count: int) -> ChunkWindow:
    """Chunks with seq in [first, first + count), without their bytes, and the total."""
    first = max(0, first)
    end = first + max(0, count)
    where = str(reader.path)
    found = [
        ChunkMeta(seq, enum_value(Direction, direction, where), t, offset, length)
        for seq, direction, t, offset, length in reader.chunk_tables.index_range(
            conn_id, first, end
        )
    ]
    return ChunkWindow(first, found, chunk_count(reader, conn_id))


def exchange_count(reader: SessionReader, conn_id: int) -> int:
    """How many exchanges the connection has: its last `idx` + 1, and those without one."""
    row = reader._query(
        "SELECT max(idx), (SELECT count(*) FROM exchanges WHERE conn_id = ? AND idx IS NULL)"
        " FROM exchanges WHERE conn_id = ?",
        (conn_id, conn_id),
    ).fetchone()
    if row is None:
        return 0
    last, unnumbered = row
    return (last + 1 if isinstance(last, int) else 0) + int(unnumbered or 0)


def exchange_window(
    reader: SessionReader, conn_id: int, start: int, count: int, *, include_bodies: bool = False
) -> ExchangeWindow:
    """Exchanges [start, start + count) of a connection in `(idx, id)` order, and the total."""
    rows = _exchanges(
        reader,
        "WHERE conn_id = ? ORDER BY idx, id LIMIT ? OFFSET ?",
        (conn_id, max(0, count), max(0, start)),
        include_bodies,
    )
    return ExchangeWindow(max(0, start), rows, exchange_count(reader, conn_id))


def exchange(
    reader: SessionReader, exchange_id: int, *, include_bodies: bool = True
) -> ExchangeRow | None:
    """One exchange by its id (None when not recorded yet)."""
    rows = _exchanges(reader, "WHERE id = ?", (exchange_id,), include_bodies)
    return rows[0] if rows else None


def _exchanges(
    reader: SessionReader, tail: str, params: tuple[Any, ...], include_bodies: bool
) -> list[ExchangeRow]:
    columns = _EXCHANGE_COLUMNS.format(
        req_body="req_body" if include_bodies else "NULL",
        resp_body="resp_body" if include_bodies else "NULL",
    )
    where = str(reader.path)
    return [
        exchange_row(_EXCHANGE.check(row, where), where)
        for row in reader._query(f"SELECT {columns} FROM exchanges {tail}", params)
    ]


_CONNECTION_ROW = (
    "SELECT id, server_id, role, transport, local_host, local_port, peer_host, peer_port,"
    " opened, closed, end_reason, detail, coalesce(bytes_in, -1), coalesce(bytes_out, -1), {via}"
    " FROM connections WHERE id = ?"
)
_BACKWARDS = 64
"""Chunks read first when looking for the end of each stream (then twice as many each time)."""


def connection(reader: SessionReader, conn_id: int) -> ConnectionRow | None:
    """`reader.connection(conn_id)`, its byte counts read from its streams' ends
    while it is open (the reader sums every chunk, seconds for millions)."""
    via = "via_conn_id" if reader.schema_version >= 6 else "NULL"
    row = reader._query(_CONNECTION_ROW.format(via=via), (conn_id,)).fetchone()
    if row is None:
        return None
    row = tuple(row)
    if row[12] == -1 or row[13] == -1:
        sizes = stream_sizes(reader, conn_id)
        row = (*row[:12], sizes[Direction.IN], sizes[Direction.OUT], row[14])
    return reader._connection(row, reader.unclean_ends())


def stream_sizes(reader: SessionReader, conn_id: int) -> dict[Direction, int]:
    """Bytes recorded so far in each direction: where its last chunk ends."""
    sizes: dict[Direction, int] = {}
    end, step = chunk_count(reader, conn_id), _BACKWARDS
    while end > 0 and len(sizes) < 2:
        window = chunk_window(reader, conn_id, end - step, end - max(0, end - step))
        for meta in reversed(window.chunks):
            sizes.setdefault(meta.direction, meta.offset + meta.length)
        end, step = window.first, 2 * step
    return {direction: sizes.get(direction, 0) for direction in Direction}


def connection_opened(reader: SessionReader, conn_id: int) -> float | None:
    """When the connection opened (None: not recorded yet), without its byte counts."""
    row = reader._query("SELECT opened FROM connections WHERE id = ?", (conn_id,)).fetchone()
    return float(row[0]) if row is not None and isinstance(row[0], int | float) else None


def ladder_mark(reader: SessionReader, conn_id: int, margin: float = 2.0) -> tuple[object, ...]:
    """What a connection's TCP ladder is made of, counted: its end, socket events,
    packets (within `margin` seconds of its life), chunks and the capture statuses.
    Index lookups and counts: a view compares two marks to know whether to reload."""
    row = reader._query(
        "SELECT local_host, local_port, peer_host, peer_port, opened, closed,"
        " (SELECT count(*) FROM socket_events WHERE conn_id = connections.id)"
        " FROM connections WHERE id = ?",
        (conn_id,),
    ).fetchone()
    if row is None:
        return ()
    lhost, lport, phost, pport, opened, closed, socket_events = row
    end = (closed if isinstance(closed, int | float) else time.time()) + margin
    packets = packet_count_between(
        reader, Endpoint(lhost, lport), Endpoint(phost, pport), opened - margin, end
    )
    statuses = (
        reader._query("SELECT count(*) FROM capture").fetchone()[0]
        if reader.schema_version >= 2
        else 0
    )
    return closed, socket_events, packets, chunk_count(reader, conn_id), statuses
