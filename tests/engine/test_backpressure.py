"""Backpressure: while the recorder is behind, the engine stops reading its sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import threading
from pathlib import Path

import pytest
from recorder import Events

from netbench.engine.clients import open_tcp
from netbench.engine.config import default_config
from netbench.engine.engine import Engine
from netbench.events import ChunkRecorded, ConnectionOpened, SocketEventRecorded
from netbench.model import Direction, SocketEventKind
from netbench.store import SessionReader, SessionWriter

pytestmark = pytest.mark.both_loops


def _echo_round_trip(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    received = b""
    while len(received) < len(data):
        received += sock.recv(65536)
    return received


class PauseLog:
    """Wires a writer's backpressure to the engine, as serve and the TUI do,
    and keeps what it asked for; `caught_up` is set when it resumed."""

    def __init__(self, engine: Engine, writer: SessionWriter) -> None:
        self.changes: list[bool] = []
        self.caught_up = asyncio.Event()
        self.paused = asyncio.Event()
        self._engine = engine
        writer.pause_with(asyncio.get_running_loop(), self)
        engine.ctx.bus.subscribe(writer)

    def __call__(self, behind: bool) -> None:
        self.changes.append(behind)
        self._engine.ctx.pause_reading(behind)
        if behind:
            self.paused.set()
        else:
            self.caught_up.set()


async def test_paused_reading_holds_bytes_in_the_kernel_until_resumed(
    engine: Engine, events: Events
) -> None:
    server = await engine.start_server(default_config("echo"))
    with socket.create_connection(("127.0.0.1", server.address.port), timeout=3) as old:
        assert await asyncio.to_thread(_echo_round_trip, old, b"before") == b"before"
        engine.ctx.pause_reading(True)
        old.sendall(b"while paused")
        # A connection accepted while paused starts paused too.
        with socket.create_connection(("127.0.0.1", server.address.port), timeout=3) as new:
            new.sendall(b"new and paused")
            await events.wait_for(ConnectionOpened, lambda e: e.peer.port == new.getsockname()[1])
            await asyncio.sleep(0.3)  # long enough for an unpaused echo to have read them
            received = [c.data for c in events.of(ChunkRecorded, direction=Direction.IN)]
            assert received == [b"before"]
            engine.ctx.pause_reading(False)
            await events.wait_for(ChunkRecorded, lambda e: e.data == b"while paused")
            await events.wait_for(ChunkRecorded, lambda e: e.data == b"new and paused")
            assert new.recv(100) == b"new and paused"
        assert old.recv(100) == b"while paused"


class ClosedUnderneath:
    """A stream whose transport raises on resume, as uvloop's did once its
    socket's handle had closed before `connection_lost` was delivered."""

    def set_reading(self, reading: bool) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")


async def test_one_stream_failing_to_resume_leaves_no_other_paused(
    engine: Engine, events: Events, capsys: pytest.CaptureFixture[str]
) -> None:
    # Once, a recording proxy's upstream legs stayed paused for good: the
    # resume stopped at the first transport that raised, and the clients
    # behind the rest waited for the upstream timeout (60 s).
    server = await engine.start_server(default_config("echo"))
    port = server.address.port
    clients = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(3)]
    try:
        for index, client in enumerate(clients):
            assert await asyncio.to_thread(_echo_round_trip, client, b"%d" % index) == b"%d" % index
        engine.ctx.pause_reading(True)
        broken = [ClosedUnderneath() for _ in range(3)]
        engine.ctx.streams.update(broken)  # wherever they come in the set, some before the rest
        for client in clients:
            client.sendall(b"while paused")
        engine.ctx.pause_reading(False)
        for client in clients:
            assert await asyncio.to_thread(client.recv, 100) == b"while paused"
        engine.ctx.streams.difference_update(broken)
        assert "internal error in pausing or resuming" in capsys.readouterr().err
    finally:
        for client in clients:
            client.close()


async def test_a_writer_behind_pauses_the_engine_and_records_everything(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "s.netbench.sqlite"
    # A writer that flushes every two seconds (the 30 round trips take far less)
    # and calls itself behind past 20 events.
    writer = SessionWriter(path, flush_interval=2.0, backlog_limit=20)
    writer.open()
    log = PauseLog(engine, writer)
    try:
        server = await engine.start_server(default_config("echo"))
        with socket.create_connection(("127.0.0.1", server.address.port), timeout=3) as sock:
            for index in range(30):  # 60 chunk events before the first flush
                message = b"message %02d" % index
                assert await asyncio.to_thread(_echo_round_trip, sock, message) == message
            await asyncio.wait_for(log.caught_up.wait(), 10)
            assert log.changes == [True, False]
            assert not engine.ctx.reading_paused
            assert await asyncio.to_thread(_echo_round_trip, sock, b"after") == b"after"
    finally:
        await engine.stop_all()
        writer.close()
    with SessionReader(path) as reader:
        [connection] = reader.connections()
        received = [c.data for c in reader.chunks(connection.id) if c.direction is Direction.IN]
    assert received == [b"message %02d" % i for i in range(30)] + [b"after"]


async def test_pausing_a_half_closed_connection_does_not_replay_its_fin(
    engine: Engine, events: Events
) -> None:
    # The time server writes and closes; netbench's client side stays open
    # after the FIN (it may still send). asyncio stopped reading at EOF:
    # resuming must not deliver the FIN again.
    server = await engine.start_server(default_config("time"))
    client = await open_tcp(engine.ctx, "127.0.0.1", server.address.port)
    await events.wait_for(
        SocketEventRecorded,
        lambda e: e.conn_id == client.conn_id and e.kind is SocketEventKind.PEER_FIN,
    )
    for _ in range(3):
        engine.ctx.pause_reading(True)
        engine.ctx.pause_reading(False)
    await asyncio.sleep(0.2)  # time for a replayed FIN to arrive, if one would
    mine = events.of(SocketEventRecorded, conn_id=client.conn_id)
    assert [e.kind for e in mine].count(SocketEventKind.PEER_FIN) == 1
    await client.close()


async def test_a_batch_heavy_in_bytes_pauses_reading_too(engine: Engine, tmp_path: Path) -> None:
    # Few events, each a full recv: counted in bytes, not events. The client
    # keeps uploading, so more waits while a heavy batch is written.
    writer = SessionWriter(tmp_path / "s.sqlite", flush_interval=0.5, backlog_bytes=10_000)
    writer.open()
    log = PauseLog(engine, writer)
    stop = threading.Event()

    def upload(port: int) -> int:
        data = bytes(range(256)) * 400  # 100 KiB a round trip
        rounds = 0
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            while not stop.is_set() and rounds < 500:
                assert _echo_round_trip(sock, data) == data
                rounds += 1
        return rounds

    try:
        server = await engine.start_server(default_config("echo"))
        uploading = asyncio.ensure_future(asyncio.to_thread(upload, server.address.port))
        await asyncio.wait_for(log.caught_up.wait(), 10)
        stop.set()
        assert await uploading > 0
        assert log.changes[:2] == [True, False]
    finally:
        stop.set()
        await engine.stop_all()
        writer.close()


async def test_a_writer_that_cannot_commit_pauses_the_engine_within_its_lag_limit(
    engine: Engine, tmp_path: Path
) -> None:
    # Few events, but their commit waits: another connection holds the
    # file's write lock. What a kill -9 would lose grows with the time, not
    # the count, so the engine must stop reading once `lag_limit` passes.
    path = tmp_path / "s.netbench.sqlite"
    writer = SessionWriter(path)
    writer.open()
    log = PauseLog(engine, writer)
    try:
        server = await engine.start_server(default_config("echo"))
        with (
            socket.create_connection(("127.0.0.1", server.address.port), timeout=3) as sock,
            contextlib.closing(sqlite3.connect(path, isolation_level=None)) as blocker,
        ):
            assert await asyncio.to_thread(_echo_round_trip, sock, b"before") == b"before"
            blocker.execute("BEGIN IMMEDIATE")  # the writer's next INSERT waits for it
            assert await asyncio.to_thread(_echo_round_trip, sock, b"held") == b"held"
            await asyncio.wait_for(log.paused.wait(), 3)
            assert writer.lag() > writer.lag_limit
            sock.sendall(b"while paused")
            await asyncio.sleep(0.3)  # long enough for an unpaused echo to come back
            sock.settimeout(0)
            with pytest.raises(BlockingIOError):
                sock.recv(100)
            blocker.execute("COMMIT")
            await asyncio.wait_for(log.caught_up.wait(), 5)
            sock.settimeout(3)
            assert await asyncio.to_thread(sock.recv, 100) == b"while paused"
        assert log.changes == [True, False]
    finally:
        await engine.stop_all()
        writer.close()
    with SessionReader(path) as reader:
        [connection] = reader.connections()
        received = [c.data for c in reader.chunks(connection.id) if c.direction is Direction.IN]
    assert received == [b"before", b"held", b"while paused"]
