"""Startup of `netbench` against a minimal Textual app (Header, Static, Footer).

Two measures, each the median of alternating runs (drift on a busy machine
hits both apps alike), from process start:

- first full screen: the app runs as a user runs it, Textual's real driver
  writing to a pseudo-terminal of 160x50, and the time is when the terminal
  has received the real layout: the minimal app's "hello"; netbench's
  servers table and traffic list headers. netbench's time to its header
  naming the listening URL is reported beside it;
- settled (headless): `App.run(headless=True)` until the pilot finds the app
  idle and netbench's page server listening: all the startup work, including
  what netbench does after its first frame.

Every run uses bytecode (one warm-up run compiles it), as an installed app
does: PYTHONDONTWRITEBYTECODE would otherwise make netbench, not Textual,
compile its sources on every start.
"""

from __future__ import annotations

import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from targets import bound_line

PY = sys.executable
SIZE = (160, 50)

SETTLED = """
import sys, time
started = float(sys.argv[1])
{make_app}
async def ready(pilot):
    await pilot.pause()
    {wait}
    print(time.time() - started, flush=True)
    app.exit()
app.run(headless=True, size={size}, auto_pilot=ready)
"""
IN_TERMINAL = """
import sys
{make_app}
app.run()
"""
MINIMAL = """
from textual.app import App
from textual.widgets import Footer, Header, Static
class Minimal(App):
    def compose(self):
        yield Header(); yield Static("hello"); yield Footer()
app = Minimal()
"""
NETBENCH = """
from pathlib import Path
from netbench.ui.app import AppConfig, NetbenchApp

app = NetbenchApp(AppConfig(port=0, session=Path(sys.argv[-1]), capture=False))
"""
NETBENCH_WAIT = "while app.page_server is None: await pilot.pause(0.005)"
MINIMAL_SCREEN = (b"hello",)
NETBENCH_SCREEN = (b"address", b"request -> status")
"""The servers table's and the traffic list's column headers."""
NETBENCH_LISTENING = b"http://127.0.0.1:"


@dataclass
class Startup:
    minimal_screen: list[float]
    netbench_screen: list[float]
    netbench_listening: list[float]
    minimal_settled: list[float]
    netbench_settled: list[float]

    def report(self) -> str:
        m, n = statistics.median(self.minimal_screen), statistics.median(self.netbench_screen)
        ms, ns = statistics.median(self.minimal_settled), statistics.median(self.netbench_settled)
        listening = statistics.median(self.netbench_listening)
        return (
            f"startup to first full screen (pty): minimal Textual app {m:.3f} s, netbench {n:.3f} s"
            f" ({n / m:.2f}x; URL in the header {listening:.3f} s)\n"
            f"  runs: {_runs(self.minimal_screen)} / {_runs(self.netbench_screen)}"
            f" / URL {_runs(self.netbench_listening)}\n"
            f"startup settled (headless, idle and listening): minimal {ms:.3f} s,"
            f" netbench {ns:.3f} s ({ns / ms:.2f}x)\n"
            f"  runs: {_runs(self.minimal_settled)} / {_runs(self.netbench_settled)}\n"
            f"{bound_line('first full screen', n, m, 1.25, 'startup')}\n"
            f"{bound_line('URL in the header', listening, m, 1.5, 'startup')}"
        )


def _runs(values: list[float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


def _env(data_dir: str) -> dict[str, str]:
    env = {**os.environ, "NETBENCH_DATA_DIR": data_dir}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(data_dir) / "pycache")
    return env


def settled(make_app: str, wait: str, data_dir: str, index: int) -> float:
    session = str(Path(data_dir) / f"settled-{index}.netbench.sqlite")
    script = SETTLED.format(make_app=make_app, wait=wait or "pass", size=SIZE)
    output = subprocess.run(
        [PY, "-c", script, repr(time.time()), session],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=_env(data_dir),
    ).stdout
    return float(output.strip().splitlines()[-1])


def in_terminal(
    make_app: str, markers: tuple[bytes, ...], data_dir: str, index: int, later: bytes = b""
) -> tuple[float, float]:
    """Seconds until the terminal has shown every marker, and then `later` (0 if none)."""
    import fcntl
    import pty
    import termios

    session = str(Path(data_dir) / f"screen-{index}.netbench.sqlite")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    env = {**_env(data_dir), "TERM": "xterm-256color"}
    env.pop("TEXTUAL", None)
    started = time.monotonic()
    process = subprocess.Popen(
        [PY, "-c", IN_TERMINAL.format(make_app=make_app), session],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        start_new_session=True,
    )
    os.close(follower)
    screen_at = later_at = 0.0
    output = b""
    try:
        while time.monotonic() - started < 60:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                continue
            try:
                output += os.read(leader, 1 << 16)
            except OSError:
                break
            now = time.monotonic() - started
            if not screen_at and all(marker in output for marker in markers):
                screen_at = now
            if screen_at and (not later or later in output):
                later_at = now if later else 0.0
                break
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        os.close(leader)
    if not screen_at or (later and not later_at):
        raise RuntimeError(f"the screen never showed {markers} {later!r}: {output[-300:]!r}")
    return screen_at, later_at


def startup(runs: int, data_dir: str) -> Startup:
    # Warm-up: compiles both apps' bytecode into the cache prefix.
    settled(MINIMAL, "", data_dir, -1)
    settled(NETBENCH, NETBENCH_WAIT, data_dir, -1)
    result = Startup([], [], [], [], [])
    for index in range(runs):  # alternate, so drift on a busy machine hits both
        result.minimal_screen.append(in_terminal(MINIMAL, MINIMAL_SCREEN, data_dir, index)[0])
        screen, listening = in_terminal(
            NETBENCH, NETBENCH_SCREEN, data_dir, index, later=NETBENCH_LISTENING
        )
        result.netbench_screen.append(screen)
        result.netbench_listening.append(listening)
        result.minimal_settled.append(settled(MINIMAL, "", data_dir, index))
        result.netbench_settled.append(settled(NETBENCH, NETBENCH_WAIT, data_dir, index))
    return result


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="netbench-startup-") as directory:
        print(startup(int(sys.argv[1]) if len(sys.argv) > 1 else 5, directory).report())
