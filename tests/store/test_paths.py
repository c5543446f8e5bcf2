from __future__ import annotations

import os
import re
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from netbench.events import Event
from netbench.store import (
    SessionReader,
    SessionWriter,
    default_session_dir,
    list_sessions,
    new_session_path,
)


def test_data_dir_env_overrides_the_platform_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETBENCH_DATA_DIR", str(tmp_path))
    assert default_session_dir() == tmp_path / "sessions"
    monkeypatch.delenv("NETBENCH_DATA_DIR")
    assert default_session_dir().name == "sessions"
    assert default_session_dir().parent.name == "netbench"


def test_new_session_paths_are_unique_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETBENCH_DATA_DIR", str(tmp_path))
    paths = {new_session_path() for _ in range(50)}
    assert len(paths) == 50
    for path in paths:
        assert path.parent == tmp_path / "sessions"
        assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}\.netbench\.sqlite", path.name)
        assert not path.exists()


def test_list_sessions_counts_and_skips_other_files(
    tmp_path: Path, make_events: Callable[..., list[Event]]
) -> None:
    first = tmp_path / "a.netbench.sqlite"
    writer = SessionWriter(first)
    writer.open()
    for event in make_events(time.monotonic()):
        writer(event)
    writer.close()
    second = tmp_path / "named-by-user.db"
    writer = SessionWriter(second)
    writer.open()
    writer.close()
    (tmp_path / "notes.txt").write_text("hello")
    garbage = tmp_path / "garbage.netbench.sqlite"
    garbage.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    (tmp_path / "empty.netbench.sqlite").touch()
    (tmp_path / "subdir").mkdir()
    with closing(sqlite3.connect(tmp_path / "other.sqlite")) as raw:
        raw.execute("CREATE TABLE t (x)")

    summaries = list_sessions(tmp_path)

    # Oldest first; a file with SQLite's header that SQLite cannot read is
    # shown as damaged (by its modification time), not left out.
    assert [s.path for s in summaries] == [first, second, garbage]
    assert [(s.connections, s.exchanges, s.damaged) for s in summaries] == [
        (1, 1, None),
        (0, 0, None),
        (0, 0, "file is not a database"),
    ]
    assert summaries[0].size >= first.stat().st_size > 0
    assert summaries[0].created <= summaries[1].created


def test_list_sessions_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert list_sessions(tmp_path / "nope") == []


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0, the loosest a user may have: private modes must not come from the umask."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_session_and_its_folders_are_private_whatever_the_umask(
    netbench_env: Path, open_umask: None, make_events: Callable[..., list[Event]]
) -> None:
    path = new_session_path()
    writer = SessionWriter(path, flush_interval=0.01)
    writer.open()
    try:
        for event in make_events(time.monotonic()):
            writer(event)
        with SessionReader(path) as reader:
            deadline = time.monotonic() + 5
            while reader.counts().exchanges < 1:
                assert time.monotonic() < deadline, "the exchange was never recorded"
                time.sleep(0.01)
        wal, shm = path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
        modes = {p.name: _mode(p) for p in (path, wal, shm)}
        assert modes == dict.fromkeys(modes, 0o600)
    finally:
        writer.close()
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700  # sessions/
    assert _mode(netbench_env) == 0o700  # created by netbench for it


def test_an_old_sessions_folder_and_file_are_tightened(
    netbench_env: Path, open_umask: None
) -> None:
    folder = default_session_dir()
    folder.mkdir(parents=True)
    old = folder / "old.netbench.sqlite"
    with SessionWriter(old):
        pass
    old.chmod(0o644)  # as SQLite made it before
    folder.chmod(0o755)
    with SessionWriter(old):
        assert _mode(folder) == 0o700
        assert _mode(old) == 0o600
        assert _mode(old.with_name(old.name + "-wal")) == 0o600


def test_a_folder_the_user_named_keeps_its_mode(tmp_path: Path, open_umask: None) -> None:
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    mine.chmod(0o755)
    with SessionWriter(mine / "s.netbench.sqlite"):
        pass
    assert _mode(mine) == 0o755  # never chmod-ed: only netbench's own folders are
    assert _mode(mine / "s.netbench.sqlite") == 0o600
