"""Backpressure: while the recorder is behind, the engine stops reading its sockets."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from recorder import Events

from netbench.engine.config import default_config
from netbench.engine.engine import Engine
from netbench.events import ChunkRecorded, ConnectionOpened
from netbench.model import Direction
from netbench.store import SessionReader, SessionWriter


def _echo_round_trip(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    received = b""
    while len(received) < len(data):
        received += sock.recv(65536)
    return received


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


async def test_a_writer_behind_pauses_the_engine_and_records_everything(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "s.netbench.sqlite"
    # A writer that flushes once a second (the 30 round trips take far less)
    # and calls itself behind past 20 events.
    writer = SessionWriter(path, flush_interval=1.0, backlog_limit=20)
    writer.open()
    changes: list[bool] = []
    caught_up = asyncio.Event()
    loop = asyncio.get_running_loop()

    def pause(behind: bool) -> None:
        changes.append(behind)
        engine.ctx.pause_reading(behind)
        if not behind:
            caught_up.set()

    writer.pause_with(loop, pause)
    engine.ctx.bus.subscribe(writer)
    try:
        server = await engine.start_server(default_config("echo"))
        with socket.create_connection(("127.0.0.1", server.address.port), timeout=3) as sock:
            for index in range(30):  # 60 chunk events before the first flush
                message = b"message %02d" % index
                assert await asyncio.to_thread(_echo_round_trip, sock, message) == message
            await asyncio.wait_for(caught_up.wait(), 10)
            assert changes == [True, False]
            assert not engine.ctx.reading_paused
            assert await asyncio.to_thread(_echo_round_trip, sock, b"after") == b"after"
    finally:
        await engine.stop_all()
        writer.close()
    with SessionReader(path) as reader:
        [connection] = reader.connections()
        received = [c.data for c in reader.chunks(connection.id) if c.direction is Direction.IN]
    assert received == [b"message %02d" % i for i in range(30)] + [b"after"]
