"""Mistakes on the command line get short answers: a usage line and the error, or one error line."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

_PR_CAPBSET_DROP = 24
_READ_BYPASS = (1, 2)
"""CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: what lets root read any directory."""


def _obey_permissions() -> None:
    """In the child, before exec: a root child loses the capabilities that skip permission bits."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in _READ_BYPASS:
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _netbench_obeying_permissions(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "netbench", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
            preexec_fn=_obey_permissions,
        )
    except subprocess.SubprocessError as error:
        pytest.skip(f"cannot make root obey permission bits here (no CAP_SETPCAP?): {error}")


def test_session_list_of_an_unreadable_directory_says_permission_denied(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.netbench.sqlite").write_bytes(b"")
    locked.chmod(0)
    try:
        result = _netbench_obeying_permissions("session", "list", str(locked))
    finally:
        locked.chmod(0o700)
    assert result.stderr == f"netbench: error: cannot read {locked}: permission denied\n"
    assert (result.returncode, result.stdout) == (1, "")


def test_session_list_of_a_file_says_it_is_not_a_directory(tmp_path: Path, run_netbench) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("hello")
    result = run_netbench("session", "list", str(afile))
    assert result.stderr == f"netbench: error: not a directory: {afile}\n"
    assert (result.returncode, result.stdout) == (1, "")


@pytest.mark.parametrize(
    ("args", "usage", "error"),
    [
        (
            ["serve", "nope"],
            "usage: netbench serve [-h] [options] KIND",
            "netbench serve: error: argument KIND: invalid choice: 'nope'",
        ),
        (
            ["serve", "http", "--port", "abc"],
            "usage: netbench serve [-h] [options] KIND",
            "netbench serve: error: argument --port: invalid int value: 'abc'",
        ),
        (
            ["--port", "abc"],
            "usage: netbench [-h] [options] COMMAND ...",
            "netbench: error: argument --port: invalid int value: 'abc'",
        ),
        (
            ["send", "tcp"],
            "usage: netbench send tcp [-h] [options] HOST:PORT [DATA]",
            "netbench send tcp: error: the following arguments are required: HOST:PORT",
        ),
        (
            ["send", "http", "http://127.0.0.1:1/", "--timeout", "-1"],
            "usage: netbench send http [-h] [options] URL",
            "netbench send http: error: argument --timeout: must be a number of seconds above 0",
        ),
        # An unknown option is told by the command it was given to.
        (
            ["session", "list", "--nope"],
            "usage: netbench session list [-h] [DIR]",
            "netbench session list: error: unrecognized arguments: --nope",
        ),
        (
            ["serve", "http", "--bogus"],
            "usage: netbench serve [-h] [options] KIND",
            "netbench serve: error: unrecognized arguments: --bogus",
        ),
        (
            ["--bogus"],
            "usage: netbench [-h] [options] COMMAND ...",
            "netbench: error: unrecognized arguments: --bogus",
        ),
        # Found after parsing, told the same way (they printed the error line alone).
        (
            ["send", "http", "https://127.0.0.1:1/"],
            "usage: netbench send http [-h] [options] URL",
            "netbench send http: error: https is not supported",
        ),
        (
            ["send", "tcp", "no-port-here", "x"],
            "usage: netbench send tcp [-h] [options] HOST:PORT [DATA]",
            "netbench send tcp: error: address must be HOST:PORT, got 'no-port-here'",
        ),
        (
            ["session", "replay", "F", "3", "--to", "nope"],
            "usage: netbench session replay [-h] [options] PATH EXCHANGE",
            "netbench session replay: error: --to must be HOST:PORT, got 'nope'",
        ),
        (
            ["session", "export", "F"],
            "usage: netbench session export [-h] [options] PATH",
            "netbench session export: error: give --har OUT, --pcap OUT",
        ),
        (
            ["web", "--port", "70000"],
            "usage: netbench web [-h] [options] ...",
            "netbench web: error: --port must be 0-65535, got 70000",
        ),
        (
            ["capture-agent", "--user", "no-such-user-here"],
            "usage: netbench capture-agent [-h] [options]",
            "netbench capture-agent: error: no such user 'no-such-user-here'",
        ),
        (
            ["--port", "70000"],
            "usage: netbench [-h] [options] COMMAND ...",
            "netbench: error: --port must be 0-65535, got 70000",
        ),
        (
            ["serve", "echo", "--port", "70000"],
            "usage: netbench serve [-h] [options] KIND",
            "netbench serve: error: --port must be 0-65535, got 70000",
        ),
    ],
)
def test_a_usage_error_prints_one_usage_line_and_the_error(
    args: list[str], usage: str, error: str, run_netbench
) -> None:
    result = run_netbench(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0] == usage
    assert lines[1].startswith(error)


def test_help_still_lists_every_option(run_netbench) -> None:
    result = run_netbench("serve", "-h")
    assert result.returncode == 0
    assert "--max-connections" in result.stdout and "--follow-symlinks" in result.stdout


def test_a_crash_prints_its_traceback_with_control_bytes_made_visible() -> None:
    """A bug's traceback may quote a peer's bytes (urlsplit quotes a URL's host):
    `ESC c` in it reset the terminal of whoever ran the command."""
    program = (
        "import sys, netbench.cli as cli\n"
        "sys.excepthook = cli.visible_crash  # as cli.main installs it\n"
        "raise ValueError('netloc \\x1bc\\x1b(0\\x07x contains invalid characters')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, timeout=20, check=False
    )
    assert result.returncode == 1
    assert b"Traceback (most recent call last)" in result.stderr  # still a report
    assert "ValueError: netloc ␛c␛(0␇x contains".encode() in result.stderr
    assert not set(result.stderr) & {0x1B, 0x07}
