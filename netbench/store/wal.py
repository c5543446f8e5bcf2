"""Keep a session's -wal file under its limit while recording, and empty at the end.

Rules:
- SQLite's WAL only starts over from its beginning when a transaction begins
  after a checkpoint copied every page back and while no reader still reads
  an older snapshot from it; otherwise the writer appends, and the file keeps
  its largest size. A read-only reader closing last cannot fold it back;
- so the writer (store/writer.py) checkpoints every quarter of `limit`
  (schema.configure), commits at most an eighth of it per transaction (`take`:
  a bulk upload's batch is committed in parts, each a prefix of what waits,
  so a crash still loses only the newest events), and after each commit
  `check` looks at the file: past half the limit (a reader held one snapshot
  through the checkpoints) it waits up to 100 ms for readers and empties it,
  again no sooner than 0.5 s later if a reader still holds on; past five
  eighths it waits up to 1 s at every commit: the recording, and through the
  lag limit the servers, wait for the reader rather than the file outgrowing
  the limit. netbench's own reads end in milliseconds;
- `fold_back` at close empties the file (a TRUNCATE checkpoint) even when a
  reader's connection stays attached and keeps the file in WAL mode.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import deque
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


class WalKeeper:
    """The writer thread's side of the -wal file's limit."""

    def __init__(self, session: Path, limit: int = WAL_LIMIT) -> None:
        self.limit = limit
        self._wal = Path(f"{session}-wal")
        self._retry_at = 0.0

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
        return batch

    def check(self, conn: sqlite3.Connection) -> None:
        """After a commit (or an idle flush): empty the file if it grew too big."""
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        now = time.monotonic()
        urgent = size > self.limit * 5 // 8
        if size <= self.limit // 2 or (now < self._retry_at and not urgent):
            return
        busy = _truncate(conn, _LONG_WAIT_MS if urgent else _BRIEF_WAIT_MS)
        self._retry_at = now + _RETRY_AFTER if busy else 0.0

    def fold_back(self, conn: sqlite3.Connection) -> None:
        """At close: every page into the file and the -wal emptied (best effort)."""
        _truncate(conn, _CLOSE_WAIT_MS)


def _truncate(conn: sqlite3.Connection, wait_ms: int) -> bool:
    """A TRUNCATE checkpoint waiting up to `wait_ms` for readers; True if one held on."""
    conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
    try:
        return bool(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
    except sqlite3.OperationalError:
        return True  # nothing is lost: the log is only longer for a while
    finally:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
