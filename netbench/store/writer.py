"""Record engine events into a session file, off the event loop.

Rules:
- `SessionWriter.__call__` runs on the asyncio loop for every chunk, so it
  only appends to a deque; all SQLite work happens on one writer thread;
- the thread wakes every `flush_interval`, drains what is queued and writes
  it in one transaction, so the file is at most about two intervals behind
  and a crash loses at most the batch being written;
- the queue is bounded by backpressure, not by dropping: when more than
  `backlog_limit` events wait at the start of a flush, `on_backlog(True)`
  asks the engine to stop reading its sockets (the kernel's buffers and TCP
  flow control hold the peers), and `on_backlog(False)` lets it go on once
  fewer than a tenth of that wait. Every byte is still recorded, and memory
  stays flat when SQLite is slower than the traffic (it is called on the
  writer thread: hop to the loop);
- the file is in WAL mode while recording and back in rollback-journal mode
  after a clean `close()`, so a finished session is a single file;
- times are stored as unix wall-clock seconds derived from the monotonic `t`
  with anchors taken once at `open()`: differences stay exact and never go
  backwards, even when the system clock is stepped;
- the writer never raises into the engine. On an SQLite failure (disk full,
  file gone) it stops recording, reports once through `on_error`, and
  further events are dropped at the cost of one no-op call;
- an event that breaks a constraint (a chunk for a connection the writer
  never saw opened) is skipped and counted, it does not stop the recording;
- event types the store has no table for yet are ignored;
- captured packets keep the kernel's unix timestamp (`TcpPacket.t`) as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import platform
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import netbench
from netbench.events import (
    CaptureStatus,
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    HttpRequestRecorded,
    HttpResponseRecorded,
    PacketCaptured,
    ServerStarted,
    ServerStopped,
    SocketEventRecorded,
)
from netbench.model import Headers
from netbench.store import schema
from netbench.store.chunk_blocks import INSERT_BLOCK, pack_blocks
from netbench.store.errors import StoreError, one_line

Row = tuple[Any, ...]


def _headers_json(headers: Headers) -> str:
    # latin-1 maps every byte to one code point, so the JSON text is lossless.
    return json.dumps(
        [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers]
    )


class _HeadersText:
    """`_headers_json`, remembered: a client sends the same headers on every
    request and a server its same few responses, and encoding is ~3 µs."""

    __slots__ = ("_known",)
    LIMIT = 1024

    def __init__(self) -> None:
        self._known: dict[Headers, str] = {}

    def __call__(self, headers: Headers) -> str:
        text = self._known.get(headers)
        if text is None:
            if len(self._known) >= self.LIMIT:
                self._known.clear()  # bounded: a flood of unique headers costs no memory
            text = self._known[headers] = _headers_json(headers)
        return text


def _packet_row(e: PacketCaptured) -> Row:
    # The kernel stamped it in unix time already: no anchor to apply. After
    # the endpoints, TcpPacket's fields are in the columns' order (flags...linktype).
    p = e.packet
    return (p.t, p.src.host, p.src.port, p.dst.host, p.dst.port, *p[3:])


def _drop(event: object) -> None:
    """The subscriber once recording has stopped."""


class SessionWriter:
    """An event-bus subscriber that records every event into a session file."""

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = 0.05,
        on_error: Callable[[str], None] | None = None,
        argv: Sequence[str] = (),
        anchors: tuple[float, float] | None = None,
        backlog_limit: int = 50_000,
    ) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.backlog_limit = backlog_limit
        """Events waiting past which `on_backlog(True)` is called (~30 MB of them)."""
        self.on_backlog: Callable[[bool], None] | None = None
        """Set by whoever runs the engine: True to pause reading, False to resume."""
        self.backlogged = False
        self.skipped = 0
        """Events skipped because they broke a constraint (engine bugs, not I/O)."""
        self._on_error = on_error
        self._argv = list(argv)
        self._queue: deque[object] = deque()
        self._push: Callable[[object], None] = self._queue.append
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._next_ids = (1, 1, 1)
        self._anchors = anchors
        """(monotonic, wall) clock readings taken together; fixed ones make a
        session reproducible (the UI's snapshot tests), else read at open()."""
        self._mono_anchor = 0.0
        self._wall_anchor = 0.0
        self._closed = False
        self._headers_text = _HeadersText()
        self._sql: dict[type, tuple[str, Callable[[Any], Row]]] = {
            ServerStarted: (_INSERT_SERVER, self._server_row),
            ServerStopped: (_STOP_SERVER, self._server_stopped_row),
            ConnectionOpened: (_INSERT_CONNECTION, self._connection_row),
            ChunkRecorded: (INSERT_BLOCK, self._chunk_row),
            SocketEventRecorded: (_INSERT_SOCKET_EVENT, self._socket_event_row),
            ConnectionClosed: (_CLOSE_CONNECTION, self._closed_row),
            HttpRequestRecorded: (_UPSERT_REQUEST, self._request_row),
            HttpResponseRecorded: (_UPSERT_RESPONSE, self._response_row),
            PacketCaptured: (_INSERT_PACKET, _packet_row),
            CaptureStatus: (_INSERT_CAPTURE, self._capture_row),
        }

    # -- the caller's side ---------------------------------------------------

    def open(self) -> None:
        """Create or upgrade the file and start the writer thread.

        Raises StoreError (one line) when the file cannot be created or is not
        a netbench session.
        """
        if self._thread is not None or self._closed:
            raise RuntimeError("SessionWriter.open() called twice")
        where = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {one_line(exc)}") from exc
        if self.path.is_dir():
            raise StoreError(f"cannot create session file {where}: it is a directory")
        conn: sqlite3.Connection | None = None
        try:
            # The connection is handed to the writer thread and used by it only.
            conn = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
            # Identify before configure: switching a foreign file to WAL
            # would already modify it.
            schema.identify(conn, where)
            schema.configure(conn)
            schema.migrate(conn, where)
            self._mono_anchor, self._wall_anchor = self._anchors or (time.monotonic(), time.time())
            # A no-op when appending: the first process's row stays.
            self._insert_session_row(conn)
            self._next_ids = self._read_next_ids(conn)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open session file {where}: {one_line(exc)}") from exc
        except StoreError:
            if conn is not None:
                conn.close()
            raise
        self._conn = conn
        self._thread = threading.Thread(
            target=self._run, name="netbench-session-writer", daemon=True
        )
        self._thread.start()

    def __call__(self, event: object) -> None:
        """Queue an event; called on the event loop for every event."""
        self._push(event)

    def pause_with(self, loop: asyncio.AbstractEventLoop, pause: Callable[[bool], None]) -> None:
        """While the writer is behind, call `pause(True)` on `loop`; `pause(False)` after."""

        def on_backlog(behind: bool) -> None:
            loop.call_soon_threadsafe(pause, behind)

        self.on_backlog = on_backlog

    def next_ids(self) -> tuple[int, int, int]:
        """The first free (server, connection, exchange) ids, as of `open()`."""
        return self._next_ids

    def close(self) -> None:
        """Write everything queued and stop the thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._push = _drop
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> SessionWriter:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _insert_session_row(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO session (id, created, netbench_version, argv, hostname,"
            " mono_anchor, wall_anchor) VALUES (1, ?, ?, ?, ?, ?, ?)",
            (
                self._wall_anchor,
                netbench.__version__,
                json.dumps(self._argv),
                platform.node(),  # `socket` belongs to the engine alone
                self._mono_anchor,
                self._wall_anchor,
            ),
        )

    @staticmethod
    def _read_next_ids(conn: sqlite3.Connection) -> tuple[int, int, int]:
        def first_free(table: str) -> int:
            return int(conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0])

        return first_free("servers"), first_free("connections"), first_free("exchanges")

    # -- the writer thread ---------------------------------------------------

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            while True:
                stopping = self._stop.wait(self.flush_interval)
                self._flush(conn)
                if stopping:
                    break
            # A finished session becomes one self-contained file again, which
            # read-only readers can open anywhere without leaving -wal/-shm
            # files behind. Best effort: it cannot while a reader is attached.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA busy_timeout = 0")  # never make close() wait for a reader
                conn.execute("PRAGMA journal_mode = DELETE")
        except Exception as exc:
            # Not only sqlite3.Error: whatever goes wrong here must reach the
            # user once and must never kill the recording silently.
            self._fail(exc)
        finally:
            conn.close()

    def _flush(self, conn: sqlite3.Connection) -> None:
        queue = self._queue
        count = len(queue)
        self._watch_backlog(count)
        if not count:
            return
        batch = [queue.popleft() for _ in range(count)]
        conn.execute("BEGIN")
        try:
            self._write(conn, batch)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
            conn.execute("BEGIN")
            self._write_one_by_one(conn, batch)
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _write(self, conn: sqlite3.Connection, batch: list[object]) -> None:
        # One executemany per event type: traffic interleaves chunks, requests
        # and responses, so runs in arrival order would be one row each. The
        # types go in the order the tables depend on each other (a connection
        # before its chunks, before it is closed), each keeping its order.
        by_kind: dict[type, list[Any]] = {}
        for event in batch:
            kind = type(event)
            same = by_kind.get(kind)
            if same is None:
                by_kind[kind] = [event]
            else:
                same.append(event)
        for kind in _WRITE_ORDER:
            events = by_kind.get(kind)
            if events is None:
                continue
            if kind is ChunkRecorded:
                conn.executemany(
                    INSERT_BLOCK, pack_blocks(events, self._mono_anchor, self._wall_anchor)
                )
            elif kind is HttpRequestRecorded:
                pass  # with the responses, next: see _write_exchanges
            elif kind is HttpResponseRecorded:
                self._write_exchanges(conn, by_kind.get(HttpRequestRecorded, []), events)
            else:
                sql, to_row = self._sql[kind]
                conn.executemany(sql, [to_row(event) for event in events])
        if HttpRequestRecorded in by_kind and HttpResponseRecorded not in by_kind:
            self._write_exchanges(conn, by_kind[HttpRequestRecorded], [])

    def _write_one_by_one(self, conn: sqlite3.Connection, batch: list[object]) -> None:
        batch.sort(key=_write_rank)  # stable: each type keeps its order
        for event in batch:
            entry = self._sql.get(type(event))
            if entry is None:
                continue
            sql, to_row = entry
            try:
                conn.execute(sql, to_row(event))
            except sqlite3.IntegrityError:
                self.skipped += 1

    def _write_exchanges(
        self,
        conn: sqlite3.Connection,
        requests: list[HttpRequestRecorded],
        responses: list[HttpResponseRecorded],
    ) -> None:
        # Most exchanges are answered within the batch they were read in: one
        # INSERT of the whole row then, instead of two upserts (each costs
        # SQLite a row write). The rest are upserted half by half.
        answered = {response.exchange_id: response for response in responses}
        whole = []
        halves = []
        for request in requests:
            response = answered.pop(request.exchange_id, None)
            if response is None:
                halves.append(self._request_row(request))
            else:
                whole.append(self._request_row(request) + self._response_row(response)[2:])
        if whole:
            conn.executemany(_INSERT_EXCHANGE, whole)
        if halves:
            conn.executemany(_UPSERT_REQUEST, halves)
        if answered:
            conn.executemany(_UPSERT_RESPONSE, [self._response_row(r) for r in answered.values()])

    def _watch_backlog(self, waiting: int) -> None:
        behind = waiting > self.backlog_limit
        caught_up = waiting < self.backlog_limit // 10
        if (behind and not self.backlogged) or (caught_up and self.backlogged):
            self.backlogged = behind
            callback = self.on_backlog
            if callback is not None:
                with contextlib.suppress(Exception):  # never kill the recording
                    callback(behind)

    def _fail(self, exc: BaseException) -> None:
        self._push = _drop
        self._queue.clear()
        self._watch_backlog(0)  # nothing is recorded any more: nothing to wait for
        if self._on_error is not None:
            # A faulty callback must not turn into an unhandled thread error.
            with contextlib.suppress(Exception):
                self._on_error(f"cannot write to {self.path}: {one_line(exc)}")

    # -- events to rows ------------------------------------------------------

    def _wall(self, t: float) -> float:
        return self._wall_anchor + (t - self._mono_anchor)

    def _server_row(self, e: ServerStarted) -> Row:
        options = json.dumps(e.options, default=str)
        return (
            e.server_id,
            e.kind,
            e.transport.value,
            e.address.host,
            e.address.port,
            options,
            self._wall(e.t),
        )

    def _server_stopped_row(self, e: ServerStopped) -> Row:
        return (self._wall(e.t), e.error, e.server_id)

    def _connection_row(self, e: ConnectionOpened) -> Row:
        return (
            e.conn_id,
            e.server_id,
            e.role.value,
            e.transport.value,
            e.local.host,
            e.local.port,
            e.peer.host,
            e.peer.port,
            self._wall(e.t),
        )

    def _chunk_row(self, e: ChunkRecorded) -> Row:
        # One by one (after a constraint error): a block of one chunk.
        return pack_blocks([e], self._mono_anchor, self._wall_anchor)[0]

    def _socket_event_row(self, e: SocketEventRecorded) -> Row:
        return (e.conn_id, self._wall(e.t), e.kind.value, e.detail)

    def _closed_row(self, e: ConnectionClosed) -> Row:
        return (self._wall(e.t), e.reason.value, e.detail, e.bytes_in, e.bytes_out, e.conn_id)

    def _capture_row(self, e: CaptureStatus) -> Row:
        return (self._wall(e.t), int(e.running), e.detail, e.dropped)

    # The two below run for every exchange: fields are unpacked as tuples
    # (a NamedTuple's attribute is a descriptor call) and times converted inline.

    def _request_row(self, e: HttpRequestRecorded) -> Row:
        exchange_id, conn_id, position, request, first, last, t_start, t_end = e
        method, target, version, headers, body, body_len, truncated, keep_alive, error = request
        wall, mono = self._wall_anchor, self._mono_anchor
        return (
            exchange_id,
            conn_id,
            position,
            method.decode("latin-1"),
            target.decode("latin-1"),
            version,
            self._headers_text(headers),
            body,
            body_len,
            int(truncated),
            int(keep_alive),
            error,
            first,
            last,
            wall + (t_start - mono),
            wall + (t_end - mono),
        )

    def _response_row(self, e: HttpResponseRecorded) -> Row:
        exchange_id, conn_id, response, first, last, t_start, t_end = e
        status, reason, version, headers, body, body_len, truncated, error = response
        wall, mono = self._wall_anchor, self._mono_anchor
        return (
            exchange_id,
            conn_id,
            status,
            reason.decode("latin-1"),
            version,
            self._headers_text(headers),
            body,
            body_len,
            int(truncated),
            error,
            first,
            last,
            wall + (t_start - mono),
            wall + (t_end - mono),
        )


_INSERT_SERVER = (
    "INSERT INTO servers (id, kind, transport, host, port, options, started)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_STOP_SERVER = "UPDATE servers SET stopped = ?, error = ? WHERE id = ?"
_INSERT_CONNECTION = (
    "INSERT INTO connections (id, server_id, role, transport, local_host, local_port,"
    " peer_host, peer_port, opened) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_PACKET = (
    "INSERT INTO packets (t, src_host, src_port, dst_host, dst_port, flags, seq, ack, window,"
    " payload_len, payload_head, frame, linktype) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CAPTURE = "INSERT INTO capture (t, running, detail, dropped) VALUES (?, ?, ?, ?)"
_INSERT_SOCKET_EVENT = "INSERT INTO socket_events (conn_id, t, kind, detail) VALUES (?, ?, ?, ?)"
_CLOSE_CONNECTION = (
    "UPDATE connections SET closed = ?, end_reason = ?, detail = ?, bytes_in = ?, bytes_out = ?"
    " WHERE id = ?"
)
# Request and response are upserts: either may be written first (a client's
# response can land in the same batch, a server may answer a request line it
# could not parse), and the row ends up whole either way.
_REQUEST_COLUMNS = (
    "idx, method, target, http_version, req_headers, req_body, req_body_len,"
    " req_body_truncated, req_keep_alive, req_error, req_first_chunk, req_last_chunk,"
    " t_request_start, t_request_end"
)
_RESPONSE_COLUMNS = (
    "status, reason, resp_http_version, resp_headers, resp_body, resp_body_len,"
    " resp_body_truncated, resp_error, resp_first_chunk, resp_last_chunk,"
    " t_response_start, t_response_end"
)


def _upsert(columns: str) -> str:
    names = [name.strip() for name in columns.split(",")]
    marks = ", ".join("?" for _ in range(len(names) + 2))
    updates = ", ".join(f"{name} = excluded.{name}" for name in names)
    return (
        f"INSERT INTO exchanges (id, conn_id, {columns}) VALUES ({marks})"
        f" ON CONFLICT (id) DO UPDATE SET {updates}"
    )


_WRITE_ORDER = (
    ServerStarted,
    ConnectionOpened,
    ChunkRecorded,
    SocketEventRecorded,
    HttpRequestRecorded,
    HttpResponseRecorded,
    PacketCaptured,
    CaptureStatus,
    ConnectionClosed,
    ServerStopped,
)
_RANK = {kind: rank for rank, kind in enumerate(_WRITE_ORDER)}


def _write_rank(event: object) -> int:
    return _RANK.get(type(event), len(_RANK))


_UPSERT_REQUEST = _upsert(_REQUEST_COLUMNS)
_INSERT_EXCHANGE = (
    f"INSERT INTO exchanges (id, conn_id, {_REQUEST_COLUMNS}, {_RESPONSE_COLUMNS}) VALUES"
    f" ({', '.join('?' for _ in range(2 + len(_REQUEST_COLUMNS.split(',')) + len(_RESPONSE_COLUMNS.split(','))))})"
)
_UPSERT_RESPONSE = _upsert(_RESPONSE_COLUMNS)
