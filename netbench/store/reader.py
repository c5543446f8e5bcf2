"""Read a session file, read-only, even while a writer is recording into it.

Rows come back as small frozen dataclasses. Times are unix wall-clock
seconds, as stored. HTTP fields come back as the bytes they were on the wire
(the store keeps them as latin-1 text, which is lossless), so callers must
still pass them through `netbench.protocol.textsafe` before showing them.
A damaged file reads as far as it can (store/damage.py): what cannot be
read raises `DamagedFileError`.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from netbench.model import (
    Direction,
    Endpoint,
    EndReason,
    Headers,
    HttpRequest,
    HttpResponse,
    Role,
    SocketEventKind,
    Transport,
)
from netbench.store import schema
from netbench.store.chunk_blocks import ChunkTables
from netbench.store.damage import (
    Columns,
    Rows,
    cut_in_header,
    damaged,
    decode_text,
    load_json,
    read_error,
)
from netbench.store.errors import StoreError, one_line
from netbench.store.recordings import RecordingRow, UncleanEnds, read_recordings


@dataclass(frozen=True, slots=True)
class SessionInfo:
    path: Path
    schema_version: int
    created: float
    """Unix time the session file was created."""
    netbench_version: str
    argv: tuple[str, ...]
    hostname: str
    mono_anchor: float
    wall_anchor: float


@dataclass(frozen=True, slots=True)
class SessionCounts:
    servers: int
    connections: int
    chunks: int
    exchanges: int


@dataclass(frozen=True, slots=True)
class ServerRow:
    id: int
    kind: str
    transport: Transport
    address: Endpoint
    options: dict[str, object]
    started: float
    stopped: float | None
    error: str | None
    ended_uncleanly: bool = False
    """Never stopped: the recording that started it was killed (store/recordings.py)."""


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    id: int
    server_id: int | None
    role: Role
    transport: Transport
    local: Endpoint
    peer: Endpoint
    opened: float
    closed: float | None
    """None while the connection is open (or the recording stopped first)."""
    end_reason: EndReason | None
    detail: str | None
    bytes_in: int
    bytes_out: int
    """Final counts once closed; while open, the sum of the chunks so far."""
    ended_uncleanly: bool = False
    """Never closed: the recording that opened it was killed (store/recordings.py)."""
    via_conn_id: int | None = None
    """The connection whose request caused this one (a proxy's upstream leg names
    its client leg); None for every other, and in files older than schema 6."""

    @property
    def duration(self) -> float | None:
        return None if self.closed is None else self.closed - self.opened


@dataclass(frozen=True, slots=True)
class ChunkRow:
    conn_id: int
    seq: int
    direction: Direction
    t: float
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class SocketEventRow:
    conn_id: int
    t: float
    kind: SocketEventKind
    detail: str | None


@dataclass(frozen=True, slots=True)
class ExchangeRow:
    id: int
    conn_id: int
    index: int | None
    """Position on the connection; None when only a response was recorded."""
    request: HttpRequest | None
    response: HttpResponse | None
    req_first_chunk: int | None
    req_last_chunk: int | None
    resp_first_chunk: int | None
    resp_last_chunk: int | None
    t_request_start: float | None
    t_request_end: float | None
    t_response_start: float | None
    t_response_end: float | None

    @property
    def unanswered(self) -> bool:
        """A response record with no status and no byte behind it: its error says
        why the request was never answered (a client gone first), as `serve`
        prints it: "no response". ("???" is for bytes that were no response.)"""
        response, first = self.response, self.resp_first_chunk
        return response is not None and response.status is None and (first is None or first < 0)


E = TypeVar("E", bound=enum.Enum)


def _enum_value(enum_type: type[E], value: object, where: str) -> E:
    try:
        return enum_type(value)
    except ValueError as exc:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"
        raise damaged(where, f"an unknown {enum_type.__name__} {shown}") from exc


def _headers(text: str | None, column: str, where: str) -> Headers:
    if not text:
        return ()
    pairs = load_json(text, column, where)
    try:
        return tuple((_latin1(name), _latin1(value)) for name, value in pairs)
    except (TypeError, ValueError, AttributeError) as exc:
        raise damaged(where, f"{column} is not a list of name and value pairs") from exc


def _latin1(text: str | None) -> bytes:
    # Only a damaged file holds characters past U+00FF (U+FFFD for bytes
    # that were not UTF-8): "?" is latin-1's own replacement.
    return b"" if text is None else text.encode("latin-1", "replace")


_SESSION = Columns(
    "session",
    "created:time netbench_version:text argv:text hostname:text mono_anchor:real wall_anchor:time",
)
_SERVER = Columns(
    "servers",
    "id:int kind:text transport:text host:text port:int options:text? started:time"
    " stopped:time? error:text?",
)
_CONNECTION = Columns(
    "connections",
    "id:int server_id:int? role:text transport:text local_host:text local_port:int"
    " peer_host:text peer_port:int opened:time closed:time? end_reason:text? detail:text?"
    " bytes_in:int bytes_out:int via_conn_id:int?",
)
_SOCKET_EVENT = Columns("socket_events", "t:time kind:text detail:text?")
_EXCHANGE = Columns(
    "exchanges",
    "id:int conn_id:int idx:int? method:text? target:text? http_version:text?"
    " req_headers:text? req_body:blob? req_body_len:int? req_body_truncated:int?"
    " req_keep_alive:int? req_error:text? req_first_chunk:int? req_last_chunk:int?"
    " t_request_start:time? t_request_end:time? status:int? reason:text?"
    " resp_http_version:text? resp_headers:text? resp_body:blob? resp_body_len:int?"
    " resp_body_truncated:int? resp_error:text? resp_first_chunk:int? resp_last_chunk:int?"
    " t_response_start:time? t_response_end:time?",
)

_EXCHANGE_COLUMNS = (
    "id, conn_id, idx, method, target, http_version, req_headers, {req_body}, req_body_len,"
    " req_body_truncated, req_keep_alive, req_error, req_first_chunk, req_last_chunk,"
    " t_request_start, t_request_end, status, reason, resp_http_version, resp_headers,"
    " {resp_body}, resp_body_len, resp_body_truncated, resp_error, resp_first_chunk,"
    " resp_last_chunk, t_response_start, t_response_end"
)


class SessionReader:
    """A read-only view of one session file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        where = str(self.path)
        if not self.path.exists():
            raise StoreError(f"no such session file: {where}")
        if self.path.is_dir():
            raise StoreError(f"{where} is a directory, not a session file")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {where}: {one_line(exc)}") from exc
        self._conn.text_factory = decode_text
        try:
            self._conn.execute("PRAGMA busy_timeout = 5000")
            self.schema_version = schema.identify(self._conn, where)
            if self.schema_version == 0:
                cut = cut_in_header(self.path)
                if cut:
                    raise damaged(where, cut)
                raise StoreError(f"{where} is empty, not a netbench session")
            self.chunk_tables = ChunkTables(self._query, self.schema_version, where)
            """Where this file keeps its chunks (rows, blocks or both)."""
        except BaseException:
            self._conn.close()
            raise
        self._connection_select = self._CONNECTION_SELECT.format(
            bytes_in=self.chunk_tables.byte_count_sql("in"),
            bytes_out=self.chunk_tables.byte_count_sql("out"),
            via="via_conn_id" if self.schema_version >= 6 else "NULL",
        )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SessionReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Rows:
        """The rows of a query; a failure, now or while fetching, is a StoreError."""
        try:
            return Rows(self._conn.execute(sql, params), str(self.path))
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise read_error(exc, str(self.path)) from exc

    def info(self) -> SessionInfo:
        row = self._query(
            "SELECT created, netbench_version, argv, hostname, mono_anchor, wall_anchor"
            " FROM session WHERE id = 1"
        ).fetchone()
        where = str(self.path)
        if row is None:
            raise damaged(where, "it has no session row")
        created, version, argv, hostname, mono, wall = _SESSION.check(row, where)
        args = load_json(argv, "session.argv", where)
        if not isinstance(args, list):
            raise damaged(where, "session.argv is not a list")
        return SessionInfo(
            path=self.path,
            schema_version=self.schema_version,
            created=created,
            netbench_version=version,
            argv=tuple(str(arg) for arg in args),
            hostname=hostname,
            mono_anchor=mono,
            wall_anchor=wall,
        )

    def counts(self) -> SessionCounts:
        servers, connections, exchanges = self._query(
            "SELECT (SELECT count(*) FROM servers), (SELECT count(*) FROM connections),"
            " (SELECT count(*) FROM exchanges)"
        ).fetchone()
        return SessionCounts(
            int(servers), int(connections), self.chunk_tables.count(), int(exchanges)
        )

    def recordings(self) -> list[RecordingRow]:
        """The processes that recorded this file, oldest first (none before schema 4)."""
        return read_recordings(self._query, self.schema_version, str(self.path))

    def unclean_ends(self) -> UncleanEnds:
        """Which open servers and connections ended uncleanly, as of now."""
        return UncleanEnds(self.recordings())

    def servers(self) -> list[ServerRow]:
        unclean = self.unclean_ends()
        rows = self._query(
            "SELECT id, kind, transport, host, port, options, started, stopped, error"
            " FROM servers ORDER BY id"
        )
        return [self._server(row, unclean) for row in rows]

    def _server(self, row: tuple[Any, ...], unclean: UncleanEnds) -> ServerRow:
        where = str(self.path)
        id_, kind, transport, host, port, options, started, stopped, error = _SERVER.check(
            row, where
        )
        parsed = load_json(options, "servers.options", where) if options else {}
        if not isinstance(parsed, dict):
            raise damaged(where, "servers.options is not a JSON object")
        return ServerRow(
            id=id_,
            kind=kind,
            transport=_enum_value(Transport, transport, where),
            address=Endpoint(host, port),
            options=parsed,
            started=started,
            stopped=stopped,
            error=error,
            ended_uncleanly=unclean.server(id_, stopped=stopped is not None),
        )

    # While a connection is open its byte counts are NULL; coalesce only
    # evaluates the sums for those rows.
    _CONNECTION_SELECT = (
        "SELECT id, server_id, role, transport, local_host, local_port, peer_host, peer_port,"
        " opened, closed, end_reason, detail,"
        " coalesce(bytes_in, {bytes_in}), coalesce(bytes_out, {bytes_out}), {via}"
        " FROM connections"
    )

    def _connection(self, row: tuple[Any, ...], unclean: UncleanEnds) -> ConnectionRow:
        where = str(self.path)
        row = _CONNECTION.check(row, where)
        (id_, server_id, role, transport, lhost, lport, phost, pport) = row[:8]
        opened, closed, end_reason, detail, bytes_in, bytes_out, via = row[8:]
        return ConnectionRow(
            id=id_,
            server_id=server_id,
            role=_enum_value(Role, role, where),
            transport=_enum_value(Transport, transport, where),
            local=Endpoint(lhost, lport),
            peer=Endpoint(phost, pport),
            opened=opened,
            closed=closed,
            end_reason=None if end_reason is None else _enum_value(EndReason, end_reason, where),
            detail=detail,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            ended_uncleanly=unclean.connection(id_, closed=closed is not None),
            via_conn_id=via,
        )

    def connections(self) -> list[ConnectionRow]:
        return list(self.each_connection())

    def each_connection(self) -> Iterator[ConnectionRow]:
        """Every connection by id, fetched as iterated (a session may hold millions)."""
        unclean = self.unclean_ends()
        for row in self._query(self._connection_select + " ORDER BY id"):
            yield self._connection(row, unclean)

    def connection(self, conn_id: int) -> ConnectionRow | None:
        row = self._query(self._connection_select + " WHERE id = ?", (conn_id,)).fetchone()
        return None if row is None else self._connection(row, self.unclean_ends())

    def chunks(self, conn_id: int) -> Iterator[ChunkRow]:
        """A connection's chunks by seq, fetched as iterated (bodies can be large)."""
        where = str(self.path)
        for seq, direction, t, offset, data in self.chunk_tables.chunks(conn_id):
            yield ChunkRow(conn_id, seq, _enum_value(Direction, direction, where), t, offset, data)

    def socket_events(self, conn_id: int) -> list[SocketEventRow]:
        rows = self._query(
            "SELECT t, kind, detail FROM socket_events WHERE conn_id = ? ORDER BY t, id",
            (conn_id,),
        )
        where = str(self.path)
        return [
            SocketEventRow(conn_id, t, _enum_value(SocketEventKind, kind, where), detail)
            for t, kind, detail in (_SOCKET_EVENT.check(row, where) for row in rows)
        ]

    def caused_by(self, conn_id: int) -> list[ConnectionRow]:
        """The connections this one's requests caused (a proxy's upstream legs), by id."""
        if self.schema_version < 6:
            return []
        sql = self._connection_select + " WHERE via_conn_id = ? ORDER BY id"
        unclean = self.unclean_ends()
        return [self._connection(row, unclean) for row in self._query(sql, (conn_id,))]

    def exchanges(
        self, conn_id: int | None = None, *, include_bodies: bool = True
    ) -> Iterator[ExchangeRow]:
        """Exchanges by connection and position; without bodies, body fields are b''."""
        columns = _EXCHANGE_COLUMNS.format(
            req_body="req_body" if include_bodies else "NULL",
            resp_body="resp_body" if include_bodies else "NULL",
        )
        if conn_id is None:
            cursor = self._query(f"SELECT {columns} FROM exchanges ORDER BY conn_id, idx, id")
        else:
            cursor = self._query(
                f"SELECT {columns} FROM exchanges WHERE conn_id = ? ORDER BY idx, id", (conn_id,)
            )
        where = str(self.path)
        for row in cursor:
            yield _exchange(_EXCHANGE.check(row, where), where)

    def first_exchanges(self) -> Iterator[tuple[ExchangeRow, int]]:
        """Each connection's first exchange (as `exchanges` orders them), without bodies
        or headers, and how many it carried, by connection: what a summary line needs,
        one row per connection however many it carried."""
        columns = _EXCHANGE_COLUMNS.format(req_body="NULL", resp_body="NULL")
        columns = columns.replace("req_headers", "NULL").replace("resp_headers", "NULL")
        # Both the grouping and each first row walk the (conn_id, idx) index.
        cursor = self._query(
            f"SELECT {columns}, firsts.carried FROM"
            " (SELECT count(*) AS carried, (SELECT id FROM exchanges AS inner_row"
            "   WHERE inner_row.conn_id = outer_row.conn_id ORDER BY idx, id LIMIT 1) AS first"
            "  FROM exchanges AS outer_row GROUP BY conn_id) AS firsts"
            " JOIN exchanges ON exchanges.id = firsts.first ORDER BY exchanges.conn_id"
        )
        where = str(self.path)
        for row in cursor:
            yield _exchange(_EXCHANGE.check(row[:-1], where), where), row[-1]


def _exchange(row: tuple[Any, ...], where: str) -> ExchangeRow:
    (id_, conn_id, idx, method, target, version, req_headers, req_body, req_body_len) = row[:9]
    (req_trunc, keep_alive, req_error, req_first, req_last, t_req0, t_req1) = row[9:16]
    (status, reason, resp_version, resp_headers, resp_body, resp_body_len) = row[16:22]
    (resp_trunc, resp_error, resp_first, resp_last, t_resp0, t_resp1) = row[22:]
    request = None
    if t_req0 is not None:
        request = HttpRequest(
            method=_latin1(method),
            target=_latin1(target),
            version=version or "",
            headers=_headers(req_headers, "exchanges.req_headers", where),
            body=bytes(req_body or b""),
            body_len=req_body_len or 0,
            body_truncated=bool(req_trunc),
            keep_alive=bool(keep_alive),
            error=req_error,
        )
    response = None
    if t_resp0 is not None:
        response = HttpResponse(
            status=status,
            reason=_latin1(reason),
            version=resp_version or "",
            headers=_headers(resp_headers, "exchanges.resp_headers", where),
            body=bytes(resp_body or b""),
            body_len=resp_body_len or 0,
            body_truncated=bool(resp_trunc),
            error=resp_error,
        )
    return ExchangeRow(
        id=id_,
        conn_id=conn_id,
        index=idx,
        request=request,
        response=response,
        req_first_chunk=req_first,
        req_last_chunk=req_last,
        resp_first_chunk=resp_first,
        resp_last_chunk=resp_last,
        t_request_start=t_req0,
        t_request_end=t_req1,
        t_response_start=t_resp0,
        t_response_end=t_resp1,
    )
