"""`netbench workshop run NAME` on a terminal, as a teacher rehearses a lesson: Enter, Ctrl-C.

The CLI runs on a pseudo-terminal that is its controlling terminal, so a
\\x03 typed into it is turned into SIGINT by the line discipline, exactly as
a keyboard's Ctrl-C is.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time

import pytest

fcntl = pytest.importorskip("fcntl")
pty = pytest.importorskip("pty")
termios = pytest.importorskip("termios")

PROMPT = b"-- Enter: next step --"


class Terminal:
    """`netbench workshop ARGS` on a pty of its own; what it wrote so far in `output`."""

    def __init__(self, *args: str) -> None:
        self.leader, self.follower = pty.openpty()
        self.output = b""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "netbench", "workshop", *args],
            stdin=self.follower, stdout=self.follower, stderr=self.follower,
            start_new_session=True,
            # The pty becomes the child's controlling terminal: ^C is its SIGINT.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )  # fmt: skip

    def read_until(self, wanted: bytes, count: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.output.count(wanted) < count:
            assert time.monotonic() < deadline, f"no {wanted!r} in time: {self.output[-400:]!r}"
            self._read(0.05)

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        self._read(0.1)
        return self.process.poll()

    def _read(self, seconds: float) -> None:
        ready, _, _ = select.select([self.leader], [], [], seconds)
        if ready:
            with contextlib.suppress(OSError):  # EIO: the child has gone
                self.output += os.read(self.leader, 65536)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        os.close(self.leader)
        os.close(self.follower)


@pytest.mark.timeout(60)
def test_ctrl_c_at_the_prompt_ends_the_lesson_at_once() -> None:
    """^C was echoed and ignored: the process exited 130 only after Enter."""
    terminal = Terminal("run", "handshake", "--no-capture")
    try:
        terminal.read_until(PROMPT)
        os.write(terminal.leader, b"\r")  # Enter still goes on to the next step
        terminal.read_until(b"== step 2/5", timeout=20)
        terminal.read_until(PROMPT, count=2)
        os.write(terminal.leader, b"\x03")
        code = terminal.wait(timeout=3)
        assert code == 130, terminal.output[-400:]
        # One line: the prompt with the terminal's ^C echo after it, ended; no traceback.
        assert terminal.output.rsplit(PROMPT, 1)[1] == b"^C\r\n"
        modes = termios.tcgetattr(terminal.follower)[3]
        assert modes & termios.ICANON and modes & termios.ECHO  # the terminal is left sane
    finally:
        terminal.close()
