"""Queries behind the UI's traffic list and byte view, kept fast for big sessions.

They read through a `SessionReader` (read-only, also while the session is
being written) and never load more than the rows or chunk asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from netbench.model import Direction, Endpoint, EndReason, Role
from netbench.store.chunk_meta import ChunkMeta
from netbench.store.damage import Columns
from netbench.store.reader import SessionReader, _enum_value, _latin1
from netbench.store.recordings import UncleanEnds


@dataclass(frozen=True, slots=True)
class TrafficRow:
    """One line of the traffic list: an HTTP exchange, or a connection without any.

    `key` is the exchange id for exchanges and minus the connection id for
    connection rows, so one integer names a row.
    """

    key: int
    conn_id: int
    exchange_id: int | None
    server_id: int | None
    role: Role
    t: float
    peer: Endpoint
    local: Endpoint
    method: bytes | None
    target: bytes | None
    status: int | None
    bytes_in: int | None
    bytes_out: int | None
    duration: float | None
    end_reason: EndReason | None
    error: str | None
    ended_uncleanly: bool = False
    """The connection was never closed: the recording was killed (store/recordings.py)."""
    first_bytes: bytes | None = None
    """A connection row's first chunk, its first `FIRST_BYTES` at most (None: no chunk)."""
    via: int | None = None
    """The connection whose request caused this one (a proxy's upstream leg: its client's)."""
    unanswered: bool = False
    """Recorded without a response byte sent, `error` saying why (a client gone first)."""


FIRST_BYTES = 48
"""How much of a connection's first chunk its row carries: a summary, not the data."""


_TRAFFIC_EXCHANGES = (
    "SELECT e.id, c.id, c.server_id, c.role, coalesce(e.t_request_start, e.t_response_start),"
    " c.peer_host, c.peer_port, c.local_host, c.local_port, e.method, e.target, e.status,"
    " e.req_body_len, e.resp_body_len, e.t_response_end - e.t_request_start, c.end_reason,"
    " coalesce(e.req_error, e.resp_error), {via}, e.status IS NULL AND e.resp_first_chunk < 0"
    " FROM exchanges e JOIN connections c ON c.id = e.conn_id"
)
_TRAFFIC_CONNECTIONS = (
    "SELECT NULL, c.id, c.server_id, c.role, c.opened, c.peer_host, c.peer_port,"
    " c.local_host, c.local_port, NULL, NULL, NULL, c.bytes_in, c.bytes_out,"
    " c.closed - c.opened, c.end_reason, c.detail, {via}, {first_chunk} FROM connections c"
)
_SEARCHED = (
    "e.method LIKE :q ESCAPE '\\' OR e.target LIKE :q ESCAPE '\\'"
    " OR e.req_headers LIKE :q ESCAPE '\\' OR e.resp_headers LIKE :q ESCAPE '\\'"
    " OR CAST(e.req_body AS TEXT) LIKE :q ESCAPE '\\'"
    " OR CAST(e.resp_body AS TEXT) LIKE :q ESCAPE '\\' OR CAST(e.status AS TEXT) = :s"
)


_CONNECTION = (
    " connections.server_id:int? connections.role:text {t} connections.peer_host:text"
    " connections.peer_port:int connections.local_host:text connections.local_port:int"
)
_EXCHANGE_ROW = Columns(
    "exchanges",
    "id:int connections.id:int"
    + _CONNECTION.format(t="t_request_start:time")
    + " method:text? target:text? status:int? req_body_len:int? resp_body_len:int?"
    " duration:real? connections.end_reason:text? error:text? connections.via_conn_id:int?"
    " unanswered:int?",
)
_CONNECTION_ROW = Columns(
    "connections",
    "exchange:int? id:int"
    + _CONNECTION.format(t="opened:time")
    + " method:int? target:int? status:int? bytes_in:int? bytes_out:int? duration:real?"
    " end_reason:text? detail:text? via_conn_id:int? chunk_blocks.meta:text?"
    " chunk_rows.data:blob?",
)


def _traffic_row(row: tuple[Any, ...], reader: SessionReader, unclean: UncleanEnds) -> TrafficRow:
    where = str(reader.path)
    first_bytes = None
    if row[0] is None:
        row = _CONNECTION_ROW.check(row, where)
        first_bytes = reader.chunk_tables.first_chunk(*row[18:])
    else:
        row = _EXCHANGE_ROW.check(row, where)
    (exchange_id, conn_id, server_id, role, t, phost, pport, lhost, lport) = row[:9]
    (method, target, status, bytes_in, bytes_out, duration, end_reason, error, via) = row[9:18]
    unanswered = row[0] is not None and bool(row[18])
    return TrafficRow(
        key=exchange_id if exchange_id is not None else -conn_id,
        conn_id=conn_id,
        exchange_id=exchange_id,
        server_id=server_id,
        role=_enum_value(Role, role, where),
        t=t,
        peer=Endpoint(phost, pport),
        local=Endpoint(lhost, lport),
        method=None if method is None else _latin1(method),
        target=None if target is None else _latin1(target),
        status=status,
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        duration=duration,
        end_reason=None if end_reason is None else _enum_value(EndReason, end_reason, where),
        error=error,
        ended_uncleanly=unclean.connection(conn_id, closed=end_reason is not None),
        first_bytes=first_bytes,
        via=via,
        unanswered=unanswered,
    )


def traffic_rows(reader: SessionReader, keys: list[int]) -> dict[int, TrafficRow]:
    """The rows for these keys (those not yet recorded are simply missing)."""
    exchange_ids = [key for key in keys if key > 0]
    conn_ids = [-key for key in keys if key < 0]
    rows: dict[int, TrafficRow] = {}
    unclean = reader.unclean_ends()
    via = "c.via_conn_id" if reader.schema_version >= 6 else "NULL"
    exchanges = _TRAFFIC_EXCHANGES.format(via=via)
    connections = _TRAFFIC_CONNECTIONS.format(
        via=via, first_chunk=reader.chunk_tables.first_chunk_sql(FIRST_BYTES)
    )
    for start in range(0, max(len(exchange_ids), len(conn_ids)), 500):
        for ids, sql, column in (
            (exchange_ids, exchanges, "e.id"),
            (conn_ids, connections, "c.id"),
        ):
            part = ids[start : start + 500]
            if part:
                marks = ",".join("?" * len(part))
                for row in reader._query(f"{sql} WHERE {column} IN ({marks})", tuple(part)):
                    traffic = _traffic_row(row, reader, unclean)
                    rows[traffic.key] = traffic
    return rows


def _search_params(text: str) -> dict[str, object]:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"q": f"%{escaped}%", "s": text.strip()}


def traffic_search(reader: SessionReader, text: str) -> set[int]:
    """Keys of recorded rows whose method, path, headers, bodies or status contain `text`."""
    ranges = traffic_id_ranges(reader)
    keys = set(traffic_matches(reader, text, exchanges=True, after=0, upto=ranges[0]))
    keys.update(traffic_matches(reader, text, exchanges=False, after=0, upto=ranges[1]))
    return keys


def traffic_id_ranges(reader: SessionReader) -> tuple[int, int]:
    """The largest exchange id and connection id recorded so far (0: none)."""
    row = reader._query(
        "SELECT (SELECT coalesce(max(id), 0) FROM exchanges),"
        " (SELECT coalesce(max(id), 0) FROM connections)"
    ).fetchone()
    return int(row[0]), int(row[1])


def traffic_matches(
    reader: SessionReader, text: str, *, exchanges: bool, after: int, upto: int
) -> Iterator[int]:
    """`traffic_search` over one id range (`after < id <= upto`) of exchanges or of
    connections without any, streamed: a filter over a million rows walks the
    file a slice at a time and never holds the matches in a list."""
    params = {**_search_params(text), "after": after, "upto": upto}
    if exchanges:
        rows = reader._query(
            f"SELECT e.id FROM exchanges e WHERE e.id > :after AND e.id <= :upto AND ({_SEARCHED})",
            params,
        )
        return (row[0] for row in rows)
    rows = reader._query(
        "SELECT c.id FROM connections c WHERE c.id > :after AND c.id <= :upto AND NOT EXISTS"
        " (SELECT 1 FROM exchanges e WHERE e.conn_id = c.id) AND c.id IN"
        f" ({reader.chunk_tables.matching_connections_sql(id_range=True)})",
        params,
    )
    return (-row[0] for row in rows)


def chunk_index(reader: SessionReader, conn_id: int, after_seq: int = -1) -> list[ChunkMeta]:
    """A connection's chunks without their bytes; with `after_seq` (the last seq
    of an index read before) only those recorded since."""
    where = str(reader.path)
    return [
        ChunkMeta(seq, _enum_value(Direction, direction, where), t, offset, length)
        for seq, direction, t, offset, length in reader.chunk_tables.index(conn_id, after_seq)
    ]


def chunk_data(reader: SessionReader, conn_id: int, seq: int) -> bytes:
    return reader.chunk_tables.data(conn_id, seq) or b""


def stream_bytes(
    reader: SessionReader, conn_id: int, direction: Direction, start: int, size: int
) -> bytes:
    """Bytes [start, start + size) of one direction of a connection, as recorded.

    Shorter when the stream is (still) shorter. The ladder uses it to show a
    data segment's first bytes when only its headers were captured.
    """
    wanted = direction.value
    end = start + size
    found = bytearray()
    for seq, chunk_direction, _t, offset, length in reader.chunk_tables.index(conn_id):
        if chunk_direction != wanted or offset + length <= start:
            continue
        if offset >= end or offset > start + len(found):
            break  # past the range, or a gap: never show bytes out of place
        data = reader.chunk_tables.data(conn_id, seq) or b""
        found += data[start + len(found) - offset : end - offset]
    return bytes(found)


def traffic_keys(reader: SessionReader) -> list[int]:
    """Every row's key in time order (for a session opened read-only)."""
    rows = reader._query(
        "SELECT id, t_request_start FROM exchanges UNION ALL"
        " SELECT -c.id, c.opened FROM connections c WHERE NOT EXISTS"
        " (SELECT 1 FROM exchanges e WHERE e.conn_id = c.id) ORDER BY 2"
    )
    return [key for key, _t in rows]
