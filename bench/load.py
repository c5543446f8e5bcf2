"""Load generators for the benchmarks (wrk when installed, else a bounded asyncio
loop), and the server processes they drive.

Both drive ten connections for a fixed time against 127.0.0.1 and return
(requests/s, p99 latency in ms). `close=True` sends `Connection: close`, so
every request opens a new connection. `pace_ms` makes each connection wait
that long after a response before its next request (wrk's `delay()`): a
load under what both compared servers sustain, so the p99 is the latency a
request sees rather than the queue of a saturated server. `CountedLoad`
sends a number of requests instead (the memory rows count exchanges, not
seconds).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

WRK = "/usr/bin/wrk"
CONNECTIONS = 10
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def have_wrk() -> bool:
    return os.path.exists(WRK)


def describe() -> str:
    return f"wrk -t1 -c{CONNECTIONS}" if have_wrk() else f"asyncio loop, {CONNECTIONS} connections"


def run_load(
    port: int, seconds: float, *, close: bool, path: str = "/", pace_ms: float = 0.0
) -> tuple[float, float]:
    if have_wrk():
        return _wrk(port, seconds, close, path, pace_ms)
    return asyncio.run(_asyncio_load(port, seconds, close, path, pace_ms))


PACE_LUA = """
local pace = tonumber(os.getenv("NETBENCH_PACE_MS"))
function delay()
  return pace
end
"""
"""wrk waits `delay()` ms after each response before a connection's next request."""


def _wrk(port: int, seconds: float, close: bool, path: str, pace_ms: float) -> tuple[float, float]:
    command = [WRK, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency"]
    if close:
        command += ["-H", "Connection: close"]
    with tempfile.TemporaryDirectory(prefix="netbench-wrk-") as folder:
        if pace_ms > 0:
            script = Path(folder) / "pace.lua"
            script.write_text(PACE_LUA)
            command += ["-s", str(script)]
        output = subprocess.run(
            [*command, f"http://127.0.0.1:{port}{path}"],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
            env={**os.environ, "NETBENCH_PACE_MS": f"{pace_ms:g}"},
        ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    if rps is None or p99 is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    return float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)]


async def _worker(
    port: int, deadline: float, close: bool, path: str, pace_ms: float, latencies: list[float]
) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    request += b"Connection: close\r\n\r\n" if close else b"\r\n"
    reader = writer = None
    while time.monotonic() < deadline:
        started = time.perf_counter()
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert reader is not None
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        match = re.search(rb"(?i)content-length:\s*(\d+)", head)
        await asyncio.wait_for(reader.readexactly(int(match.group(1)) if match else 0), 10)
        latencies.append((time.perf_counter() - started) * 1000)
        if close:
            writer.close()
            reader = writer = None
        if pace_ms > 0:
            await asyncio.sleep(pace_ms / 1000)
    if writer is not None:
        writer.close()


async def _asyncio_load(
    port: int, seconds: float, close: bool, path: str, pace_ms: float
) -> tuple[float, float]:
    latencies: list[float] = []
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(
        *(_worker(port, deadline, close, path, pace_ms, latencies) for _ in range(CONNECTIONS))
    )
    elapsed = time.monotonic() - start
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    return len(latencies) / elapsed, p99


BUDGET_LUA = """
local budget = tonumber(os.getenv("NETBENCH_BUDGET"))
local answered = 0
response = function(status, headers, body)
  answered = answered + 1
  if answered >= budget then wrk.thread:stop() end
end
"""
"""wrk has no request count: its thread stops itself at the budget (the
process itself only exits at -d or SIGINT, so the caller watches for the end)."""


class CountedLoad:
    """`count` keep-alive GETs on ten connections, paused and resumed at will.

    wrk with a budget script (up to ten more requests, those in flight at the
    budget), paused with SIGSTOP so its connections stay open, as a client's
    would; without wrk, the asyncio loop on a thread, pausing between requests.
    Use it as a context manager; it starts paused.
    """

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self._folder = tempfile.TemporaryDirectory(prefix="netbench-wrk-")
        self._wrk: subprocess.Popen[bytes] | None = None
        self._gate = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> CountedLoad:
        if have_wrk():
            script = Path(self._folder.name) / "budget.lua"
            script.write_text(BUDGET_LUA)
            self._wrk = subprocess.Popen(
                [WRK, "-t1", f"-c{CONNECTIONS}", "-d24h", "-s", str(script),
                 f"http://127.0.0.1:{self.port}/"],
                stdout=subprocess.DEVNULL,
                env={**os.environ, "NETBENCH_BUDGET": str(self.count)},
            )  # fmt: skip
            self._wrk.send_signal(signal.SIGSTOP)
        else:
            self._thread = threading.Thread(
                target=asyncio.run, args=(_asyncio_budget(self.port, self.count, self._gate),)
            )
            self._thread.start()
        return self

    def resume(self) -> None:
        if self._wrk is not None:
            self._wrk.send_signal(signal.SIGCONT)
        self._gate.set()

    def pause(self) -> None:
        if self._wrk is not None:
            self._wrk.send_signal(signal.SIGSTOP)
        self._gate.clear()

    def __exit__(self, *exc_info: object) -> None:
        if self._wrk is not None:
            self._wrk.send_signal(signal.SIGCONT)
            self._wrk.send_signal(signal.SIGINT)  # wrk prints its summary and exits
            try:
                self._wrk.wait(10)
            except subprocess.TimeoutExpired:
                self._wrk.kill()
                self._wrk.wait(5)
        if self._thread is not None:
            self._gate.set()
            self._thread.join(30)
        self._folder.cleanup()


async def _asyncio_budget(port: int, count: int, gate: threading.Event) -> None:
    left = [count]
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while left[0] > 0:
            while not gate.is_set():  # noqa: ASYNC110 (a thread's event, polled)
                await asyncio.sleep(0.01)
            left[0] -= 1
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            match = re.search(rb"(?i)content-length:\s*(\d+)", head)
            await asyncio.wait_for(reader.readexactly(int(match.group(1)) if match else 0), 10)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(min(CONNECTIONS, count))))


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """The process's resident set (or with "VmHWM" its peak) from /proc, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no {field} for process {pid}")


@contextmanager
def process(
    command: list[str], env: dict[str, str], ready: str = "port", settle: float = 0.3
) -> Iterator[int]:
    """Start a server process; yields its port once it prints the ready line."""
    with server_process(command, env, ready, settle) as (port, _popen):
        yield port


@contextmanager
def server_process(
    command: list[str],
    env: dict[str, str],
    ready: str = "port",
    settle: float = 0.3,
    interrupt: bool = True,
) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """Start a server process; yields its port (and the process) once it prints the ready line.

    Its stderr goes to a file, never a pipe nobody reads: http.server logs
    every request there, and a full pipe would stall it (and the figures);
    a failure inside the block quotes its end. At the end stdin is closed
    (the peers stop then) and, with `interrupt`, SIGINT sent (servers).
    """
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in the finally below)
    popen = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, **env},
    )
    assert popen.stdout is not None and popen.stdin is not None
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = popen.stdout.readline()
            if not line:
                log.seek(0)
                raise RuntimeError(f"{command[2:]} exited: {log.read()[-2000:]}")
            if ready == "port" and line.startswith("{"):
                port = int(json.loads(line)["port"])
            elif ready == "http.server" and "port" in line:
                port = int(line.split("port ")[1].split()[0])
        if port is None:
            raise RuntimeError(f"{command} printed no port")
        time.sleep(settle)  # let it settle (capture opens on a thread after listening)
        try:
            yield port, popen
        except Exception as error:
            log.seek(0)
            raise RuntimeError(f"{error}; {command[2:]} wrote: {log.read()[-3000:]}") from error
    finally:
        popen.stdin.close()  # the peers stop when stdin closes
        if interrupt:
            popen.send_signal(2)
        try:
            popen.wait(15)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
        log.close()


@dataclass
class TuiPeer:
    """bench/peers.py's headless TUI, serving and recording, as `tui_peer` runs it."""

    port: int
    key_ms: list[tuple[float, float]] = field(default_factory=list)
    """(unix time, ms to the screen) of each key press it timed; read once it has stopped."""


@contextmanager
def tui_peer(session: Path, loop: str, env: dict[str, str]) -> Iterator[TuiPeer]:
    """The TUI peer recording to `session` on `loop`; yields it once it listens.

    On leaving, its stdin is closed (it stops) and the key presses it timed
    while it ran are read from its last line.
    """
    command = [sys.executable, str(Path(__file__).parent / "peers.py"), "tui", str(session), loop]
    with server_process(command, env, settle=0, interrupt=False) as (port, popen):
        assert popen.stdin is not None and popen.stdout is not None
        peer = TuiPeer(port)
        yield peer
        popen.stdin.close()
        for line in popen.stdout:
            if line.startswith('{"key_ms"'):
                peer.key_ms = [(at, ms) for at, ms in json.loads(line)["key_ms"]]
