from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from netbench.events import Event
from netbench.store import SessionWriter, default_session_dir, list_sessions, new_session_path


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
