"""Where the capture agent's socket lives, against another local user's traps.

Unprivileged: each trap is set in tmp_path by this user, standing in for
another user setting it in /tmp; what matters is that the agent and its
client judge what they find there and refuse it. (tests/capture/test_agent.py
has the root agent facing a file of another uid, for real.)
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from capturekit import Recorder

from netbench.capture import AgentClient, sockdir, wire
from netbench.events import CaptureStatus


def private(path: Path) -> Path:
    path.mkdir()
    path.chmod(0o700)
    return path


def shared(path: Path) -> Path:
    """A directory like /tmp: anyone may create names in it."""
    path.mkdir()
    path.chmod(0o1777)
    return path


def test_the_default_socket_is_never_a_name_in_a_shared_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    # A user without a runtime directory (no /run/user/54321): another user
    # could pre-create /tmp/netbench-capture-54321.sock and stop the agent.
    path = wire.agent_socket_path(54321)
    assert path == Path("/run/netbench-capture/54321/netbench-capture.sock")
    assert Path("/tmp") not in path.parents


def make_symlink(path: Path) -> None:
    target = private(path.parent / "elsewhere")
    path.symlink_to(target)


def make_file(path: Path) -> None:
    path.write_text("")


def make_open(mode: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.mkdir()
        path.chmod(mode)

    return make


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (private, None),
        (make_open(0o755), "is open to other users (mode 755)"),
        (make_open(0o1777), "is open to other users (mode 1777)"),
        (make_open(0o710), "is open to other users (mode 710)"),
        (make_symlink, "is a symlink"),
        (make_file, "is not a directory"),
        (lambda path: None, "does not exist"),
    ],
)
def test_what_counts_as_a_private_directory(
    tmp_path: Path, make: Callable[[Path], object], problem: str | None
) -> None:
    path = tmp_path / "dir"
    make(path)
    found = sockdir.private_dir_problem(path, os.getuid())
    assert found == (None if problem is None else f"{path} {problem}")


def test_someone_elses_directory_is_not_private(tmp_path: Path) -> None:
    path = private(tmp_path / "dir")
    other = os.getuid() + 1
    assert sockdir.private_dir_problem(path, other) == (
        f"{path} belongs to uid {os.getuid()}, not {other}"
    )


# -- the agent's own directory under a root-owned one (RUN_DIR/UID) ----------------


def test_run_dir_made_private_and_reused(tmp_path: Path) -> None:
    base = tmp_path / "run"
    directory = base / str(os.getuid())
    sockdir.make_run_dir(directory, os.getuid())
    sockdir.make_run_dir(directory, os.getuid())  # the next agent finds it as it was
    assert stat.S_IMODE(base.stat().st_mode) == 0o755
    info = directory.lstat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.getuid(), 0o700)


@pytest.mark.parametrize(
    ("plant", "says"),
    [
        (lambda base, directory: shared(base), "writable by others"),
        (lambda base, directory: base.symlink_to(private(base.parent / "x")), "symlink"),
        (lambda base, directory: (base.mkdir(), make_symlink(directory)), "is a symlink"),
        (lambda base, directory: (base.mkdir(), make_open(0o755)(directory)), "open to other"),
    ],
    ids=["shared-base", "base-symlink", "dir-symlink", "dir-mode"],
)
def test_run_dir_refuses_what_it_did_not_make_safely(
    tmp_path: Path, plant: Callable[[Path, Path], object], says: str
) -> None:
    base = tmp_path / "run"
    directory = base / str(os.getuid())
    plant(base, directory)
    with pytest.raises(sockdir.SocketDirError, match=says):
        sockdir.make_run_dir(directory, os.getuid())
    assert not (tmp_path / "elsewhere" / "netbench-capture.sock").exists()


# -- a directory the user names (--socket) -----------------------------------------


def test_a_missing_directory_is_made_private_even_in_a_shared_one(tmp_path: Path) -> None:
    directory = shared(tmp_path / "tmp") / "netbench"
    sockdir.make_private_dir(directory, os.getuid())
    assert stat.S_IMODE(directory.lstat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("plant", "says"),
    [(make_symlink, "is a symlink"), (make_open(0o777), "open to other users")],
    ids=["symlink", "mode"],
)
def test_a_planted_directory_is_refused(
    tmp_path: Path, plant: Callable[[Path], object], says: str
) -> None:
    directory = shared(tmp_path / "tmp") / "netbench"
    plant(directory)
    with pytest.raises(sockdir.SocketDirError, match=says):
        sockdir.make_private_dir(directory, os.getuid())


@pytest.mark.parametrize("plant", [make_symlink, make_open(0o777)], ids=["symlink", "mode"])
def test_the_agent_refuses_a_planted_socket_directory(
    tmp_path: Path, plant: Callable[[Path], object]
) -> None:
    directory = shared(tmp_path / "tmp") / "netbench"
    plant(directory)
    result = subprocess.run(
        [sys.executable, "-m", "netbench.cli.capture_agent", "--socket", str(directory / "a.sock")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"netbench capture-agent: error: {directory} ")
    assert "the socket's directory must be the user's alone" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "elsewhere" / "a.sock").exists()


async def test_the_client_does_not_connect_through_a_shared_directory(
    tmp_path: Path, recorder: Recorder
) -> None:
    connected = asyncio.Event()

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        writer.close()

    directory = shared(tmp_path / "tmp")
    path = directory / "agent.sock"
    server = await asyncio.start_unix_server(accept, str(path))
    client = AgentClient(recorder, path=path, retry=0.05)
    client.start()
    try:
        await recorder.until(lambda: recorder.of(CaptureStatus))
        await asyncio.sleep(0.2)  # several retries: none connects
    finally:
        client.stop()
        server.close()
    assert not connected.is_set()
    detail = recorder.of(CaptureStatus)[0].detail
    assert detail == (
        f"capture agent at {path}: not trusted, {directory} is open to other users (mode 1777)"
    )
