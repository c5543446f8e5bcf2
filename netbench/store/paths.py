"""Where session files live, how new ones are named, and listing them.

Session files hold every recorded byte (cookies and passwords included), so
they are private to their user, whatever the umask: directories netbench
creates for them are 0700, session files 0600 (SQLite gives a database's
-wal, -shm and -journal files the database file's own mode). An existing
directory that is netbench's own (the default sessions directory, a
`.responses` folder) is tightened if the user owns it: older versions
created them 0755. Directories the user named are never chmod-ed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from netbench.store.damage import starts_like_sqlite
from netbench.store.errors import DamagedFileError, StoreError, one_line

SUFFIX = ".netbench.sqlite"
"""The end of every session file name netbench picks itself."""

DATA_DIR_ENV = "NETBENCH_DATA_DIR"
"""When set, replaces the platform's user data directory (tests use it)."""

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_COMPANIONS = ("-wal", "-shm", "-journal")
"""What SQLite keeps beside a database file (named after it)."""


@dataclass(frozen=True, slots=True)
class SessionSummary:
    path: Path
    created: float
    """Unix time the session was created (of a damaged file: last modified)."""
    size: int
    """Bytes on disk, counting the write-ahead log of a live session."""
    connections: int
    exchanges: int
    recording: bool = False
    """A process is recording into it now."""
    ended_uncleanly: bool = False
    """A recording of it stopped without closing it (killed, crashed, power lost)."""
    damaged: str | None = None
    """What is wrong with a damaged file (its counts are then 0)."""


def data_dir() -> Path:
    """`$NETBENCH_DATA_DIR`, else the platform's user data dir for netbench."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_data_dir("netbench"))


def default_session_dir() -> Path:
    """`$NETBENCH_DATA_DIR/sessions`, else the platform's user data dir + `/sessions`."""
    return data_dir() / "sessions"


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


def make_private_dir(directory: Path, *, ours: bool = False) -> None:
    """Create `directory` and its missing parents, each 0700 whatever the umask.

    `ours`: the directory is netbench's own, so an existing one owned by the
    user loses group and other access (see the module's rules). Raises OSError.
    """
    missing = [path for path in (directory, *directory.parents) if not path.exists()]
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # another process made it at the same moment: its mode is its own
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode passes through the umask
    if not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(directory))
    if ours and directory not in missing:
        tighten(directory, PRIVATE_DIR)


def tighten(path: Path, mode: int) -> None:
    """Drop the permission bits of `path` outside `mode`, if the user owns it. Raises OSError."""
    status = path.stat()
    current = stat.S_IMODE(status.st_mode)
    if status.st_uid == os.geteuid() and current & ~mode:
        os.chmod(path, current & mode)


def create_private_file(path: Path) -> None:
    """Create `path` empty and 0600 whatever the umask, unless it exists. Raises OSError."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        return
    try:
        os.fchmod(handle, PRIVATE_FILE)
    finally:
        os.close(handle)


def tighten_session_file(path: Path) -> None:
    """Make an existing session file and its SQLite companions 0600 (if the user owns them)."""
    for candidate in (path, *(path.with_name(path.name + end) for end in _COMPANIONS)):
        with contextlib.suppress(FileNotFoundError):
            tighten(candidate, PRIVATE_FILE)


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
    header first means other files are never handed to SQLite. A missing
    directory holds no sessions; one that cannot be read raises StoreError
    ("no sessions" would hide why).
    """
    from netbench.store.reader import SessionReader  # not at the top: the TUI starts with a path

    directory = default_session_dir() if directory is None else directory
    summaries: list[SessionSummary] = []
    try:
        entries = sorted(directory.iterdir())
    except FileNotFoundError:
        return summaries
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else one_line(exc)
        raise StoreError(f"cannot read {directory}: {reason}") from exc
    for path in entries:
        if path.name.endswith(_COMPANIONS) or not path.is_file():
            continue
        if not starts_like_sqlite(path):
            continue
        try:
            with SessionReader(path) as reader:
                created = reader.info().created
                counts = reader.counts()
                recordings = reader.recordings()
        except DamagedFileError as error:
            with contextlib.suppress(OSError):
                summaries.append(
                    SessionSummary(
                        path, path.stat().st_mtime, _size(path), 0, 0, damaged=error.what
                    )
                )
            continue
        except StoreError:
            continue
        summaries.append(
            SessionSummary(
                path,
                created,
                _size(path),
                counts.connections,
                counts.exchanges,
                recording=any(recording.live for recording in recordings),
                ended_uncleanly=any(recording.ended_uncleanly for recording in recordings),
            )
        )
    summaries.sort(key=lambda summary: (summary.created, str(summary.path)))
    return summaries
