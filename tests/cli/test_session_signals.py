"""SIGTERM (and SIGHUP, a closed terminal) end a recording cleanly: one file.

`netbench` runs as a user runs it, on a pseudo-terminal, with a connection
open in its Bytes view (a reader of the session); `netbench serve http` runs
as in scripts. After the signal the process exits 0, no -wal or -shm is left
next to the session (issue 15), the recording is marked ended and the file
holds every request. With another reader attached to the file (`sqlite3`,
`netbench session show`), SQLite keeps the file in WAL mode, but the -wal is
left empty: every page is in the file.
"""

from __future__ import annotations

import http.client
import os
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from netbench.store import SessionReader

fcntl = pytest.importorskip("fcntl")
pty = pytest.importorskip("pty")
termios = pytest.importorskip("termios")

REQUESTS = 8


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def read_only(session: Path) -> sqlite3.Connection:
    return sqlite3.connect(session.resolve().as_uri() + "?mode=ro", uri=True)


def page_server_port(session: Path, deadline: float) -> int:
    """The port the TUI's page server listens on (it was asked for port 0), from its session."""
    while time.monotonic() < deadline:
        if session.exists():
            with closing(read_only(session)) as db:
                try:
                    row = db.execute("SELECT port FROM servers WHERE id = 1").fetchone()
                except sqlite3.OperationalError:
                    row = None  # the schema is being created
            if row is not None:
                return int(row[0])
        time.sleep(0.05)
    pytest.fail("the page server was not recorded in time")


def drain(fd: int, seconds: float) -> None:
    """Read what the app draws for `seconds` (a pty whose output nobody reads fills up)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(left, 0.05))
        if ready:
            try:
                if not os.read(fd, 65536):
                    return
            except OSError:
                return


def wait_exit(process: subprocess.Popen[bytes], fd: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        drain(fd, 0.1)
    return process.poll()


def assert_one_whole_file(session: Path, count: int) -> None:
    assert sorted(p.name for p in session.parent.iterdir()) == [session.name]
    with SessionReader(session) as reader:
        targets = [e.request.target for e in reader.exchanges() if e.request]
        assert targets == [f"/page-{n}".encode() for n in range(count)]
        assert all(r.ended is not None for r in reader.recordings())


@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_the_tui_on_a_signal_leaves_one_whole_file(tmp_path: Path, sig: signal.Signals) -> None:
    session = tmp_path / "pty.netbench.sqlite"
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"}
    env.pop("TEXTUAL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "netbench", "--port", "0", "--no-capture", "--session", str(session)],
        stdin=follower, stdout=follower, stderr=follower, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    try:
        port = page_server_port(session, time.monotonic() + 30)
        drain(leader, 0.5)
        for number in range(REQUESTS):
            assert get(port, f"/page-{number}") == 404
        drain(leader, 1.0)
        os.write(leader, b"t")  # focus the traffic list (the newest row is highlighted)
        drain(leader, 0.3)
        os.write(leader, b"\r")  # its connection in the Bytes view: read from the session
        drain(leader, 1.0)
        process.send_signal(sig)
        code = wait_exit(process, leader, 15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        os.close(leader)
    assert code == 0
    assert_one_whole_file(session, REQUESTS)


@pytest.mark.parametrize("attached", [False, True], ids=["alone", "reader-attached"])
def test_serve_on_sigterm_folds_the_wal_back(
    start_serve: Callable[..., Any], tmp_path: Path, attached: bool
) -> None:
    session = tmp_path / "serve.netbench.sqlite"
    server = start_serve("http", "--no-capture", "--session", str(session))
    port = server.listening["port"]
    for number in range(REQUESTS):
        assert get(port, f"/page-{number}") == 404
    server.events(lambda e: e["event"] == "close" and e.get("conn") == REQUESTS)
    with closing(read_only(session)) as other:
        if attached:
            other.execute("SELECT count(*) FROM exchanges").fetchone()  # maps the WAL index
        server.popen.terminate()
        assert server.popen.wait(10) == 0
        wal = Path(f"{session}-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        if attached:
            count = other.execute("SELECT count(*) FROM exchanges").fetchone()[0]
            assert count == REQUESTS
    if not attached:
        assert_one_whole_file(session, REQUESTS)
