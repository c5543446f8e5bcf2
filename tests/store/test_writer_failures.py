"""The writer under failure: bad paths, SQLite errors, a full disk, kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from sessionkit import record

from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    ServerStarted,
    SocketEventRecorded,
)
from netbench.model import Direction, Endpoint, EndReason, Role, SocketEventKind, Transport
from netbench.store import SessionReader, SessionWriter, StoreError

MakeEvents = Callable[..., list[Event]]
WaitUntil = Callable[..., float]

LOCAL = Endpoint("127.0.0.1", 8000)
PEER = Endpoint("127.0.0.1", 40000)


@pytest.mark.parametrize("layout", ["parent-is-a-file", "path-is-a-directory"])
def test_unwritable_path_raises_store_error(tmp_path: Path, layout: str) -> None:
    blocker = tmp_path / "blocker"
    if layout == "parent-is-a-file":
        blocker.write_text("not a directory")
        path = blocker / "session.netbench.sqlite"
    else:
        blocker.mkdir()
        path = blocker
    with pytest.raises(StoreError) as raised:
        SessionWriter(path).open()
    message = str(raised.value)
    assert "\n" not in message
    assert str(blocker) in message


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_directory_raises_store_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(StoreError):
            SessionWriter(locked / "s.netbench.sqlite").open()
    finally:
        locked.chmod(0o700)


def test_sqlite_failure_stops_recording_and_reports_once(
    session_path: Path, make_events: MakeEvents, wait_until: WaitUntil
) -> None:
    reports: list[tuple[str, str]] = []
    reported = threading.Event()

    def on_error(message: str) -> None:
        reports.append((message, threading.current_thread().name))
        reported.set()

    events = make_events(time.monotonic())
    writer = SessionWriter(session_path, flush_interval=0.01, on_error=on_error)
    writer.open()
    writer(events[0])
    writer(events[1])
    with SessionReader(session_path) as reader:
        wait_until(lambda: reader.counts().connections == 1)
    # Someone else breaks the file under the writer: a real SQLite error on
    # the next batch ("no such table").
    with closing(sqlite3.connect(session_path, isolation_level=None)) as other:
        other.execute("DROP TABLE chunk_blocks")
    for event in events[2:]:
        writer(event)
    assert reported.wait(2.0)
    for _ in range(10_000):  # dropped cheaply, never raised
        writer(events[3])
    writer.close()
    writer.close()

    [(message, thread_name)] = reports
    assert "\n" not in message
    assert str(session_path) in message
    assert "no such table" in message
    assert thread_name == "netbench-session-writer"
    with closing(sqlite3.connect(session_path)) as raw:
        # The failed batch was rolled back whole.
        assert raw.execute("SELECT count(*) FROM exchanges").fetchone() == (0,)


def test_disk_full_is_reported_once_and_earlier_batches_survive(tmp_path: Path) -> None:
    resource = pytest.importorskip("resource")
    if not hasattr(signal, "SIGXFSZ"):
        pytest.skip("needs SIGXFSZ")
    assert resource  # imported in the child; skip here when it is missing
    path = tmp_path / "full.netbench.sqlite"
    # RLIMIT_FSIZE makes writes past the limit fail with EFBIG, as on a full
    # disk; in a child process so pytest's own files are not limited.
    script = textwrap.dedent(
        """
        import resource, signal, sys, threading, time
        from netbench.events import ChunkRecorded, ConnectionOpened
        from netbench.model import Direction, Endpoint, Role, Transport
        from netbench.store import SessionReader, SessionWriter

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        done = threading.Event()
        def on_error(message):
            print("ERROR", message, flush=True)
            done.set()
        writer = SessionWriter(sys.argv[1], flush_interval=0.01, on_error=on_error)
        writer.open()
        t = time.monotonic()
        ep = Endpoint("127.0.0.1", 1)
        writer(ConnectionOpened(1, None, Role.CLIENT, Transport.TCP, ep, ep, t))
        with SessionReader(sys.argv[1]) as reader:
            while reader.counts().connections != 1:
                time.sleep(0.005)
        limit = 512 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        for seq in range(64):
            writer(ChunkRecorded(1, seq, Direction.IN, seq * 32768, b"x" * 32768, t))
        assert done.wait(5), "no error reported"
        for seq in range(64, 1000):
            writer(ChunkRecorded(1, seq, Direction.IN, 0, b"y", t))
        writer.close()
        print("CLOSED", flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len([line for line in lines if line.startswith("ERROR")]) == 1
    assert lines[-1] == "CLOSED"
    with SessionReader(path) as reader:
        assert reader.counts().connections == 1


def test_committed_batches_survive_kill_9(session_path: Path, wait_until: WaitUntil) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from netbench.events import ChunkRecorded, ConnectionOpened
        from netbench.model import Direction, Endpoint, Role, Transport
        from netbench.store import SessionWriter

        writer = SessionWriter(sys.argv[1])
        writer.open()
        t = time.monotonic()
        ep = Endpoint("127.0.0.1", 1)
        writer(ConnectionOpened(1, None, Role.CLIENT, Transport.TCP, ep, ep, t))
        for seq in range(100):
            writer(ChunkRecorded(1, seq, Direction.IN, seq, bytes([seq]), t))
        print("PUBLISHED", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(session_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "PUBLISHED"
        with SessionReader(session_path) as reader:
            wait_until(lambda: reader.counts().chunks == 100)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    with SessionReader(session_path) as reader:
        assert [chunk.data for chunk in reader.chunks(1)] == [bytes([i]) for i in range(100)]
    with closing(sqlite3.connect(session_path)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_event_breaking_a_constraint_is_skipped_not_fatal(session_path: Path) -> None:
    errors: list[str] = []
    t0 = time.monotonic()
    opened = ConnectionOpened(1, None, Role.CLIENT, Transport.TCP, LOCAL, PEER, t0)
    orphan = ChunkRecorded(99, 0, Direction.IN, 0, b"orphan", t0)  # no such connection
    good = ChunkRecorded(1, 0, Direction.IN, 0, b"good", t0)
    writer = record(session_path, [opened, orphan, good, good], on_error=errors.append)
    assert errors == []
    assert writer.skipped == 2  # the orphan and the duplicate seq
    with SessionReader(session_path) as reader:
        assert [chunk.data for chunk in reader.chunks(1)] == [b"good"]


def test_unknown_events_are_ignored(session_path: Path) -> None:
    errors: list[str] = []
    t0 = time.monotonic()
    server = ServerStarted(1, "echo", Transport.TCP, LOCAL, t0, {"weird": object()})
    writer = record(session_path, [object(), server, "text"], on_error=errors.append)  # type: ignore[list-item]
    assert (errors, writer.skipped) == ([], 0)
    with SessionReader(session_path) as reader:
        [row] = reader.servers()
    assert isinstance(row.options["weird"], str)  # not JSON: stored as its str()


def test_close_is_idempotent_and_later_events_are_dropped(session_path: Path) -> None:
    writer = SessionWriter(session_path)
    writer.open()
    writer.close()
    writer.close()
    writer(ConnectionOpened(1, None, Role.CLIENT, Transport.TCP, LOCAL, PEER, time.monotonic()))
    with SessionReader(session_path) as reader:
        assert reader.counts().connections == 0


def test_a_detail_naming_an_undecodable_file_is_recorded_not_fatal(session_path: Path) -> None:
    # An OSError about a file whose name is not UTF-8 carries a lone surrogate
    # (os.fsdecode's surrogateescape); SQLite's driver refuses to encode it.
    name = os.fsdecode(b"/srv/caf\xe9.txt")
    detail = f"[Errno 13] Permission denied: '{name}'"
    errors: list[str] = []
    t0 = time.monotonic()
    events = [
        ConnectionOpened(1, None, Role.CLIENT, Transport.TCP, LOCAL, PEER, t0),
        SocketEventRecorded(1, SocketEventKind.ERROR, t0 + 0.1, detail),
        ConnectionClosed(1, EndReason.ERROR, t0 + 0.2, 0, 0, detail),
        ChunkRecorded(1, 0, Direction.IN, 0, b"after", t0 + 0.3),
    ]
    record(session_path, events, on_error=errors.append)
    assert errors == []  # the recording went on
    with SessionReader(session_path) as reader:
        [event] = reader.socket_events(1)
        closed = reader.connection(1)
    shown = "[Errno 13] Permission denied: '/srv/caf\\udce9.txt'"
    assert event.detail == shown
    assert closed is not None and closed.detail == shown
