"""Record engine events into a session file, off the event loop.

Rules:
- `SessionWriter.__call__` runs on the asyncio loop for every chunk, so it
  only appends to a deque; all SQLite work happens on one writer thread;
- the thread drains what is queued every `flush_interval`, counted from the
  start of the previous drain (not from the end of its write), and writes it
  in one transaction (a big batch in parts, store/wal.py): under load a
  commit every interval, so a crash loses what was queued since the start
  of the last batch committed;
- that loss is bounded in time, not only in events: `lag()` is how long
  ago that start was, and while it exceeds `lag_limit` the engine is paused
  (a timer on the loop watches it, see `pause_with`). Why: a batch's write
  takes longer than its CPU time, since the writer thread shares the GIL
  and the core with a busy event loop (measured: ~2x, and 10,000 events
  took ~130 ms); a kill -9 then lost ~300 ms of completed requests;
- the queue is bounded by backpressure, not by dropping: when more than
  `backlog_limit` events wait at the start of a flush (or the last batch
  carried more than `backlog_bytes` of chunks), `on_backlog(True)`
  asks the engine to stop reading its sockets (the kernel's buffers and TCP
  flow control hold the peers), and `on_backlog(False)` lets it go on once
  fewer than a tenth of that wait. Every byte is still recorded, and memory
  stays flat when SQLite is slower than the traffic (it is called on the
  writer thread: hop to the loop);
- the file is in WAL mode while recording and back in rollback-journal mode
  after a clean `close()`, so a finished session is a single file; the -wal
  file stays under `wal_limit` meanwhile, and `close()` empties it even when
  a reader keeps the file in WAL mode (store/wal.py);
- `open()` adds this process's row to `recordings` and the writer thread's
  last transaction ends it: a row left unended is how readers tell a
  recording that was killed (store/recordings.py);
- the clock anchors are taken once at `open()`; turning events into rows
  (and times into unix seconds) is store/rows.py's;
- the writer never raises into the engine. On an SQLite failure (disk full,
  file gone) it stops recording, reports once through `on_error`, and
  further events are dropped at the cost of one no-op call;
- an event that breaks a constraint (a chunk for a connection the writer
  never saw opened) is skipped and counted, it does not stop the recording;
- event types the store has no table for yet are ignored.
"""

from __future__ import annotations

import contextlib
import json
import platform
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import netbench
from netbench.events import (
    ChunkRecorded,
    HttpRequestRecorded,
    HttpResponseRecorded,
)
from netbench.store import schema
from netbench.store.chunk_blocks import INSERT_BLOCK
from netbench.store.errors import StoreError, one_line
from netbench.store.lag import pause_while_behind
from netbench.store.paths import (
    create_private_file,
    default_session_dir,
    make_private_dir,
    tighten_session_file,
)
from netbench.store.recorder_wire import BatchMark
from netbench.store.recordings import END_RECORDING, INSERT_RECORDING, this_recording
from netbench.store.rows import (
    INSERT_EXCHANGE,
    UPSERT_REQUEST,
    UPSERT_RESPONSE,
    WRITE_ORDER,
    EventRows,
    write_rank,
)
from netbench.store.wal import WAL_LIMIT, WalKeeper

if TYPE_CHECKING:
    import asyncio

Row = tuple[Any, ...]


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
        backlog_bytes: int = 64 * 1024 * 1024,
        lag_limit: float | None = None,
        wal_limit: int = WAL_LIMIT,
        engine_pid: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._engine_pid = engine_pid
        """The process whose servers are recorded, when not this one (store/recorder.py)."""
        self.flush_interval = flush_interval
        self.lag_limit = 1.6 * flush_interval if lag_limit is None else lag_limit
        """Seconds `lag()` may reach before the engine is paused (80 ms by
        default): with the watchdog's tick, about what a kill -9 may lose."""
        self._durable = 0.0
        """monotonic() at the start of the last batch committed: every event
        queued before it is in the file."""
        self._failed = False
        self.backlog_limit = backlog_limit
        """Events waiting past which `on_backlog(True)` is called (~30 MB of small ones)."""
        self.backlog_bytes = backlog_bytes
        """Chunk bytes in one batch past which the same happens (a bulk upload:
        each event may carry a whole 64 KiB recv)."""
        self._batch_bytes = 0
        self.on_backlog: Callable[[bool], None] | None = None
        """Set by whoever runs the engine: True to pause reading, False to resume."""
        self.on_written: Callable[[], None] | None = None
        """Called after each commit that wrote rows, on the writer's thread (hop
        to your loop): how views learn that the store has grown without polling."""
        self.backlogged = False
        self.skipped = 0
        self.marked = 0
        """The highest `BatchMark` committed (the recorder process's acknowledgement)."""
        self._mark = 0
        self._ended = True
        """Events skipped because they broke a constraint (engine bugs, not I/O)."""
        self._wal = WalKeeper(self.path, wal_limit)
        """Keeps the -wal file under `wal_limit` bytes (tests lower it)."""
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
        self._recording_id: int | None = None
        self._rows = EventRows(0.0, 0.0)
        """Set again at open(), with the anchors."""

    # -- the caller's side ---------------------------------------------------

    def open(self) -> None:
        """Create or upgrade the file and start the writer thread.

        Raises StoreError (one line) when the file cannot be created or is not
        a netbench session.
        """
        if self._thread is not None or self._closed:
            raise RuntimeError("SessionWriter.open() called twice")
        where = str(self.path)
        folder = self.path.parent
        try:
            make_private_dir(folder, ours=folder.absolute() == default_session_dir().absolute())
        except OSError as exc:
            raise StoreError(f"cannot create {folder}: {one_line(exc)}") from exc
        if self.path.is_dir():
            raise StoreError(f"cannot create session file {where}: it is a directory")
        try:
            # Before SQLite opens it: SQLite would create it 0644.
            create_private_file(self.path)
        except OSError as exc:
            raise StoreError(f"cannot open session file {where}: {one_line(exc)}") from exc
        conn: sqlite3.Connection | None = None
        try:
            # The connection is handed to the writer thread and used by it only.
            conn = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
            # Identify before configure: switching a foreign file to WAL
            # would already modify it. The WAL and shared-memory files it
            # creates take the mode of the file, made private first.
            schema.identify(conn, where)
            tighten_session_file(self.path)
            schema.configure(conn, wal_limit=self._wal.limit)
            schema.migrate(conn, where)
            self._wal.start()
            self._mono_anchor, self._wall_anchor = self._anchors or (time.monotonic(), time.time())
            self._rows = EventRows(self._mono_anchor, self._wall_anchor)
            # A no-op when appending: the first process's row stays.
            self._insert_session_row(conn)
            self._next_ids = self._read_next_ids(conn)
            # Ended by close(): a row left open tells readers this one was killed.
            self._recording_id = conn.execute(
                INSERT_RECORDING, this_recording(self._next_ids, self._engine_pid)
            ).lastrowid
        except (sqlite3.Error, OSError) as exc:
            self._wal.stop()
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open session file {where}: {one_line(exc)}") from exc
        except StoreError:
            self._wal.stop()
            if conn is not None:
                conn.close()
            raise
        self._conn = conn
        self._durable = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name="netbench-session-writer", daemon=True
        )
        self._thread.start()

    def __call__(self, event: object) -> None:
        """Queue an event; called on the event loop for every event."""
        self._push(event)

    def lag(self) -> float:
        """Seconds since the start of the last batch committed: how much a
        crash now would lose, in time (0 once not recording any more)."""
        if self._closed or self._failed:
            return 0.0
        return time.monotonic() - self._durable

    def pause_with(self, loop: asyncio.AbstractEventLoop, pause: Callable[[bool], None]) -> None:
        """While the writer is behind, call `pause(True)` on `loop`; `pause(False)`
        after (store/lag.py). Call on the loop."""
        pause_while_behind(self, loop, pause)

    @property
    def closed(self) -> bool:
        return self._closed

    def next_ids(self) -> tuple[int, int, int]:
        """The first free (server, connection, exchange) ids, as of `open()`."""
        return self._next_ids

    def close(self, *, ended: bool = True) -> None:
        """Write everything queued and stop the thread. Safe to call twice.

        `ended=False` leaves this recording unended in the file, as a kill
        would: the recorder process closes so when the engine's process is gone.
        """
        if self._closed:
            return
        self._closed = True
        self._ended = ended
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
            drained = self._durable
            while True:
                # A steady cadence: a slow write does not push the next one back.
                stopping = self._stop.wait(
                    max(0.0, drained + self.flush_interval - time.monotonic())
                )
                drained = time.monotonic()
                self._flush(conn)
                self._durable = drained
                if stopping:
                    break
            if self._ended:
                conn.execute(END_RECORDING, (time.time(), self._recording_id))
            with contextlib.suppress(sqlite3.Error):
                self._wal.fold_back(conn)
            # A finished session becomes one self-contained file again, which
            # read-only readers can open anywhere without leaving -wal/-shm
            # files behind. Best effort: it cannot while a reader is attached.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA busy_timeout = 0")  # never make close() wait longer
                conn.execute("PRAGMA journal_mode = DELETE")
        except Exception as exc:
            # Not only sqlite3.Error: whatever goes wrong here must reach the
            # user once and must never kill the recording silently.
            self._fail(exc)
        finally:
            self._wal.stop()
            conn.close()

    def _flush(self, conn: sqlite3.Connection) -> None:
        queue = self._queue
        count = len(queue)
        if not count:
            self._batch_bytes = 0  # the last batch is written and nothing waits
        self._watch_backlog(count)
        self._batch_bytes = 0
        if not count:
            self._wal.check(conn)  # also once a reader lets go of a quiet session
        while count:
            batch = self._wal.take(queue, count)
            count -= len(batch)
            self._commit(conn, batch)
            self._wal.check(conn)
            written = self.on_written
            if written is not None:
                with contextlib.suppress(Exception):  # never kill the recording
                    written()

    def _commit(self, conn: sqlite3.Connection, batch: list[object]) -> None:
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
        self.marked = self._mark

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
        marks = by_kind.get(BatchMark)
        if marks is not None:
            self._mark = marks[-1].number
        rows = self._rows
        for kind in WRITE_ORDER:
            events = by_kind.get(kind)
            if events is None:
                continue
            if kind is ChunkRecorded:
                blocks = rows.chunk_blocks(events)
                self._batch_bytes += sum(len(block[-1]) for block in blocks)
                conn.executemany(INSERT_BLOCK, blocks)
            elif kind is HttpRequestRecorded:
                pass  # with the responses, next: see _write_exchanges
            elif kind is HttpResponseRecorded:
                self._write_exchanges(conn, by_kind.get(HttpRequestRecorded, []), events)
            else:
                sql, to_row = rows.sql[kind]
                conn.executemany(sql, [to_row(event) for event in events])
        if HttpRequestRecorded in by_kind and HttpResponseRecorded not in by_kind:
            self._write_exchanges(conn, by_kind[HttpRequestRecorded], [])

    def _write_one_by_one(self, conn: sqlite3.Connection, batch: list[object]) -> None:
        batch.sort(key=write_rank)  # stable: each type keeps its order
        for event in batch:
            entry = self._rows.sql.get(type(event))
            if entry is None:
                if type(event) is BatchMark:
                    self._mark = event.number
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
        request_row, response_row = self._rows.request_row, self._rows.response_row
        answered = {response.exchange_id: response for response in responses}
        whole = []
        halves = []
        for request in requests:
            response = answered.pop(request.exchange_id, None)
            if response is None:
                halves.append(request_row(request))
            else:
                whole.append(request_row(request) + response_row(response)[2:])
        if whole:
            conn.executemany(INSERT_EXCHANGE, whole)
        if halves:
            conn.executemany(UPSERT_REQUEST, halves)
        if answered:
            conn.executemany(UPSERT_RESPONSE, [response_row(r) for r in answered.values()])

    def _watch_backlog(self, waiting: int) -> None:
        heavy = self._batch_bytes > self.backlog_bytes
        behind = waiting > self.backlog_limit or heavy
        caught_up = waiting < self.backlog_limit // 10 and not heavy
        if (behind and not self.backlogged) or (caught_up and self.backlogged):
            self.backlogged = behind
            callback = self.on_backlog
            if callback is not None:
                with contextlib.suppress(Exception):  # never kill the recording
                    callback(behind)

    def _fail(self, exc: BaseException) -> None:
        self._failed = True
        self._push = _drop
        self._queue.clear()
        self._batch_bytes = 0
        self._watch_backlog(0)  # nothing is recorded any more: nothing to wait for
        if self._on_error is not None:
            # A faulty callback must not turn into an unhandled thread error.
            with contextlib.suppress(Exception):
                self._on_error(f"cannot write to {self.path}: {one_line(exc)}")
