"""Keep a session's -wal file under its limit while recording, and empty at the end.

Rules:
- SQLite's WAL only starts over from its beginning when a transaction begins
  after a checkpoint copied every page back and while no reader still reads
  an older snapshot from it; otherwise the writer appends, and the file keeps
  its largest size. A read-only reader closing last cannot fold it back;
- so the log is copied back by a checkpointer thread with its own
  connection (PASSIVE checkpoints, woken every 1/64 of `limit` committed),
  not by the commit that crosses a mark as SQLite's automatic checkpoint
  does: a checkpoint's two fsyncs took 40-95 ms here, and inside the commit
  they held up every write behind them until the lag limit paused the
  servers (a 50-100 ms stall every couple of seconds under load: the
  recorded p99). Commits go on while it copies, in rounds that shrink as
  they catch up; what the commits of its last round added, the writer
  copies itself after its next commit (a few pages), so that the following
  transaction begins with the whole log in the file and starts it over.
  Under steady traffic the file stays at a few MiB;
- the writer (store/writer.py) commits at most an eighth of `limit` per
  transaction (`take`: a bulk upload's batch is committed in parts, each a
  prefix of what waits, so a crash still loses only the newest events),
  and after each commit `check` looks at the file: past half the limit (a
  reader held one snapshot through the checkpoints, or commits outran the
  checkpointer) it holds the checkpointer, waits up to 100 ms for readers
  and empties it, again no sooner than 0.5 s later if a reader still holds
  on; past five eighths it waits up to 1 s at every commit: the recording,
  and through the lag limit the servers, wait for the reader rather than the
  file outgrowing the limit. netbench's own reads end in milliseconds;
- `fold_back` at close empties the file (a TRUNCATE checkpoint) even when a
  reader's connection stays attached and keeps the file in WAL mode.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from netbench.events import ChunkRecorded, HttpRequestRecorded, HttpResponseRecorded

WAL_LIMIT = 64 * 1024 * 1024
"""The most the -wal file holds while recording (docs/sessions.md)."""
_BRIEF_WAIT_MS, _RETRY_AFTER = 100, 0.5
_LONG_WAIT_MS = 1000
_CLOSE_WAIT_MS = 250
"""How long closing waits for a reader to end its read before emptying the WAL."""
_BUSY_TIMEOUT_MS = 5000
"""The writer's usual busy timeout (schema.configure), restored after a wait."""
_WAKE_FRACTION = 64
"""The checkpointer is woken every 1/64 of the limit committed (1 MiB at 64 MiB,
by `take`'s estimate: the log grows by whole pages, several times that)."""
_ROUND_GAP = 0.1
"""Seconds at least from the end of one run of checkpoints to the next: ~10
fsync pairs a second at most under load, each of a few MiB."""
_CATCH_UP_ROUNDS = 8
"""Checkpoints in a row at most while commits keep adding to the log (each
copies what the last one's fsyncs gave them time to add: fewer pages each)."""


class WalKeeper:
    """The writer thread's side of the -wal file's limit."""

    def __init__(self, session: Path, limit: int = WAL_LIMIT) -> None:
        self.limit = limit
        self._session = session
        self._wal = Path(f"{session}-wal")
        self._retry_at = 0.0
        self._logged = 0
        """Bytes committed (estimated by `take`) since the checkpointer was last woken."""
        self._taken = 0
        self.checkpointer: Checkpointer | None = None

    def start(self) -> None:
        """Start the checkpointer, once the file is in WAL mode (schema.configure)."""
        if self.checkpointer is None:
            self.checkpointer = Checkpointer(self._session)

    def stop(self) -> None:
        """Stop the checkpointer (waits for a checkpoint under way). Safe to call twice."""
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()

    def take(self, queue: deque[object], count: int) -> list[object]:
        """Up to `count` queued events, no more than a transaction's worth (at
        least one): an estimate of what they add to the WAL, cheap to make."""
        popleft = queue.popleft
        budget = self.limit // 8
        batch: list[object] = []
        size = 0
        append = batch.append
        while count and size < budget:
            event: Any = popleft()
            append(event)
            count -= 1
            kind = type(event)  # exact types: this runs for every event recorded
            if kind is ChunkRecorded:
                size += len(event.data) + 64
            elif kind is HttpRequestRecorded:
                size += len(event.request.body) + 512
            elif kind is HttpResponseRecorded:
                size += len(event.response.body) + 512
            else:
                size += 256
        self._taken = size
        return batch

    def check(self, conn: sqlite3.Connection) -> None:
        """After a commit (or an idle flush): finish what the checkpointer's
        last run left, wake it every 1/64 of the limit committed (and once the
        traffic pauses), and empty the file if it grew too big all the same
        (a reader held on to the log)."""
        self._logged, taken = self._logged + self._taken, self._taken
        self._taken = 0
        checkpointer = self.checkpointer
        if checkpointer is None:
            pass
        elif checkpointer.ran and not checkpointer.busy:
            # It copied all but what the commits during its run added: the
            # rest is short to copy here, between two transactions, and then
            # the next one starts the log over (SQLite only does so when a
            # transaction begins with the whole log in the file).
            checkpointer.ran = False
            with checkpointer.held():
                checkpointer.checkpoint()
        elif self._logged >= self.limit // _WAKE_FRACTION or (self._logged and not taken):
            self._logged = 0
            checkpointer.wake()
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        now = time.monotonic()
        urgent = size > self.limit * 5 // 8
        if size <= self.limit // 2 or (now < self._retry_at and not urgent):
            return
        with self._checkpoints_held():
            busy = _truncate(conn, _LONG_WAIT_MS if urgent else _BRIEF_WAIT_MS)
        self._retry_at = now + _RETRY_AFTER if busy else 0.0

    @contextlib.contextmanager
    def _checkpoints_held(self) -> Iterator[None]:
        """The checkpointer held after its current round: SQLite lets one
        checkpoint run at a time and fails the others at once, busy handler or not."""
        checkpointer = self.checkpointer
        if checkpointer is None:
            yield
            return
        with checkpointer.held():
            yield

    def fold_back(self, conn: sqlite3.Connection) -> None:
        """At close: every page into the file and the -wal emptied (best effort)."""
        self.stop()
        _truncate(conn, _CLOSE_WAIT_MS)


class Checkpointer:
    """Copies the log back into the session file on a thread of its own.

    SQLite releases the GIL while it checkpoints, and a PASSIVE checkpoint
    neither waits for nor blocks the writer or readers, so the writer thread
    commits the next batches meanwhile."""

    def __init__(self, session: Path) -> None:
        # Used by its thread, and by the writer's inside `held()`.
        self._conn = sqlite3.connect(str(session), isolation_level=None, check_same_thread=False)
        self._wake = threading.Event()
        self._round = threading.Lock()
        """Held through each checkpoint, and by the writer through its own."""
        self._writer_waits = False
        self._stopped = threading.Event()
        self.busy = False
        """In its rounds (the writer does not wait for them but to empty the log)."""
        self.ran = False
        """It ran since the writer last finished a run's work (`WalKeeper.check`)."""
        self.checkpoints = 0
        """PASSIVE checkpoints run so far (tests and bench read it)."""
        self.longest = 0.0
        """Seconds the longest of them took."""
        self._thread = threading.Thread(target=self._run, name="netbench-checkpointer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """No checkpoint of ours runs inside (waits for the one under way)."""
        self._writer_waits = True
        try:
            with self._round:
                yield
        finally:
            self._writer_waits = False

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join()
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopped.is_set():
                return
            self.busy = True
            for _ in range(_CATCH_UP_ROUNDS):
                if self._stopped.is_set() or self._writer_waits:
                    break  # the writer empties the log itself (WalKeeper.check)
                with self._round:
                    if not self.checkpoint():
                        break
            self.ran = True
            self.busy = False
            self._stopped.wait(_ROUND_GAP)  # commits meanwhile only set `_wake`

    def checkpoint(self) -> bool:
        """One PASSIVE checkpoint (hold `_round`); True if frames are left to copy."""
        started = time.monotonic()
        try:
            _busy, log, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            return False  # the writer reports what is wrong with the file
        self.checkpoints += 1
        self.longest = max(self.longest, time.monotonic() - started)
        return bool(0 < copied < log)


def _truncate(conn: sqlite3.Connection, wait_ms: int) -> bool:
    """A TRUNCATE checkpoint waiting up to `wait_ms` for readers; True if one held on."""
    conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
    try:
        return bool(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
    except sqlite3.OperationalError:
        return True  # nothing is lost: the log is only longer for a while
    finally:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
