"""Under a real terminal (a pty), hostile bytes never reach it as controls.

The app runs as a user runs it, `netbench --port P`, with Textual's real
driver writing to a pseudo-terminal. Requests carry an OSC title sequence, a
C1 CSI and markup; the test then shows them in the Bytes view and checks the
terminal output: the payloads appear as visible symbols, and no OSC, BEL or
C1 byte from the network was written.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

fcntl = pytest.importorskip("fcntl")
termios = pytest.importorskip("termios")

HOSTILE = [
    b"GET /\x1b]0;pwned\x07 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Title: \x1b]0;pwned-header\x07\r\n\r\n",
    b"GET /\xc2\x9b31mred HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    b"GET /[bold]x[/][@click=app.quit]y HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _read(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    """What the app wrote within `seconds`; with `until`, stop once that appeared."""
    out = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not (until and until in out):
        ready, _, _ = select.select([fd], [], [], min(left, 0.05))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def _send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(data)
        sock.settimeout(3)
        while sock.recv(65536):
            pass


@pytest.mark.timeout(60)
def test_hostile_bytes_never_reach_the_terminal_raw(tmp_path: Path) -> None:
    port = _free_port()
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"}
    env.pop("TEXTUAL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "netbench", "--port", str(port),
         "--session", str(tmp_path / "pty.netbench.sqlite")],
        stdin=follower, stdout=follower, stderr=follower, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    try:
        # The header names the URL once the server listens (slowly, on a busy machine).
        screen = _read(leader, 30.0, until=f"127.0.0.1:{port}".encode())
        assert f"127.0.0.1:{port}".encode() in screen, screen[-500:]
        for request in HOSTILE:
            _send(port, request)
        screen += _read(leader, 1.0)
        os.write(leader, b"t")  # focus the traffic list (the newest row is highlighted)
        for _request in HOSTILE:  # show each exchange's bytes in turn
            os.write(leader, b"\r")
            screen += _read(leader, 0.4)
            os.write(leader, b"\x1b[A")  # up: the previous exchange
            screen += _read(leader, 0.2)
        os.write(leader, b"\x11")  # ctrl+q
        screen += _read(leader, 3.0)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        os.close(leader)
    assert b"\x1b]0;pwned" not in screen
    assert b"pwned\x07" not in screen and b"pwned-header\x07" not in screen
    assert b"\x1b]52;" not in screen  # no clipboard write smuggled in
    assert b"\xc2\x9b" not in screen  # no C1 CSI
    assert "␛]0;pwned".encode() in screen  # it was shown, as symbols
