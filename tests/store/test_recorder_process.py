"""The recorder process: the same session file as the in-process writer, and
what happens when either process dies."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest
from sessionkit import one_exchange

from netbench.events import (
    CaptureStatus,
    ConnectionOpened,
    Event,
    InterceptHeld,
    InterceptReleased,
    PacketCaptured,
)
from netbench.model import Endpoint, Role, TcpPacket, Transport
from netbench.store import SessionReader, SessionWriter, StoreError
from netbench.store.recorder import RecorderProcess

ANCHORS = (1000.0, 1_700_000_000.0)
"""Fixed clock anchors: both files then hold the same times."""


def every_kind(t0: float) -> list[Event]:
    """Every event type the engine publishes, awkward bytes included, over two connections."""
    local, peer = Endpoint("127.0.0.1", 8000), Endpoint("127.0.0.1", 50123)
    packet = TcpPacket(
        t0, peer, local, "S", 1, 0, 65535, 0, b"", b"\x00" * 14 + b"\x45\x00\xff\x1b"
    )
    return [
        *one_exchange(t0),
        ConnectionOpened(2, None, Role.CLIENT, Transport.TCP, peer, local, t0 + 0.05),
        InterceptHeld(1, 1, 1, t0 + 0.06),
        InterceptReleased(1, t0 + 0.07, "answered"),
        PacketCaptured(packet),
        CaptureStatus(True, t0 + 0.08, "in-process on lo", dropped=3),
    ]


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, but those saying which process recorded when."""
    with closing(sqlite3.connect(path)) as db:
        tables = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name not in {"session", "recordings"}
        ]
        return {name: db.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall() for name in tables}


def test_the_process_records_what_the_in_process_writer_records(tmp_path: Path) -> None:
    events = every_kind(ANCHORS[0] + 1)
    files = {"thread": tmp_path / "thread.sqlite", "process": tmp_path / "process.sqlite"}
    with SessionWriter(files["thread"], anchors=ANCHORS) as writer:
        for event in events:
            writer(event)
    with RecorderProcess(files["process"], anchors=ANCHORS) as recorder:
        for event in events:
            recorder(event)
    in_thread, in_process = dump(files["thread"]), dump(files["process"])
    assert in_process == in_thread
    assert in_process["exchanges"] and in_process["chunk_blocks"] and in_process["packets"]
    with SessionReader(files["process"]) as reader:
        [recording] = reader.recordings()
        assert recording.ended is not None  # closed cleanly
        assert recording.pid == os.getpid()  # the engine's process, not the recorder's


def test_rows_reach_a_reader_soon_and_the_recorder_says_so(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    told: list[float] = []
    with RecorderProcess(path) as recorder, SessionReader(path) as reader:
        recorder.on_written = lambda: told.append(time.monotonic())
        sent = time.monotonic()
        for event in one_exchange(time.monotonic())[:5]:
            recorder(event)
        deadline = sent + 5.0
        while not told and time.monotonic() < deadline:
            time.sleep(0.005)
        assert told, "the recorder never said it wrote"
        assert reader.counts().chunks == 2
        assert recorder.lag() < 1.0


def test_a_file_that_cannot_be_recorded_to_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StoreError, match=r"^cannot create session file .*: it is a directory$"):
        RecorderProcess(tmp_path / "dir.sqlite").open()
    stranger = tmp_path / "notes.sqlite"
    stranger.write_bytes(b"just some notes, not a database\n" * 100)
    with pytest.raises(StoreError, match="not a netbench session") as caught:
        RecorderProcess(stranger).open()
    assert "\n" not in str(caught.value)
    assert stranger.read_bytes() == b"just some notes, not a database\n" * 100


def test_a_killed_recorder_is_reported_once_and_recording_stops_quietly(tmp_path: Path) -> None:
    errors: list[str] = []
    recorder = RecorderProcess(tmp_path / "s.sqlite", on_error=errors.append)
    recorder.open()
    try:
        child = recorder._child
        assert child is not None
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while not errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert errors == [
            f"cannot write to {tmp_path / 's.sqlite'}: the recorder process ended"
            " unexpectedly (killed by SIGKILL: no message)"
        ]
        for event in one_exchange(time.monotonic()):
            recorder(event)  # dropped, never raises
        assert recorder.lag() == 0.0  # nothing to pause the engine for
    finally:
        recorder.close()
    assert len(errors) == 1


ENGINE = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from sessionkit import one_exchange
    from netbench.store.recorder import RecorderProcess

    recorder = RecorderProcess(sys.argv[1])
    recorder.open()
    done = []
    recorder.on_written = lambda: done.append(1)
    for conn_id in range(1, 201):
        for event in one_exchange(time.monotonic(), conn_id=conn_id, server_id=conn_id)[:-2]:
            recorder(event)
    while not done:
        time.sleep(0.001)
    print(recorder._child.pid, flush=True)
    time.sleep(60)
    """
)


def test_the_engine_killed_leaves_what_it_sent_and_an_unended_recording(tmp_path: Path) -> None:
    # Every event cut and sent is written even though no `close` ever comes;
    # the recording stays unended, so what was open reads as ended uncleanly.
    path = tmp_path / "killed.sqlite"
    here = str(Path(__file__).parent.parent)  # where sessionkit.py is
    engine = subprocess.Popen(
        [sys.executable, "-c", ENGINE, str(path), here], stdout=subprocess.PIPE, text=True
    )
    try:
        assert engine.stdout is not None
        recorder_pid = int(engine.stdout.readline())
        engine.kill()
        engine.wait(10)
    finally:
        if engine.poll() is None:
            engine.kill()
    deadline = time.monotonic() + 10.0
    while Path(f"/proc/{recorder_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # not our child: it is reaped by init once done
    with SessionReader(path) as reader:
        counts = reader.counts()
        assert (counts.servers, counts.connections, counts.chunks) == (200, 200, 600)
        [recording] = reader.recordings()
        assert recording.ended is None
        assert recording.ended_uncleanly
        assert all(conn.ended_uncleanly for conn in reader.connections())


def test_a_recorder_spawned_early_records_once_opened(tmp_path: Path) -> None:
    path = tmp_path / "early.sqlite"
    recorder = RecorderProcess(path)
    recorder.spawn()
    child = recorder._child
    recorder.spawn()  # a second call starts nothing more
    assert recorder._child is child
    recorder.open()
    try:
        for event in one_exchange(time.monotonic()):
            recorder(event)
    finally:
        recorder.close()
    with SessionReader(path) as reader:
        counts = reader.counts()
        assert (counts.connections, counts.exchanges, counts.chunks) == (1, 1, 3)
        [recording] = reader.recordings()
        assert recording.ended is not None


def test_a_spawned_recorder_reports_its_failure_at_open(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    recorder = RecorderProcess(tmp_path / "dir.sqlite")
    recorder.spawn()  # returns: the child has not answered yet
    with pytest.raises(StoreError, match=r"^cannot create session file .*: it is a directory$"):
        recorder.open()
    recorder.close()  # nothing left to close


def test_a_recorder_spawned_and_never_opened_ends_its_recording_at_close(tmp_path: Path) -> None:
    # The TUI quit before its engine started: the file is a clean, empty session.
    path = tmp_path / "unused.sqlite"
    recorder = RecorderProcess(path)
    recorder.spawn()
    recorder.close()
    with SessionReader(path) as reader:
        assert reader.counts().connections == 0
        [recording] = reader.recordings()
        assert recording.ended is not None


async def test_on_the_engines_loop_the_loop_sends_and_the_thread_steps_aside(
    tmp_path: Path,
) -> None:
    # Why the loop sends (store/recorder.py): a sender thread beside a busy
    # uvloop waited for the GIL until the engine paused. Every event before,
    # during and after the handover is in the file, in order.
    path = tmp_path / "loop.sqlite"
    recorder = RecorderProcess(path)
    recorder.open()
    loop = asyncio.get_running_loop()
    try:
        for conn_id in range(1, 101):
            for event in one_exchange(time.monotonic(), conn_id=conn_id, server_id=conn_id):
                recorder(event)
        recorder.pause_with(loop, lambda paused: None)
        for conn_id in range(101, 201):
            for event in one_exchange(time.monotonic(), conn_id=conn_id, server_id=conn_id):
                recorder(event)
            await asyncio.sleep(0)
        sender = next(t for t in recorder._threads if t.name.endswith("send"))
        await asyncio.to_thread(sender.join, 5.0)
        assert not sender.is_alive(), "the sender thread kept sending beside the loop"
        for conn_id in range(201, 301):
            for event in one_exchange(time.monotonic(), conn_id=conn_id, server_id=conn_id):
                recorder(event)
        await asyncio.sleep(0.05)  # a few of the loop's ticks
    finally:
        recorder.close()
    with SessionReader(path) as reader:
        counts = reader.counts()
        assert (counts.servers, counts.connections, counts.chunks) == (300, 300, 900)
        assert all(conn.closed is not None for conn in reader.connections())
        [recording] = reader.recordings()
        assert recording.ended is not None
