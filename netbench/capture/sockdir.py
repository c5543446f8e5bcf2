"""Where the capture agent's socket lives: a directory that only its user can change.

Rules (the threat model is in docs/security.md, "The capture agent"):
- another unprivileged local user may create files, directories and
  symlinks wherever anyone may (/tmp), before and while the agent starts,
  to stop it or to stand in for it. So the socket is never a guessable name
  in a shared directory: it lives in a directory that is the served user's
  own (a directory, not a symlink, owned by them, no access for anyone
  else), which nobody else can create, rename or fill;
- that directory is the user's runtime directory ($XDG_RUNTIME_DIR, else
  /run/user/UID) when it is theirs and private, else RUN_DIR/UID: RUN_DIR is
  root's (only root may create names in /run) and holds one private
  directory per user, which the root agent makes. Both ends find the path
  the same way, and no other user can plant anything on it;
- a directory the agent makes anywhere else (`--socket` in a missing
  directory) is made with the user's own identity, by a mkdir that fails on
  anything already there; then checked like any other;
- both ends check the directory: the agent before it binds, the client
  before it connects.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = [
    "RUN_DIR",
    "SOCKET_NAME",
    "SocketDirError",
    "make_private_dir",
    "make_run_dir",
    "private_dir_problem",
    "socket_path",
    "socket_problem",
]

SOCKET_NAME = "netbench-capture.sock"
RUN_DIR = Path("/run/netbench-capture")
"""Root's directory of per-user socket directories, for users without a runtime directory."""


class SocketDirError(Exception):
    """A sentence saying why the socket's directory cannot be trusted or made."""


def private_dir_problem(path: Path, uid: int) -> str | None:
    """Why `path` is not user `uid`'s private directory; None when it is.

    Checked without following a symlink at `path` itself, which would let
    its target's owner be someone else's choice.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as error:
        return f"cannot inspect {path}: {error.strerror}"
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symlink"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if info.st_uid != uid:
        return f"{path} belongs to uid {info.st_uid}, not {uid}"
    if info.st_mode & 0o077:
        return f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def socket_path(uid: int, run_dir: Path = RUN_DIR) -> Path:
    """Where the agent serving `uid` listens: the same answer for the agent and its client."""
    for candidate in (os.environ.get("XDG_RUNTIME_DIR", ""), f"/run/user/{uid}"):
        if candidate and private_dir_problem(Path(candidate), uid) is None:
            return Path(candidate) / SOCKET_NAME
    return run_dir / str(uid) / SOCKET_NAME


def socket_problem(path: Path, uid: int) -> str | None:
    """Why a client of `uid` must not trust the socket at `path`; None when it may.

    Raises FileNotFoundError when nothing is there (no agent yet). The peer's
    identity is checked once connected (SO_PEERCRED), as well.
    """
    info = path.lstat()
    if not stat.S_ISSOCK(info.st_mode):
        return f"{path} is not a socket"
    if info.st_uid not in (uid, 0):
        return f"{path} belongs to uid {info.st_uid}"
    return private_dir_problem(path.parent, uid)


def make_run_dir(directory: Path, uid: int, gid: int = -1) -> None:
    """Make `directory` (RUN_DIR/UID) user `uid`'s private directory; the agent, as root.

    Its parent must be this process's own and closed to others: then nobody
    else can have put anything at `directory` or swap it between the mkdir
    and the chown. Raises SocketDirError.
    """
    base = directory.parent
    try:
        with contextlib.suppress(FileExistsError):
            base.mkdir(mode=0o755)
        info = base.lstat()
    except OSError as error:
        raise SocketDirError(f"cannot make {base}: {error.strerror}") from error
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise SocketDirError(
            f"{base} is not this agent's own directory (a symlink, someone else's, "
            f"or writable by others): remove it"
        )
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass  # an earlier agent's: checked below as it is
    except OSError as error:
        raise SocketDirError(f"cannot make {directory}: {error.strerror}") from error
    else:
        os.chown(directory, uid, gid, follow_symlinks=False)
    _check(directory, uid)


def make_private_dir(directory: Path, uid: int) -> None:
    """Make `directory` if it is missing, then check it is `uid`'s private directory.

    Call it with the user's identity: mkdir then makes it theirs, and fails
    on whatever is already there, which the check then judges.
    """
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise SocketDirError(f"cannot make {directory}: {error.strerror}") from error
    _check(directory, uid)


def _check(directory: Path, uid: int) -> None:
    problem = private_dir_problem(directory, uid)
    if problem is not None:
        raise SocketDirError(
            f"{problem}: the socket's directory must be the user's alone "
            "(a directory, not a symlink, mode 0700)"
        )
