"""Which recordings of a session ended cleanly, judged read-only (store/recordings.py).

Killed recordings are made here by writing the row a killed writer leaves
(its `ended` NULL) for real processes: one that has exited, one started
after the recording (a reused pid), one on another host. tests/cli/test_kill9.py
kills real `netbench serve` processes.
"""

from __future__ import annotations

import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sessionkit import record

from netbench.events import ConnectionOpened, ServerStarted
from netbench.model import Endpoint, Role, Transport
from netbench.store import SessionReader, SessionWriter

LOCAL = Endpoint("127.0.0.1", 8000)
PEER = Endpoint("127.0.0.1", 40000)


def opened(server_id: int, conn_id: int) -> list[object]:
    t = time.monotonic()
    return [
        ServerStarted(server_id, "echo", Transport.TCP, LOCAL, t),
        ConnectionOpened(conn_id, server_id, Role.SERVER, Transport.TCP, LOCAL, PEER, t),
    ]


def leave_unended(path: Path, *, pid: int, hostname: str, started: float) -> None:
    """What a writer killed at once leaves: its recordings row, `ended` NULL (no mocks:
    the process it names is real, and readers look at it)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute(
            "UPDATE recordings SET pid = ?, hostname = ?, started = ?, ended = NULL"
            " WHERE id = (SELECT max(id) FROM recordings)",
            (pid, hostname, started),
        )


@pytest.fixture
def exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(10)
    return child.pid


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait(10)


def test_a_clean_close_ends_the_recording_and_marks_nothing(tmp_path: Path) -> None:
    path = tmp_path / "clean.netbench.sqlite"
    record(path, opened(1, 1))  # left open, but the writer closed cleanly
    with SessionReader(path) as reader:
        (recording,) = reader.recordings()
        assert recording.ended is not None and not recording.ended_uncleanly
        assert (recording.first_server_id, recording.first_conn_id) == (1, 1)
        (server,), (conn,) = reader.servers(), reader.connections()
    assert server.stopped is None and not server.ended_uncleanly
    assert conn.closed is None and not conn.ended_uncleanly


def test_this_process_recording_is_live(tmp_path: Path) -> None:
    path = tmp_path / "live.netbench.sqlite"
    writer = SessionWriter(path, flush_interval=0.01)
    writer.open()
    try:
        for event in opened(1, 1):
            writer(event)
        deadline = time.monotonic() + 5
        with SessionReader(path) as reader:
            while not reader.connections():
                assert time.monotonic() < deadline, "the connection was never committed"
                time.sleep(0.01)
            (recording,) = reader.recordings()
            assert recording.live and recording.ended is None
            assert not reader.servers()[0].ended_uncleanly
            assert not reader.connections()[0].ended_uncleanly
    finally:
        writer.close()


@pytest.mark.parametrize("gone", ["exited", "pid reused", "other host"])
def test_an_unended_recording_whose_process_is_gone_ended_uncleanly(
    tmp_path: Path, gone: str, exited_pid: int, sleeper: subprocess.Popen[bytes]
) -> None:
    path = tmp_path / "killed.netbench.sqlite"
    record(path, opened(1, 1))
    now = time.time()
    if gone == "exited":
        leave_unended(path, pid=exited_pid, hostname=platform.node(), started=now - 5)
    elif gone == "pid reused":
        # A live process, but started long after the recording: not its writer.
        leave_unended(path, pid=sleeper.pid, hostname=platform.node(), started=now - 3600)
    else:
        leave_unended(path, pid=sleeper.pid, hostname=platform.node() + "-elsewhere", started=now)
    with SessionReader(path) as reader:
        (recording,) = reader.recordings()
        assert recording.ended_uncleanly and not recording.live
        assert reader.servers()[0].ended_uncleanly
        assert reader.connections()[0].ended_uncleanly


def test_a_live_process_of_this_host_is_still_recording(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    path = tmp_path / "other.netbench.sqlite"
    record(path, opened(1, 1))
    leave_unended(path, pid=sleeper.pid, hostname=platform.node(), started=time.time())
    with SessionReader(path) as reader:
        assert reader.recordings()[0].live
        assert not reader.servers()[0].ended_uncleanly


def test_rows_belong_to_the_recording_that_made_them(tmp_path: Path, exited_pid: int) -> None:
    # Killed first, appended to and closed cleanly after: only the first
    # recording's open rows ended uncleanly.
    path = tmp_path / "appended.netbench.sqlite"
    record(path, opened(1, 1))
    leave_unended(path, pid=exited_pid, hostname=platform.node(), started=time.time() - 5)
    record(path, opened(2, 2))
    with SessionReader(path) as reader:
        assert [r.ended_uncleanly for r in reader.recordings()] == [True, False]
        assert [s.ended_uncleanly for s in reader.servers()] == [True, False]
        assert [c.ended_uncleanly for c in reader.connections()] == [True, False]
