"""`netbench serve wsgi` against gunicorn, one sync worker, with the same hello-world app;
`serve proxy` in front of it against the app server alone.

    python bench/apps.py [--seconds 5] [--smoke]

The app is seed 004's `test.py` (`application` answering Hello World, as
netbench serves it without MODULE:APP). Each server gets the load of
bench/load.py (wrk -t1 -c10 when /usr/bin/wrk exists, else an asyncio
loop), keep-alive and then `Connection: close`, and the rows print requests/s,
p99 latency and netbench's ratio to gunicorn (requests/s: higher is better;
p99: lower is better). gunicorn is not a dependency: `pip install gunicorn`
into the venv for this row (it is skipped, saying so, when missing).

gunicorn's sync worker answers one request at a time and closes every
connection (it does not keep alive): that is the peer the issue names,
`gunicorn -w 1 -k sync`. netbench records every byte to a session (the row
with `--no-record` shows what the recording costs).

Then seed 004's picture: `serve proxy --upstream` in front of `serve wsgi`
(--no-record, the same for both rows) against the app server alone, each
under two loads: saturating (the load above, as fast as each answers) and
paced (each of the ten connections waits 10 ms after a response, ~1,000
requests/s, which both paths sustain). The recording proxy's p99 as a
multiple of the direct one is a `target` line for each load (at most 2x);
the --no-record proxy's ratios, which have no target, a plain line. At
saturation a p99 follows the rate (ten requests queued at a server that
answers n a second wait ~10/n s), so that line measures the proxy's
throughput on cores it shares with the upstream and wrk; the paced line is
the latency the proxy adds to a request. Each of the load's connections
gets one upstream connection, kept alive.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from load import describe, process, run_load
from targets import bound_line, ratio_line

PY = sys.executable
PACE_MS = 10.0
"""The paced load: each connection's pause after a response (ten connections: ~1,000/s)."""
SEED_APP = "netbench.engine.kinds.wsgi:application"


@dataclass
class Result:
    name: str
    keep_alive: tuple[float, float] | None = None
    close: tuple[float, float] | None = None
    note: str = ""
    paced: tuple[float, float] | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gunicorn() -> str | None:
    beside = Path(PY).with_name("gunicorn")
    return str(beside) if beside.exists() else shutil.which("gunicorn")


def measure(seconds: float, data_dir: str) -> list[Result]:
    env = {"NETBENCH_DATA_DIR": data_dir}
    results = []
    gunicorn = _gunicorn()
    if gunicorn is None:
        results.append(Result("gunicorn -w 1 -k sync", note="skipped: pip install gunicorn"))
    else:
        port = _free_port()
        command = [gunicorn, "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}", SEED_APP]
        command += ["--log-level", "warning"]
        # gunicorn prints nothing on stdout: a line of our own says it is ready.
        ready = [PY, "-c", _READY.format(port=port, command=command)]
        with process(ready, env) as ready_port:
            results.append(
                Result(
                    "gunicorn -w 1 -k sync",
                    run_load(ready_port, seconds, close=False),
                    run_load(ready_port, seconds, close=True),
                    "closes every connection",
                )
            )
    serve = [PY, "-m", "netbench", "serve", "wsgi", "--port", "0", "--json", "-q", "--no-capture"]
    for name, extra, note in (
        ("netbench serve wsgi", [], "recording"),
        ("... --no-record", ["--no-record"], ""),
    ):
        with process([*serve, *extra], env) as port:
            results.append(
                Result(
                    name,
                    run_load(port, seconds, close=False),
                    run_load(port, seconds, close=True),
                    note,
                )
            )
    return results


def measure_proxy(seconds: float, data_dir: str) -> list[Result]:
    env = {"NETBENCH_DATA_DIR": data_dir}
    serve = [PY, "-m", "netbench", "serve"]
    options = ["--port", "0", "--json", "-q", "--no-capture"]
    results = []

    def loads(port: int) -> dict[str, tuple[float, float]]:
        return {
            "keep_alive": run_load(port, seconds, close=False),
            "paced": run_load(port, seconds, close=False, pace_ms=PACE_MS),
        }

    with process([*serve, "wsgi", *options, "--no-record"], env) as app:
        results.append(Result("serve wsgi (direct)", **loads(app)))
        upstream = ["--upstream", f"127.0.0.1:{app}"]
        for name, extra, note in (
            ("serve proxy -> wsgi", [], "recording both legs"),
            ("... --no-record", ["--no-record"], ""),
        ):
            with process([*serve, "proxy", *options, *upstream, *extra], env) as port:
                results.append(Result(name, **loads(port), note=note))
    return results


def report_proxy(results: list[Result]) -> list[str]:
    paced = f"paced, {PACE_MS:g} ms between requests"
    lines = [f"{'proxy vs direct':24} {'saturating, keep-alive':>28}   {paced:>28}"]
    for result in results:
        cells = f"{_cell(result.keep_alive):>28}   {_cell(result.paced):>28}"
        lines.append(f"{result.name:24} {cells}   {result.note}".rstrip())
    direct = results[0]
    for result in results[1:]:
        for load, ours, theirs in (
            ("saturating", result.keep_alive, direct.keep_alive),
            ("paced", result.paced, direct.paced),
        ):
            if ours is None or theirs is None:
                continue
            if result.note.startswith("recording"):
                # The target is the recording proxy's: its line is the comparison.
                name = f"proxy p99, recording both legs, {load}"
                why = "proxy" if load == "saturating" else "proxy-paced"
                lines.append(bound_line(name, ours[1], theirs[1], 2.0, why))
            else:
                lines.append(
                    f"{result.name} vs direct, {load}: {ours[1] / theirs[1]:.2f}x p99 latency, "
                    f"{ours[0] / theirs[0]:.2f}x req/s (no target)"
                )
    return lines


_READY = """
import json, socket, subprocess, sys, time

child = subprocess.Popen({command!r}, stdin=subprocess.DEVNULL)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)
print(json.dumps({{"port": {port}}}), flush=True)
try:
    sys.stdin.read()
except KeyboardInterrupt:
    pass
finally:
    child.terminate()
    child.wait(10)
"""
"""A stand-in that starts gunicorn, prints its port once it accepts, and stops it on SIGINT."""


def _cell(result: tuple[float, float] | None) -> str:
    return "—" if result is None else f"{result[0]:8.0f} req/s {result[1]:7.2f} ms p99"


def _ratios(ours: tuple[float, float] | None, theirs: tuple[float, float] | None) -> str:
    if ours is None or theirs is None:
        return "—"
    return f"{ours[0] / theirs[0]:.2f}x req/s, {ours[1] / theirs[1]:.2f}x p99"


def report(results: list[Result]) -> list[str]:
    lines = [f"{'wsgi hello world':24} {'keep-alive':>28}   {'Connection: close':>28}"]
    for result in results:
        cells = f"{_cell(result.keep_alive):>28}   {_cell(result.close):>28}"
        lines.append(f"{result.name:24} {cells}   {result.note}".rstrip())
    peer = results[0]
    for result in results[1:]:
        lines.append(
            f"{result.name} vs gunicorn: keep-alive {_ratios(result.keep_alive, peer.keep_alive)};"
            f" close {_ratios(result.close, peer.close)}"
        )
    ours = results[1] if len(results) > 1 else None
    if ours is not None and peer.keep_alive and peer.close and ours.keep_alive and ours.close:
        for how, mine, theirs in (
            ("keep-alive", ours.keep_alive, peer.keep_alive),
            ("close", ours.close, peer.close),
        ):
            lines.append(
                ratio_line(f"serve wsgi vs gunicorn, {how}", mine[0], theirs[0], 1.0, "wsgi")
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per load (default 5)")
    parser.add_argument("--smoke", action="store_true", help="half a second each")
    args = parser.parse_args()
    seconds = 0.5 if args.smoke else args.seconds
    print(f"load: {describe()}, {seconds:g} s each; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="netbench-apps-") as data_dir:
        for line in report(measure(seconds, data_dir)):
            print(line)
        for line in report_proxy(measure_proxy(seconds, data_dir)):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
