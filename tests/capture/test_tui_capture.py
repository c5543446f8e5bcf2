"""The TUI capturing for real (root): its session holds its own connections' packets only."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from capturekit import PRIVILEGED
from httpkit import status_of

from netbench.ui.app import AppConfig, NetbenchApp

pytestmark = PRIVILEGED


def capturing(session: Path) -> bool:
    with closing(sqlite3.connect(f"file:{session}?mode=ro", uri=True, timeout=1)) as db:
        return bool(db.execute("SELECT count(*) FROM capture WHERE running = 1").fetchone()[0])


def foreign_connection() -> int:
    """Another program's connection on loopback: a listener and a client, not netbench's."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
            accepted, _ = listener.accept()
            client.sendall(b"not netbench's business")
            accepted.recv(100)
            accepted.close()
    return port


@pytest.mark.timeout(60)
async def test_the_session_keeps_netbench_packets_and_not_the_machine_s(tmp_path: Path) -> None:
    session = tmp_path / "tui.netbench.sqlite"
    app = NetbenchApp(AppConfig(port=0, session=session))
    async with app.run_test(size=(160, 50)) as pilot:
        await asyncio.wait_for(app.started.wait(), 10)  # the engine starts after the first frame
        assert app.page_server is not None
        async with asyncio.timeout(10):  # the session records when capture runs
            while not capturing(session):
                await pilot.pause(0.05)
        port = app.page_server.address.port
        other = await asyncio.to_thread(foreign_connection)
        assert await asyncio.to_thread(status_of, port) == 200
        await pilot.pause(1.0)  # the last FIN/ACKs and the writer's batch
    with closing(sqlite3.connect(session)) as db:
        ports = db.execute("SELECT src_port, dst_port, flags FROM packets").fetchall()
    ours = [row for row in ports if port in row[:2]]
    assert [flags for _src, dst, flags in ours if dst == port][:1] == ["S"]
    assert any(flags == "SA" for _src, _dst, flags in ours)
    assert not [row for row in ports if other in row[:2]], "another program's packets were kept"
    assert len(ours) == len(ports)
