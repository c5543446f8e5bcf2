"""Fixtures shared by every test directory.

Rules:
- no test writes to the real user data directory: `netbench_env` points
  NETBENCH_DATA_DIR at a fresh tmp dir for every test (child processes
  inherit it through os.environ);
- every wait on a child process is bounded. `ServeProcess` reads the child's
  stdout on a thread into a queue, so a server that never prints cannot hang
  a test, and every process started through `start_serve` is stopped (SIGINT,
  then SIGKILL) when the test ends, pass or fail.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

Event = dict[str, Any]

LISTEN_TIMEOUT = 10.0
"""Seconds a server may take to print its `listening` line."""

STOP_TIMEOUT = 10.0
"""Seconds a server may take to exit after SIGINT before it is killed."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: bound by wall-clock traffic or an external browser (deselect: -m 'not slow')",
    )


@pytest.fixture(autouse=True)
def netbench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """NETBENCH_DATA_DIR -> a fresh tmp dir, so sessions land there, not in ~."""
    data_dir = tmp_path / "netbench-data"
    monkeypatch.setenv("NETBENCH_DATA_DIR", str(data_dir))
    # Nor does the user's keymap or theme change what the UI tests see.
    monkeypatch.setenv("NETBENCH_CONFIG_DIR", str(tmp_path / "netbench-config"))
    return data_dir


def _pump(stream: Any, sink: queue.Queue[str | None], keep: list[str]) -> None:
    """Copy a child's text stream line by line into `sink`; None marks EOF."""
    try:
        for line in stream:
            keep.append(line)
            sink.put(line)
    except (OSError, ValueError):
        pass  # the pipe was closed under us during cleanup
    finally:
        sink.put(None)


@dataclass(eq=False)
class ServeProcess:
    """A running `netbench serve ... --json` child and what it printed."""

    popen: subprocess.Popen[str]
    listening: Event
    """The first JSON line: {"event": "listening", "url", "host", "port", "session", ...}."""
    _lines: queue.Queue[str | None]
    stdout_lines: list[str] = field(default_factory=list)
    """Every stdout line read so far (diagnostics)."""
    stderr_lines: list[str] = field(default_factory=list)
    seen: list[Event] = field(default_factory=list)
    """Every JSON event read so far, the listening line first."""
    pumps: list[threading.Thread] = field(default_factory=list)
    _eof: bool = False

    @property
    def host(self) -> str:
        return str(self.listening["host"])

    @property
    def port(self) -> int:
        return int(self.listening["port"])

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def url(self) -> str:
        return str(self.listening["url"])

    @property
    def session(self) -> Path | None:
        value = self.listening.get("session")
        return None if value is None else Path(value)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def _next_line(self, deadline: float) -> str | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            line = self._lines.get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError from None
        if line is None:
            self._eof = True
        return line

    def events(
        self, until: Callable[[Event], bool] = lambda event: False, timeout: float = 5.0
    ) -> list[Event]:
        """Read JSON lines until one satisfies `until`; the lines read, that one last.

        Fails the test when `timeout` seconds pass or stdout ends first.
        """
        read: list[Event] = []
        outcome = self._read_until(until, timeout, read)
        if outcome == "timeout":
            pytest.fail(
                f"no matching event within {timeout} s; read {read!r}; stderr {self.stderr!r}"
            )
        if outcome == "eof":
            pytest.fail(f"server output ended before a matching event; read {read!r}")
        return read

    def wait_for(self, until: Callable[[Event], bool], timeout: float = 5.0) -> Event | None:
        """The first new event satisfying `until`, or None after `timeout` s (no failure)."""
        read: list[Event] = []
        return read[-1] if self._read_until(until, timeout, read) == "found" else None

    def _read_until(self, until: Callable[[Event], bool], timeout: float, read: list[Event]) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = None if self._eof else self._next_line(deadline)
            except TimeoutError:
                return "timeout"
            if line is None:
                return "eof"
            event = json.loads(line)
            read.append(event)
            self.seen.append(event)
            if until(event):
                return "found"

    def drain(self, timeout: float = 5.0) -> list[Event]:
        """Read the remaining JSON lines until stdout ends (after stop)."""
        deadline = time.monotonic() + timeout
        read: list[Event] = []
        while not self._eof:
            try:
                line = self._next_line(deadline)
            except TimeoutError:
                pytest.fail(f"stdout did not end within {timeout} s")
            if line is not None:
                event = json.loads(line)
                read.append(event)
                self.seen.append(event)
        return read

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGINT, as Ctrl-C would; the exit code. Killed (and failed) if it hangs."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"server did not exit within {timeout} s of SIGINT")

    def kill(self) -> int:
        """SIGKILL: no chance to flush or clean up."""
        if self.popen.poll() is None:
            self.popen.kill()
        return self.popen.wait(STOP_TIMEOUT)


def _spawn_serve(args: tuple[str, ...]) -> ServeProcess:
    command = [sys.executable, "-m", "netbench", "serve", *args, "--port", "0", "--json"]
    popen = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    lines: queue.Queue[str | None] = queue.Queue()
    stdout_lines: list[str] = []
    stderr_lines: list[str] = []
    stderr_sink: queue.Queue[str | None] = queue.Queue()
    pumps = [
        threading.Thread(target=_pump, args=(stream, sink, keep), daemon=True)
        for stream, sink, keep in (
            (popen.stdout, lines, stdout_lines),
            (popen.stderr, stderr_sink, stderr_lines),
        )
    ]
    for pump in pumps:
        pump.start()
    try:
        first = lines.get(timeout=LISTEN_TIMEOUT)
    except queue.Empty:
        first = None
    if first is None:
        _reap(popen, pumps)
        pytest.fail(
            f"`{' '.join(command[2:])}` printed no listening line within {LISTEN_TIMEOUT} s "
            f"(exit code {popen.returncode}); stderr: {''.join(stderr_lines)!r}"
        )
    listening = json.loads(first)
    assert listening["event"] == "listening", listening
    process = ServeProcess(popen, listening, lines, stdout_lines, stderr_lines, pumps=pumps)
    process.seen.append(listening)
    return process


def _reap(popen: subprocess.Popen[str], pumps: list[threading.Thread]) -> None:
    """Stop a child however it takes: SIGINT, then SIGKILL; never hangs."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGINT)
        try:
            popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(STOP_TIMEOUT)
    # The child is gone, so its pipes reach EOF and the pumps end on their own.
    for pump in pumps:
        pump.join(STOP_TIMEOUT)
    for stream in (popen.stdout, popen.stderr):
        if stream is not None:
            stream.close()


def _serve_starter() -> Iterator[Callable[..., ServeProcess]]:
    started: list[ServeProcess] = []

    def start(*args: str) -> ServeProcess:
        process = _spawn_serve(args)
        started.append(process)
        return process

    yield start
    for process in started:
        _reap(process.popen, process.pumps)


@pytest.fixture
def start_serve() -> Iterator[Callable[..., ServeProcess]]:
    """`start_serve("echo", "--idle-timeout", "1")`: a `netbench serve` child on a free port."""
    yield from _serve_starter()


@pytest.fixture(scope="module")
def start_module_serve() -> Iterator[Callable[..., ServeProcess]]:
    """`start_serve` for a server every test of a module shares.

    Pass `--session PATH` (or `--no-record`): it starts before the per-test
    `netbench_env` exists, so it would otherwise record in the user's data dir.
    """
    starter = _serve_starter()
    start = next(starter)

    def start_elsewhere(*args: str) -> ServeProcess:
        assert "--session" in args or "--no-record" in args, "name the session file"
        return start(*args)

    yield start_elsewhere
    next(starter, None)  # stop every server it started


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_netbench() -> Callable[..., Completed]:
    """Run `python -m netbench ARGS...` to completion (bounded) and capture its output."""

    def run(*args: str, timeout: float = 20.0, input: str | None = None) -> Completed:
        result = subprocess.run(
            [sys.executable, "-m", "netbench", *args],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            env=os.environ.copy(),
        )
        return Completed(result.returncode, result.stdout, result.stderr)

    return run


_TOOLS_CI_INSTALLS = ("chromium", "curl", "netcat", "tshark", "libpcap")
"""System tools `.ci/run` installs: in CI a test skipped for lack of one is a failure."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped:
        reason = str(report.longrepr)
        if any(tool in reason for tool in _TOOLS_CI_INSTALLS):
            report.outcome = "failed"
            report.longrepr = f"CI must run this test, but it was skipped: {reason}"
