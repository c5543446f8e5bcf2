"""asyncio's loop against uvloop, each server on both, in alternating rounds.

    python bench/loops.py [--rounds 3] [--seconds 3] [--only bare,serve,no-record,tui]
                          [--close]

On a shared machine one run of each is noise; here every server runs on
asyncio and then on uvloop, back to back, `--rounds` times, under the load of
bench/load.py (wrk -t1 -c10, keep-alive; `--close`: `Connection: close`),
and the line per server gives the medians and the median of the rounds'
uvloop/asyncio ratios (requests/s: higher is better for uvloop; p99: lower).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from load import describe, process, run_load, tui_peer

BENCH = Path(__file__).parent
PY = sys.executable
SERVE = [PY, "-m", "netbench", "serve", "http", "--port", "0", "--json", "-q", "--no-capture"]


def _command(server: str, loop: str) -> list[str]:
    if server == "bare":
        return [PY, str(BENCH / "peers.py"), "bare" if loop == "asyncio" else "bare-uvloop"]
    if server == "serve":
        return [*SERVE, "--loop", loop]
    if server == "no-record":
        return [*SERVE, "--no-record", "--loop", loop]
    raise SystemExit(f"loops.py: unknown server {server!r} (bare, serve, no-record, tui)")


def _one(server: str, loop: str, seconds: float, close: bool, data_dir: str) -> tuple[float, float]:
    env = {"NETBENCH_DATA_DIR": data_dir}
    if server == "tui":
        session = Path(tempfile.mkdtemp(dir=data_dir)) / "tui.netbench.sqlite"
        with tui_peer(session, loop, env) as peer:
            return run_load(peer.port, seconds, close=close)
    with process(_command(server, loop), env) as port:
        return run_load(port, seconds, close=close)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--only", default="bare,serve,no-record,tui")
    parser.add_argument("--close", action="store_true", help="Connection: close")
    args = parser.parse_args()
    what = "Connection: close" if args.close else "keep-alive"
    print(f"load: {describe()}, {what}, {args.seconds:g} s each, {args.rounds} rounds")
    with tempfile.TemporaryDirectory(prefix="netbench-loops-") as data_dir:
        for server in args.only.split(","):
            runs: dict[str, list[tuple[float, float]]] = {"asyncio": [], "uvloop": []}
            for _round in range(args.rounds):
                for loop in ("asyncio", "uvloop"):
                    runs[loop].append(_one(server, loop, args.seconds, args.close, data_dir))
            rate = statistics.median(u[0] / a[0] for a, u in zip(*runs.values(), strict=True))
            p99 = statistics.median(u[1] / a[1] for a, u in zip(*runs.values(), strict=True))
            cells = "   ".join(
                f"{loop} {statistics.median(r[0] for r in results):7.0f} req/s"
                f" {statistics.median(r[1] for r in results):7.2f} ms p99"
                for loop, results in runs.items()
            )
            print(f"{server:10} {cells}   uvloop/asyncio: {rate:.2f}x req/s, {p99:.2f}x p99")
    return 0


if __name__ == "__main__":
    sys.exit(main())
