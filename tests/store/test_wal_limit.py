"""The -wal file stays under the writer's `wal_limit` while recording, and is
left empty by `close()` even when a reader stays attached (issues 15 and 18).

The limit is lowered to 1 MiB here so that a few MiB of real chunks prove
the mechanism; bench/run.py reports the -wal's largest size over a
1,000,000-exchange run at the real 64 MiB.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from netbench.events import ChunkRecorded, ConnectionOpened, Event
from netbench.model import Direction, Endpoint, Role, Transport
from netbench.store import SessionReader, SessionWriter

WaitUntil = Callable[..., float]

LIMIT = 1024 * 1024
PIECE = bytes(range(256)) * 256
"""64 KiB: a full recv of a bulk upload."""


def wal_size(session: Path) -> int:
    wal = Path(f"{session}-wal")
    return wal.stat().st_size if wal.exists() else 0


@contextmanager
def largest_wal(session: Path) -> Iterator[list[int]]:
    """Polls the -wal file's size every millisecond; yields [largest so far]."""
    largest = [0]
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            largest[0] = max(largest[0], wal_size(session))
            time.sleep(0.001)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield largest
    finally:
        stop.set()
        watcher.join(5)


def upload(conn_id: int, pieces: int, t0: float, first_seq: int = 0) -> list[Event]:
    """A client connection's bulk upload: `pieces` chunks of 64 KiB."""
    events: list[Event] = []
    if first_seq == 0:
        local, peer = Endpoint("127.0.0.1", 40000 + conn_id), Endpoint("127.0.0.1", 9000)
        events.append(ConnectionOpened(conn_id, None, Role.CLIENT, Transport.TCP, local, peer, t0))
    for seq in range(first_seq, first_seq + pieces):
        offset = seq * len(PIECE)
        events.append(ChunkRecorded(conn_id, seq, Direction.OUT, offset, PIECE, t0 + seq * 1e-4))
    return events


def test_a_big_batch_is_committed_in_parts_and_the_wal_stays_under_its_limit(
    session_path: Path, wait_until: WaitUntil
) -> None:
    # 20 MiB queued before the first flush: one transaction would put all of
    # it in the -wal at once.
    writer = SessionWriter(session_path, flush_interval=0.5, wal_limit=LIMIT)
    writer.open()
    try:
        with largest_wal(session_path) as largest:
            for event in upload(1, 320, time.monotonic()):
                writer(event)
            with SessionReader(session_path) as reader:
                wait_until(lambda: reader.counts().chunks == 320, deadline=20)
                assert sum(len(c.data) for c in reader.chunks(1)) == 320 * len(PIECE)
        assert 0 < largest[0] <= LIMIT
        assert session_path.stat().st_size > 16 * LIMIT  # it went through the WAL many times
    finally:
        writer.close()


def test_a_reader_holding_a_snapshot_makes_the_recording_wait_not_the_wal_grow(
    session_path: Path, wait_until: WaitUntil
) -> None:
    # While a reader holds one snapshot the WAL cannot start over: near the
    # limit the writer waits for it (and the engine with it, by the lag limit).
    writer = SessionWriter(session_path, wal_limit=LIMIT)
    writer.open()
    try:
        t0 = time.monotonic()
        with SessionReader(session_path) as pinning, SessionReader(session_path) as reader:
            for event in upload(1, 2, t0):
                writer(event)
            wait_until(lambda: reader.counts().chunks == 2)
            reading = pinning.chunks(1)
            next(reading)  # a read transaction stays open while iterating
            with largest_wal(session_path) as largest:
                for event in upload(1, 48, t0, first_seq=2):  # 3 MiB more
                    writer(event)
                time.sleep(1.5)
                assert reader.counts().chunks < 50  # the writer waits for the reader
                reading.close()  # the snapshot is let go
                wait_until(lambda: reader.counts().chunks == 50, deadline=10)
                wait_until(lambda: wal_size(session_path) <= LIMIT // 2, deadline=5)
            assert largest[0] <= LIMIT
    finally:
        writer.close()


def test_close_with_an_idle_reader_attached_leaves_the_wal_empty(
    session_path: Path, wait_until: WaitUntil
) -> None:
    # An attached reader (`sqlite3` on the file, another netbench) keeps the
    # file in WAL mode; what close() can still do is fold every page back.
    writer = SessionWriter(session_path)
    writer.open()
    with SessionReader(session_path) as reader:
        for event in upload(1, 8, time.monotonic()):
            writer(event)
        wait_until(lambda: reader.counts().chunks == 8)
        assert wal_size(session_path) > 8 * len(PIECE)
        writer.close()
        assert wal_size(session_path) == 0
        assert reader.counts().chunks == 8
        assert reader.recordings()[0].ended is not None


def test_a_steady_recording_keeps_the_log_short_while_the_checkpoints_run_beside_it(
    session_path: Path, wait_until: WaitUntil
) -> None:
    # At the real 64 MiB limit, 40 MiB arriving a MiB at a time (traffic, not
    # one bulk batch). SQLite's own checkpoint ran inside the commit that
    # crossed 16 MiB of log, and that commit held up every write behind it for
    # its two fsyncs (the recorded servers' 50-100 ms stalls). The
    # checkpointer copies the log back beside the writer, and the log starts
    # over long before that mark.
    writer = SessionWriter(session_path, flush_interval=0.02)
    writer.open()
    try:
        t0 = time.monotonic()
        with largest_wal(session_path) as largest, SessionReader(session_path) as reader:
            for first in range(0, 640, 16):
                for event in upload(1, 16, t0, first_seq=first):
                    writer(event)
                wait_until(lambda first=first: reader.counts().chunks == first + 16, deadline=10)
            assert sum(len(c.data) for c in reader.chunks(1)) == 640 * len(PIECE)
        assert largest[0] < 12 * 1024 * 1024, f"the log reached {largest[0]:,} bytes"
        checkpointer = writer._wal.checkpointer
        assert checkpointer is not None and checkpointer.checkpoints > 0
        assert session_path.stat().st_size > 32 * 1024 * 1024  # copied back while recording
    finally:
        writer.close()
    assert wal_size(session_path) == 0
