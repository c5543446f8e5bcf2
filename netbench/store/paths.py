"""Where session files live, how new ones are named, and listing them."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from netbench.store.damage import starts_like_sqlite
from netbench.store.errors import DamagedFileError, StoreError
from netbench.store.reader import SessionReader

SUFFIX = ".netbench.sqlite"
"""The end of every session file name netbench picks itself."""

DATA_DIR_ENV = "NETBENCH_DATA_DIR"
"""When set, replaces the platform's user data directory (tests use it)."""


@dataclass(frozen=True, slots=True)
class SessionSummary:
    path: Path
    created: float
    """Unix time the session was created (of a damaged file: last modified)."""
    size: int
    """Bytes on disk, counting the write-ahead log of a live session."""
    connections: int
    exchanges: int
    damaged: str | None = None
    """What is wrong with a damaged file (its counts are then 0)."""


def default_session_dir() -> Path:
    """`$NETBENCH_DATA_DIR/sessions`, else the platform's user data dir + `/sessions`."""
    override = os.environ.get(DATA_DIR_ENV)
    base = Path(override) if override else Path(platformdirs.user_data_dir("netbench"))
    return base / "sessions"


def new_session_path(directory: Path | None = None) -> Path:
    """A fresh, unused name like `20260509-073525-3fa9c1.netbench.sqlite`.

    Names sort by creation time; the random part keeps two processes started
    in the same second apart. The file itself is not created.
    """
    directory = default_session_dir() if directory is None else directory
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        path = directory / f"{stamp}-{secrets.token_hex(3)}{SUFFIX}"
        if not path.exists():
            return path


def _size(path: Path) -> int:
    total = 0
    for candidate in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(OSError):
            total += candidate.stat().st_size
    return total


def list_sessions(directory: Path | None = None) -> list[SessionSummary]:
    """Every session in `directory` (not recursive), oldest first.

    Any file is considered, whatever its name, since `--session PATH` may
    name it freely; files that are not sessions (or cannot be read) are
    skipped, damaged ones are listed with what is wrong. Checking the SQLite
    header first means other files are never handed to SQLite.
    """
    directory = default_session_dir() if directory is None else directory
    summaries: list[SessionSummary] = []
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return summaries
    for path in entries:
        if path.name.endswith(("-wal", "-shm", "-journal")) or not path.is_file():
            continue
        if not starts_like_sqlite(path):
            continue
        try:
            with SessionReader(path) as reader:
                created = reader.info().created
                counts = reader.counts()
        except DamagedFileError as error:
            with contextlib.suppress(OSError):
                summaries.append(
                    SessionSummary(path, path.stat().st_mtime, _size(path), 0, 0, error.what)
                )
            continue
        except StoreError:
            continue
        summaries.append(
            SessionSummary(path, created, _size(path), counts.connections, counts.exchanges)
        )
    summaries.sort(key=lambda summary: (summary.created, str(summary.path)))
    return summaries
