"""netbench against the Python limit and its peers, in one run.

    python bench/run.py [--seconds 5] [--smoke] [--only startup]

Starts each server as its own process, drives it with the same load
(bench/load.py: wrk -t1 -c10 when /usr/bin/wrk exists, else an asyncio
loop), keep-alive and then `Connection: close`, and prints requests/s, p99
latency and the ratio to (a), the bare asyncio server:

  (a) a bare `asyncio.Protocol` answering a fixed response (the limit)
  (b) `python -m http.server` (HTTP/1.0: it closes after every response)
  (c) `netbench serve http`, recording every byte to a session
  (d) the same with `--capture` (only when privileged: root or CAP_NET_RAW)
  (e) the TUI, headless, serving, recording and updating its widgets; also
      the time from a key press to the screen showing it, during the load

then the startup time of `netbench`'s first full screen against a minimal
Textual app's (bench/startup.py; `--only startup` runs just that). `--smoke` runs everything for a fraction of a second: the
suite uses it to prove the benchmark runs (timings belong here, never in
tests). docs/performance.md explains each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from load import describe, process, run_load
from peers import PAGE
from startup import startup

BENCH = Path(__file__).parent
PY = sys.executable


@dataclass
class Row:
    name: str
    keep_alive: tuple[float, float] | None = None
    close: tuple[float, float] | None = None
    note: str = ""


def measure(port: int, seconds: float) -> tuple[tuple[float, float], tuple[float, float]]:
    return run_load(port, seconds, close=False), run_load(port, seconds, close=True)


def can_capture() -> bool:
    from netbench.capture import CaptureProblem, choose_backend

    return not isinstance(choose_backend(), CaptureProblem)


def servers(seconds: float, data_dir: str) -> tuple[list[Row], list[float]]:
    env = {"NETBENCH_DATA_DIR": data_dir}
    rows = []
    with process([PY, str(BENCH / "peers.py"), "bare"], env) as port:
        rows.append(Row("(a) bare asyncio.Protocol", *measure(port, seconds)))
    site = Path(data_dir) / "site"
    site.mkdir()
    (site / "index.html").write_bytes(PAGE)
    server = [PY, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", str(site)]
    with process(server, env, ready="http.server") as port:
        rows.append(Row("(b) python -m http.server", *measure(port, seconds), "HTTP/1.0"))
    serve = [PY, "-m", "netbench", "serve", "http", "--port", "0", "--json", "-q"]
    with process([*serve, "--no-capture"], env) as port:
        rows.append(Row("(c) netbench serve http", *measure(port, seconds), "recording"))
    if can_capture():
        with process([*serve, "--capture"], env) as port:
            rows.append(Row("(d) ... --capture", *measure(port, seconds), "recording"))
    else:
        rows.append(Row("(d) ... --capture", note="skipped: capture needs root or CAP_NET_RAW"))
    session = Path(data_dir) / "tui.netbench.sqlite"
    key_ms: list[float] = []
    tui = subprocess.Popen(
        [PY, str(BENCH / "peers.py"), "tui", str(session)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **env},
    )
    assert tui.stdout is not None and tui.stdin is not None
    try:
        port = int(json.loads(tui.stdout.readline())["port"])
        load_started = time.time()
        measured = measure(port, seconds)
        load_ended = time.time()
        tui.stdin.close()
        for line in tui.stdout:
            if line.startswith('{"key_ms"'):
                # Only the presses made while the load ran.
                key_ms = [
                    ms for at, ms in json.loads(line)["key_ms"] if load_started <= at <= load_ended
                ]
    finally:
        tui.wait(30)
    rows.append(Row("(e) netbench TUI, headless", *measured, "recording, widgets live"))
    return rows, key_ms


def _cell(result: tuple[float, float] | None, limit: tuple[float, float] | None) -> str:
    if result is None:
        return f"{'—':>28}"
    ratio = f"{result[0] / limit[0]:.2f}x" if limit else ""
    return f"{result[0]:9.0f} {result[1]:7.2f} ms {ratio:>7}"


def loads(seconds: float, data_dir: str) -> None:
    rows, key_ms = servers(seconds, data_dir)
    limit = rows[0]
    print(f"{'server':32} {'keep-alive: req/s   p99   vs (a)':>28}   {'Connection: close':>28}")
    for row in rows:
        cells = f"{_cell(row.keep_alive, limit.keep_alive)}   {_cell(row.close, limit.close)}"
        print(f"{row.name:32} {cells}   {row.note}")
    if key_ms:
        print(
            f"TUI key press to screen during the load: median {statistics.median(key_ms):.1f} ms,"
            f" max {max(key_ms):.1f} ms ({len(key_ms)} presses)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per load (default 5)")
    parser.add_argument("--startup-runs", type=int, default=5, help="(default 5)")
    parser.add_argument("--smoke", action="store_true", help="a fraction of a second each")
    parser.add_argument(
        "--only", choices=["startup"], help="run only this part (startup: no server loads)"
    )
    args = parser.parse_args()
    seconds, runs = (0.5, 1) if args.smoke else (args.seconds, args.startup_runs)
    print(
        f"load: {describe()}, {seconds:g} s each; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="netbench-bench-") as data_dir:
        if args.only != "startup":
            loads(seconds, data_dir)
        print(startup(runs, data_dir).report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
