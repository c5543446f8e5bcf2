"""Which processes recorded a session, and whether each ended cleanly.

Rules:
- every `SessionWriter` adds a row to `recordings` when it opens the file
  (its pid, host, and the first server and connection ids it will use) and
  sets `ended` in its last transaction, after everything queued is written.
  A recording whose `ended` is NULL was killed, crashed or lost power, unless
  its process is still running: readers never write, so they look;
- "still running" means: this process, or a live process of that pid on this
  host that started before the recording did (a pid reused by a later
  process does not count). A recording made on another host is not running
  here: WAL needs memory shared with the writer, so none can be. Where
  processes cannot be probed safely (not POSIX), a recording is assumed live;
- a server or connection still open in the file belongs to the recording
  whose first ids are the highest not above its id (ids continue from one
  recording to the next). It *ended uncleanly* when that recording did: its
  end was never written and never will be;
- files written before schema 4 have no such rows: nothing is marked.
"""

from __future__ import annotations

import bisect
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netbench.store.damage import Columns

INSERT_RECORDING = (
    "INSERT INTO recordings (pid, hostname, started, first_server_id, first_conn_id)"
    " VALUES (?, ?, ?, ?, ?)"
)
END_RECORDING = "UPDATE recordings SET ended = ? WHERE id = ?"


def this_recording(
    first_ids: tuple[int, int, int], pid: int | None = None
) -> tuple[int, str, float, int, int]:
    """The row a writer inserts at open, given its first (server, connection, exchange) ids.

    `pid` is the engine's process when the writer runs in a recorder process:
    the recording lives as long as the servers it records.
    """
    server_id, conn_id, _exchange_id = first_ids
    # platform.node(), as the session row does: `socket` belongs to the engine.
    return pid or os.getpid(), platform.node(), time.time(), server_id, conn_id


@dataclass(frozen=True, slots=True)
class RecordingRow:
    id: int
    pid: int
    hostname: str
    started: float
    """Unix time the process opened the file."""
    ended: float | None
    """Unix time it closed the file cleanly; None while recording, or forever after a crash."""
    first_server_id: int
    first_conn_id: int
    live: bool
    """Its process is running now (this one, or another on this host)."""

    @property
    def ended_uncleanly(self) -> bool:
        return self.ended is None and not self.live


_RECORDING = Columns(
    "recordings",
    "id:int pid:int hostname:text started:time ended:time? first_server_id:int first_conn_id:int",
)


def read_recordings(
    query: Callable[[str], Any], schema_version: int, where: str = "session"
) -> list[RecordingRow]:
    """The file's recordings, oldest first, with whether each is live (none before schema 4).

    A row of the wrong types is damage (DamagedFileError naming `where`).
    """
    if schema_version < 4:
        return []
    rows = [
        _RECORDING.check(row, where)
        for row in query(
            "SELECT id, pid, hostname, started, ended, first_server_id, first_conn_id"
            " FROM recordings ORDER BY id"
        ).fetchall()
    ]
    return [
        RecordingRow(
            id=id_,
            pid=pid,
            hostname=hostname,
            started=started,
            ended=ended,
            first_server_id=first_server,
            first_conn_id=first_conn,
            live=ended is None and _running(pid, hostname, started),
        )
        for id_, pid, hostname, started, ended, first_server, first_conn in rows
    ]


class UncleanEnds:
    """Whether an open server or connection belongs to a recording that ended uncleanly."""

    __slots__ = ("_first_conns", "_first_servers", "_unclean")

    def __init__(self, recordings: list[RecordingRow]) -> None:
        # In recording order the first ids never go down (each continues the
        # numbering); of two with the same first id, the later made the rows.
        self._first_servers = [r.first_server_id for r in recordings]
        self._first_conns = [r.first_conn_id for r in recordings]
        self._unclean = [r.ended_uncleanly for r in recordings]

    @property
    def any(self) -> bool:
        return any(self._unclean)

    def server(self, server_id: int, *, stopped: bool) -> bool:
        return not stopped and self._owner_unclean(self._first_servers, server_id)

    def connection(self, conn_id: int, *, closed: bool) -> bool:
        return not closed and self._owner_unclean(self._first_conns, conn_id)

    def _owner_unclean(self, firsts: list[int], row_id: int) -> bool:
        owner = bisect.bisect_right(firsts, row_id) - 1
        return owner >= 0 and self._unclean[owner]


def _running(pid: int, hostname: str, started: float) -> bool:
    if hostname != platform.node():
        return False
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # os.kill would end the process there, not probe it
    if not 0 < pid < 2**22:  # Linux's pid_max limit; a file may hold anything
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: running
    began = _process_start(pid)
    # /proc's boot time has a resolution of one second.
    return began is None or began <= started + 1.0


def _process_start(pid: int) -> float | None:
    """Unix time the process started (Linux's /proc), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        # Fields after the command name (which may hold spaces and parentheses);
        # starttime is the 22nd field, in clock ticks after boot.
        ticks = int(stat.rpartition(")")[2].split()[19])
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
