"""Recorded sessions are private to their user, whatever the umask (docs/security.md).

A real `netbench serve` child, with umask 0, records a real request: its
sessions folder is 0700 and the session file and SQLite's -wal and -shm are
0600 while it records and after it exits.
"""

from __future__ import annotations

import http.client
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netbench.store import SessionReader


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0 here and in the children started meanwhile (they inherit it)."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_records_into_private_files(
    start_serve, netbench_env: Path, open_umask: None
) -> None:
    server = start_serve("http")
    session = server.session
    assert session is not None and session.parent == netbench_env / "sessions"
    conn = http.client.HTTPConnection(*server.address, timeout=5)
    conn.request("GET", "/?password=hunter2")
    assert conn.getresponse().read()
    conn.close()
    server.events(lambda e: e["event"] == "exchange")
    with SessionReader(session) as reader:
        deadline = time.monotonic() + 5
        while reader.counts().exchanges < 1:
            assert time.monotonic() < deadline, "the request was never recorded"
            time.sleep(0.02)
    companions = [session.with_name(session.name + end) for end in ("-wal", "-shm")]
    assert {p.name: _mode(p) for p in (session, *companions)} == {
        p.name: 0o600 for p in (session, *companions)
    }
    assert _mode(session.parent) == _mode(netbench_env) == 0o700
    assert server.stop() == 0
    assert _mode(session) == 0o600
