"""What a `kill -9` under load loses: completed requests missing from the session.

    python bench/kill9.py [--seconds 3] [--runs 3] [--loads 1000,5000,max]

For each load, starts `netbench serve http --no-capture` recording to a new
session, drives it with keep-alive GETs on ten connections (wrk -t1 -c10 when
/usr/bin/wrk exists, paced by a Lua `delay`; else an asyncio loop, paced the
same way), SIGKILLs the server `--seconds` into the load, lets the client
read what was already sent, and compares:

- completed: responses the client read in full;
- recorded: exchanges in the session with their response (read-only, after
  the kill: what a user would find);
- lost = completed - recorded, and the same in milliseconds of traffic at
  the rate the session shows for the last half second it recorded;
- behind: from the last request the session holds to the kill, in ms. Every
  lost request came in that window, so it bounds the loss in time without
  the rate's noise (under load the rate swings 2x from one 100 ms to the
  next); the verdict is on it.

A paced rate is a target: wrk waits a whole number of milliseconds after
each response, so the rate reached is lower; the rate column says what it
was. The promise it checks is in docs/security.md (section 5).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from load import CONNECTIONS, WRK, describe, have_wrk, server_process

BOUND_MS = 100.0
"""The loss docs/security.md allows, in milliseconds of traffic."""

PACE_LUA = """
local pause = tonumber(os.getenv("NETBENCH_PACE_MS"))
function delay() return pause end
done = function(summary, latency, requests)
  io.write(string.format('{"completed": %d}\\n', summary.requests))
end
"""
"""Each connection waits NETBENCH_PACE_MS after every response (0: unpaced);
`done` prints the count of responses read in full."""


@dataclass
class Loss:
    load: str
    rate: float
    """Requests/s the session shows in its last recorded half second."""
    completed: int
    recorded: int
    behind: float
    """Seconds from the last request recorded to the kill."""

    @property
    def lost(self) -> int:
        # A request the server read but had not answered when killed is
        # recorded without a response: not counted on either side.
        return max(0, self.completed - self.recorded)

    @property
    def lost_ms(self) -> float:
        return self.lost / self.rate * 1000 if self.rate else 0.0


RATE_WINDOW = 0.5
"""Seconds at the end of the recording over which the rate is measured."""


def session_counts(session: Path) -> tuple[int, float, float]:
    """(exchanges with a response, requests/s at the end, unix time of the last request)."""
    uri = session.resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as db:
        (recorded,) = db.execute(
            "SELECT count(*) FROM exchanges WHERE status IS NOT NULL"
        ).fetchone()
        (last,) = db.execute("SELECT max(t_request_start) FROM exchanges").fetchone()
        if last is None:
            return 0, 0.0, 0.0
        (at_the_end,) = db.execute(
            "SELECT count(*) FROM exchanges WHERE t_request_start > ?", (last - RATE_WINDOW,)
        ).fetchone()
    return int(recorded), at_the_end / RATE_WINDOW, float(last)


class WrkLoad:
    """wrk with the pacing script; `stop()` ends it and returns the responses completed."""

    def __init__(self, port: int, pace_ms: int, folder: Path) -> None:
        script = folder / "pace.lua"
        script.write_text(PACE_LUA)
        self._wrk = subprocess.Popen(
            [WRK, "-t1", f"-c{CONNECTIONS}", "-d1h", "-s", str(script),
             f"http://127.0.0.1:{port}/"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "NETBENCH_PACE_MS": str(pace_ms)},
        )  # fmt: skip

    def stop(self) -> int:
        self._wrk.send_signal(signal.SIGINT)  # wrk prints its summary and exits
        output, _ = self._wrk.communicate(timeout=30)
        found = re.search(r'\{"completed": (\d+)\}', output)
        if found is None:
            raise RuntimeError(f"cannot read wrk's output:\n{output}")
        return int(found.group(1))


class AsyncioLoad:
    """Ten keep-alive connections on a thread, paced like wrk; counts full responses."""

    def __init__(self, port: int, pace_ms: int) -> None:
        self.completed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(port, pace_ms),))
        self._thread.start()

    async def _run(self, port: int, pace_ms: int) -> None:
        await asyncio.gather(
            *(self._worker(port, pace_ms) for _ in range(CONNECTIONS)), return_exceptions=True
        )

    async def _worker(self, port: int, pace_ms: int) -> None:
        request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not self._stop.is_set():
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                await asyncio.wait_for(
                    reader.readexactly(int(length.group(1)) if length else 0), 10
                )
                self.completed += 1
                if pace_ms:
                    await asyncio.sleep(pace_ms / 1000)
        finally:
            writer.close()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(30)
        return self.completed


def pace_for(load: str) -> int:
    """Milliseconds each connection waits after a response, for a target rate."""
    return 0 if load == "max" else max(1, round(CONNECTIONS * 1000 / int(load)))


def kill_under_load(load: str, seconds: float, data_dir: Path) -> Loss:
    session = data_dir / f"kill9-{load}-{time.monotonic_ns()}.netbench.sqlite"
    command = [sys.executable, "-m", "netbench", "serve", "http", "--port", "0", "--json", "-q"]
    command += ["--no-capture", "--session", str(session)]
    with server_process(command, {"NETBENCH_DATA_DIR": str(data_dir)}) as (port, server):
        client: WrkLoad | AsyncioLoad
        if have_wrk():
            client = WrkLoad(port, pace_for(load), data_dir)
        else:
            client = AsyncioLoad(port, pace_for(load))
        time.sleep(seconds)
        killed_at = time.time()  # the session's times are unix times too
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        time.sleep(0.5)  # the client reads what the server had sent before it died
        completed = client.stop()
    recorded, rate, last = session_counts(session)
    name = "max" if load == "max" else f"paced {load}"
    return Loss(name, rate, completed, recorded, killed_at - last)


def report(losses: list[Loss]) -> list[str]:
    lines = [f"{'kill -9 under load':18} {'req/s':>7} {'completed':>10} {'recorded':>10} "
             f"{'lost':>6} {'lost ms':>8} {'behind ms':>10}"]  # fmt: skip
    for loss in losses:
        lines.append(
            f"{loss.load:18} {loss.rate:7.0f} {loss.completed:10d} {loss.recorded:10d} "
            f"{loss.lost:6d} {loss.lost_ms:8.1f} {loss.behind * 1000:10.1f}"
        )
    most = max(losses, key=lambda loss: loss.lost)
    behind = max(losses, key=lambda loss: loss.behind)
    verdict = "within" if behind.behind * 1000 <= BOUND_MS else "OVER"
    lines.append(
        f"kill -9 worst: {most.lost} requests lost ({most.lost_ms:.1f} ms at {most.rate:.0f}"
        f" req/s, {most.load}); session {behind.behind * 1000:.1f} ms behind ({behind.load}),"
        f" {verdict} the {BOUND_MS:.0f} ms bound"
    )
    return lines


def kill9(loads: list[str], seconds: float, runs: int, data_dir: Path) -> list[str]:
    """Every load `runs` times, alternating; the report's lines."""
    losses = [kill_under_load(load, seconds, data_dir) for _ in range(runs) for load in loads]
    return report(losses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="load before the kill (3)")
    parser.add_argument("--runs", type=int, default=3, help="kills per load (default 3)")
    parser.add_argument(
        "--loads",
        default="1000,5000,max",
        help="paced req/s targets, or max (default 1000,5000,max)",
    )
    args = parser.parse_args()
    loads = [load.strip() for load in args.loads.split(",")]
    for load in loads:
        if load != "max" and not load.isdigit():
            parser.error(f"--loads: {load!r} is neither a number nor max")
    print(f"load: {describe()}, killed after {args.seconds:g} s; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="netbench-kill9-") as data_dir:
        for line in kill9(loads, args.seconds, args.runs, Path(data_dir)):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
