"""What packet capture costs a server: requests/s of `netbench serve http`
with `--no-capture` and with `--capture`, and the ratio.

    python bench/capture_cost.py [--seconds 5] [--rounds 2]

Two loads, because capture's cost depends on how many connections open, not
on how many requests they carry:
- keep-alive: wrk -t1 -c10 (FACTS' setup): ten connections, then only data,
  which the control-packet filter never lets through to Python;
- close: every request on a new connection (`Connection: close`): five
  control packets per request reach the capture thread.
Runs alternate (off, on, off, on...) and the median of each is reported, so
drift on a busy machine hits both sides alike. Capture needs root (or the
agent); without it `--capture` fails and the script says so.

Uses wrk when /usr/bin/wrk exists, else a bounded asyncio load loop.

    python bench/capture_cost.py --paced 1000 --count 5000

opens `count` connections at `paced` per second (each one request with
`Connection: close`) against a capturing server, then counts in its session
the SYN, SYN-ACK and FIN packets captured per connection and the kernel's
drop count: at up to 1,000 new connections/s nothing may be missing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from load import describe, process, run_load


def serve(capture: bool, data_dir: str) -> Any:
    """`netbench serve http` with capture on or off; yields its port."""
    flag = "--capture" if capture else "--no-capture"
    command = [sys.executable, "-m", "netbench", "serve", "http", "--port", "0", "--json", "-q"]
    # Capture opens on a thread once the server listens: give it a second.
    return process([*command, flag], {"NETBENCH_DATA_DIR": data_dir}, settle=1.0)


def measure(capture: bool, seconds: float, close: bool, data_dir: str) -> float:
    with serve(capture, data_dir) as port:
        return run_load(port, seconds, close=close)[0]


async def _paced_connections(port: int, rate: float, count: int) -> int:
    """Open `count` connections, one every 1/rate s; how many got a whole answer."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    async def one() -> bool:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            writer.write(request)
            data = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            return data.startswith(b"HTTP/1.1 200")
        except (OSError, TimeoutError):
            return False

    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for index in range(count):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one()))
    return sum(await asyncio.gather(*tasks))


def paced(rate: float, count: int) -> int:
    import sqlite3

    data_dir = tempfile.mkdtemp(prefix="netbench-bench-")
    try:
        with serve(True, data_dir) as port:
            started = time.monotonic()
            answered = asyncio.run(_paced_connections(port, rate, count))
            achieved = count / (time.monotonic() - started)
            time.sleep(1.0)  # the last FINs and the writer's last batch
        (session,) = Path(data_dir).rglob("*.netbench.sqlite")
        with sqlite3.connect(session) as db:
            flags = dict(
                db.execute(
                    "SELECT flags, count(*) FROM packets WHERE src_port = ? OR dst_port = ? "
                    "GROUP BY flags",
                    (port, port),
                ).fetchall()
            )
            dropped = db.execute("SELECT coalesce(max(dropped), 0) FROM capture").fetchone()[0]
            # Connections whose SYN / SYN-ACK was seen: a retransmission repeats
            # the same port and initial sequence number, so it counts once.
            syn, syn_ack = db.execute(
                "SELECT (SELECT count(*) FROM (SELECT DISTINCT src_port, seq FROM packets "
                "        WHERE flags = 'S' AND dst_port = ?1)), "
                "       (SELECT count(*) FROM (SELECT DISTINCT dst_port, seq FROM packets "
                "        WHERE flags = 'SA' AND src_port = ?1))",
                (port,),
            ).fetchone()
        fin = sum(n for name, n in flags.items() if "F" in name)
        print(
            f"paced {achieved:.0f} new connections/s, {count} connections, {answered} answered: "
            f"SYN {syn}, SYN-ACK {syn_ack}, FIN {fin} (both sides: {2 * count} expected), "
            f"retransmitted SYNs {flags.get('S', 0) - syn}, kernel drops {dropped}"
        )
        complete = syn == syn_ack == count and fin == 2 * count and dropped == 0
        print("every handshake and teardown captured" if complete else "PACKETS MISSING")
        return 0 if complete else 1
    finally:
        shutil.rmtree(Path(data_dir), ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per run (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode (default 2)")
    parser.add_argument("--paced", type=float, metavar="RATE", help="new connections per second")
    parser.add_argument("--count", type=int, default=5000, help="connections with --paced")
    args = parser.parse_args()
    if args.paced:
        return paced(args.paced, args.count)
    tool = describe()
    print(f"netbench serve http, {tool}, {args.seconds:g} s x {args.rounds} runs each")
    data_dir = tempfile.mkdtemp(prefix="netbench-bench-")
    try:
        for close in (False, True):
            results: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.rounds):
                for capture in (False, True):
                    results[capture].append(measure(capture, args.seconds, close, data_dir))
            off = statistics.median(results[False])
            on = statistics.median(results[True])
            load = "new connection per request" if close else "keep-alive"
            print(
                f"{load:27}  --no-capture {off:9.0f} req/s   --capture {on:9.0f} req/s"
                f"   ratio {on / off:.3f}"
            )
    finally:
        shutil.rmtree(Path(data_dir), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
