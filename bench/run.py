"""netbench against the Python limit and its peers, in one run.

    python bench/run.py [--seconds 5] [--memory-exchanges 100000,1000000] [--body-mb 100]
                        [--smoke] [--only startup|loads|memory|kill9|workshop|apps|views|filters]

Starts each server as its own process, drives it with the same load
(bench/load.py: wrk -t1 -c10 when /usr/bin/wrk exists, else an asyncio
loop), keep-alive and then `Connection: close`, and prints requests/s, p99
latency and the ratio to (a), the bare asyncio server:

  (a) a bare `asyncio.Protocol` answering a fixed response (the limit)
  (a') the same Protocol on uvloop (the limit of the rows on uvloop)
  (a") the same on uvloop, parsing each request with httptools as netbench
      does and recording nothing: the floor of any Python server that reads
      HTTP (netbench's rows are also printed against it)
  (b) `python -m http.server` (HTTP/1.0: it closes after every response)
  (c) `netbench serve http` (on uvloop, its default), recording every byte
      to a session; (c') the same on `--loop asyncio`; (c-) and (c-') both
      with `--no-record`
  (d) the same with `--capture` (only when privileged: root or CAP_NET_RAW)
  (e) the TUI, headless, serving, recording and updating its widgets, on
      asyncio's loop (its default), and (e') on uvloop; also the time from a
      key press to the screen showing it, during the load

Each row's ratio is to the bare server on its own loop: (a) or (a').

then the startup time of `netbench`'s first full screen against a minimal
Textual app's (bench/startup.py); then memory over a long session: the resident set of (c)
without capture and of the TUI after 100,000 and after 1,000,000 recorded
exchanges (keep-alive requests sent by count, counted in the session file);
then, in that same TUI, a 100 MB response recorded and the time from the
Bytes view's `end` key to the screen showing the stream's last line; and
the largest the session's -wal file grew meanwhile (the limit is 64 MiB);
then what a `kill -9` of (c) under load loses (bench/kill9.py: paced 1,000
and 5,000 req/s and unpaced, three kills each); then workshop mode: key
press to each lesson step's screen (bench/workshop.py); then `serve wsgi`
with seed 004's hello-world app against gunicorn's sync worker, one
process (bench/apps.py; gunicorn only when installed); then the Bytes and
HTTP views of one connection of 1,000,000 exchanges: open, end, and one
refresh while it grows (bench/views.py); then a filter over a 1M-exchange
session, one matching most rows and one few: the RSS it adds and the key
press to its first screen (bench/filters.py). `--smoke` runs
everything for a fraction of a second (and counts and sizes tiny): the suite uses it to prove the benchmark runs (timings belong here,
never in tests). `--only` runs one part. docs/performance.md explains each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from apps import measure as measure_apps
from apps import measure_proxy, report_proxy
from apps import report as report_apps
from filters import report as report_filters
from kill9 import kill9
from load import CountedLoad, describe, process, rss_mb, run_load, server_process, tui_peer
from peers import PAGE
from startup import startup
from targets import bound_line, ratio_line
from targets import line as target_line
from views import report as report_views
from views import views

from netbench.store import WAL_LIMIT

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


def _tui_row(
    name: str, seconds: float, session: Path, env: dict[str, str], loop: str
) -> tuple[Row, list[float]]:
    with tui_peer(session, loop, env) as peer:
        load_started = time.time()
        measured = measure(peer.port, seconds)
        load_ended = time.time()
    # Only the presses made while the load ran.
    key_ms = [ms for at, ms in peer.key_ms if load_started <= at <= load_ended]
    return Row(name, *measured, f"recording, widgets live, {loop}"), key_ms


def servers(seconds: float, data_dir: str) -> tuple[list[Row], dict[str, list[float]]]:
    env = {"NETBENCH_DATA_DIR": data_dir}
    rows = []
    with process([PY, str(BENCH / "peers.py"), "bare"], env) as port:
        rows.append(Row("(a) bare asyncio.Protocol", *measure(port, seconds), "asyncio"))
    with process([PY, str(BENCH / "peers.py"), "bare-uvloop"], env) as port:
        rows.append(Row("(a') ... on uvloop", *measure(port, seconds), "uvloop"))
    with process([PY, str(BENCH / "peers.py"), "parse-uvloop"], env) as port:
        rows.append(Row('(a") ... parsing with httptools', *measure(port, seconds), "uvloop"))
    site = Path(data_dir) / "site"
    site.mkdir()
    (site / "index.html").write_bytes(PAGE)
    server = [PY, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", str(site)]
    with process(server, env, ready="http.server") as port:
        rows.append(Row("(b) python -m http.server", *measure(port, seconds), "HTTP/1.0, asyncio"))
    serve = [PY, "-m", "netbench", "serve", "http", "--port", "0", "--json", "-q", "--no-capture"]
    for name, extra, note in (
        ("(c) netbench serve http", [], "recording, uvloop"),
        ("(c') ... --loop asyncio", ["--loop", "asyncio"], "recording, asyncio"),
        ("(c-) ... --no-record", ["--no-record"], "uvloop"),
        ("(c-') ... --no-record --loop asyncio", ["--no-record", "--loop", "asyncio"], "asyncio"),
    ):
        with process([*serve, *extra], env) as port:
            rows.append(Row(name, *measure(port, seconds), note))
    if can_capture():
        with process([*serve[:-1], "--capture"], env) as port:
            rows.append(Row("(d) ... --capture", *measure(port, seconds), "recording, uvloop"))
    else:
        rows.append(Row("(d) ... --capture", note="skipped: capture needs root or CAP_NET_RAW"))
    key_ms = {}
    for name, loop in (
        ("(e) netbench TUI, headless", "asyncio"),
        ("(e') ... on uvloop", "uvloop"),
    ):
        row, key_ms[name] = _tui_row(
            name, seconds, Path(data_dir) / f"tui-{loop}.netbench.sqlite", env, loop
        )
        rows.append(row)
    return rows, key_ms


@dataclass
class Memory:
    name: str
    marks: list[tuple[int, float]]
    """(exchanges recorded, resident MB) at each mark."""
    peak: float
    """The highest RSS in MB up to the last mark (VmHWM)."""
    wal_mb: float = 0.0
    """The largest the session's -wal file was, in MB, from the start to the end
    (for the TUI: the big body too)."""


@contextmanager
def largest_wal(session: Path) -> Iterator[list[float]]:
    """Polls the -wal file's size every 20 ms; yields [largest so far, in MB]."""
    wal = Path(f"{session}-wal")
    largest = [0.0]
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.02):
            if wal.exists():
                largest[0] = max(largest[0], wal.stat().st_size / 1e6)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield largest
    finally:
        stop.set()
        watcher.join(5)


def recorded(session: Path) -> int:
    """Exchanges in the session so far (read-only; max(id) is one index lookup)."""
    with closing(sqlite3.connect(session.resolve().as_uri() + "?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT coalesce(max(id), 0) FROM exchanges").fetchone()[0])


def _memory_marks(
    port: int, pid: int, session: Path, marks: list[int]
) -> tuple[list[tuple[int, float]], float]:
    """Load up to each mark, pause the client (its connections stay open), read RSS;
    the peak RSS too (a writer falling behind holds its backlog in memory)."""
    measured = []
    already = recorded(session) if session.exists() else 0
    # A few more than needed: the marks are read from the session, not from wrk.
    with CountedLoad(port, marks[-1] - already + 100) as load:
        for mark in marks:
            load.resume()
            deadline = time.monotonic() + max(60.0, mark / 300)
            while not (session.exists() and recorded(session) >= mark):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{mark} exchanges not recorded in time")
                time.sleep(0.05)
            load.pause()
            settled = recorded(session)
            while True:  # the writer's backlog, then the UI's last batch and repaint
                time.sleep(0.25)
                now, settled = settled, recorded(session)
                if now == settled:
                    break
            time.sleep(0.25)
            measured.append((settled, rss_mb(pid)))
        peak = rss_mb(pid, "VmHWM")
    return measured, peak


def memory(
    marks: list[int], body_bytes: int, data_dir: str
) -> tuple[list[Memory], dict[str, object]]:
    """RSS of (c) and of the TUI at each mark; then the TUI's big body and end key."""
    env = {"NETBENCH_DATA_DIR": data_dir}
    rows = []
    session = Path(data_dir) / "serve-long.netbench.sqlite"
    serve = [PY, "-m", "netbench", "serve", "http", "--port", "0", "--json", "-q"]
    with (
        server_process([*serve, "--no-capture", "--session", str(session)], env) as (port, popen),
        largest_wal(session) as wal,
    ):
        rows.append(
            Memory("(c) serve http --no-capture", *_memory_marks(port, popen.pid, session, marks))
        )
    rows[-1].wal_mb = wal[0]
    session = Path(data_dir) / "tui-long.netbench.sqlite"
    long_tui = [PY, str(BENCH / "peers.py"), "long", str(session)]
    with server_process(long_tui, env, interrupt=False) as (port, tui), largest_wal(session) as wal:
        assert tui.stdin is not None and tui.stdout is not None
        rows.append(Memory("(e) the TUI, headless", *_memory_marks(port, tui.pid, session, marks)))
        tui.stdin.write(f"body {body_bytes}\n")
        tui.stdin.flush()
        line = tui.stdout.readline()
        if not line.startswith('{"body"'):
            raise RuntimeError(f"the TUI peer's big body failed: {line!r}")
        body = json.loads(line)["body"]
        body["rss_mb"] = rss_mb(tui.pid)
    rows[-1].wal_mb = wal[0]
    return rows, body


def _cell(result: tuple[float, float] | None, limit: tuple[float, float] | None) -> str:
    if result is None:
        return f"{'—':>28}"
    ratio = f"{result[0] / limit[0]:.2f}x" if limit else ""
    return f"{result[0]:9.0f} {result[1]:7.2f} ms {ratio:>7}"


def loads(seconds: float, data_dir: str) -> None:
    rows, key_ms = servers(seconds, data_dir)
    # Each row against the bare server on its own loop: (a) asyncio, (a') uvloop.
    limits = {"asyncio": rows[0], "uvloop": rows[1]}
    print(f"{'server':36} {'keep-alive: req/s   p99   vs bare':>28}   {'Connection: close':>28}")
    for row in rows:
        limit = limits["asyncio" if row.note.endswith("asyncio") else "uvloop"]
        cells = f"{_cell(row.keep_alive, limit.keep_alive)}   {_cell(row.close, limit.close)}"
        print(f"{row.name:36} {cells}   {row.note} (vs {limit.name[:4].strip()})")
    for name, presses in key_ms.items():
        if presses:
            print(
                f"TUI key press to screen during the load {name.split()[0]}: median"
                f" {statistics.median(presses):.1f} ms, max {max(presses):.1f} ms ({len(presses)} presses)"
            )
    bare, uv = rows[0].keep_alive, rows[1].keep_alive
    if bare and uv:
        print(f"uvloop against asyncio, the bare server: {uv[0] / bare[0]:.2f}x req/s keep-alive")
    parsing = next((row for row in rows if row.name.startswith('(a")')), None)
    for row in rows:
        if parsing and row.name.split()[0] in ("(c)", "(c-)", "(e')"):
            cells = [
                f"{ours[0] / floor[0]:.2f}x {kind}"
                for kind, ours, floor in (
                    ("keep-alive", row.keep_alive, parsing.keep_alive),
                    ("close", row.close, parsing.close),
                )
                if ours and floor
            ]
            print(f'against the parsing floor (a"): {row.name}: {", ".join(cells)}')
    for text in load_targets(rows, key_ms):
        print(text)


def load_targets(rows: list[Row], key_ms: dict[str, list[float]]) -> list[str]:
    """Issue 18's load targets, each against the bare server on the same loop."""
    by_name = {row.name.split()[0]: row for row in rows}
    bare = {"asyncio": by_name["(a)"], "uvloop": by_name["(a')"]}
    lines = []
    for key, share, why in (("(c)", 0.8, "c"), ("(e)", 0.5, "e")):
        row = by_name.get(key)
        if row is None or row.keep_alive is None or row.close is None:
            continue
        peer = bare["asyncio" if row.note.endswith("asyncio") else "uvloop"]
        assert peer.keep_alive is not None and peer.close is not None
        lines.append(
            ratio_line(f"{key} keep-alive", row.keep_alive[0], peer.keep_alive[0], share, why)
        )
        lines.append(ratio_line(f"{key} close", row.close[0], peer.close[0], share, why))
        if key == "(c)":
            lines.append(bound_line("(c) p99", row.keep_alive[1], peer.keep_alive[1], 3.0, "c-p99"))
    c, d = by_name.get("(c)"), by_name.get("(d)")
    if c and d and c.keep_alive and d.keep_alive and c.close and d.close:
        lines.append(ratio_line("(d)/(c) keep-alive", d.keep_alive[0], c.keep_alive[0], 0.9, "d"))
        lines.append(ratio_line("(d)/(c) close", d.close[0], c.close[0], 0.9, "d"))
    presses = [ms for name, values in key_ms.items() if name.startswith("(e)") for ms in values]
    if presses:
        slowest = max(presses)
        lines.append(
            target_line(
                "key press during (e) < 100 ms", f"max {slowest:.0f} ms", slowest < 100, "keys"
            )
        )
    return lines


def long_session(marks: list[int], body_bytes: int, data_dir: str) -> None:
    rss, body = memory(marks, body_bytes, data_dir)
    for row in rss:
        at = ", ".join(f"{mb:.1f} MB at {count:,} exchanges" for count, mb in row.marks)
        growth = row.marks[-1][1] - row.marks[0][1]
        print(f"memory {row.name}: {at}: growth {growth:+.1f} MB (peak {row.peak:.1f} MB)")
    for row in rss:
        body_too = f" and the {body['bytes'] / 1e6:g} MB body" if row.name.startswith("(e)") else ""
        print(
            f"wal {row.name}: largest -wal file {row.wal_mb:.1f} MB over"
            f" {row.marks[-1][0]:,} exchanges{body_too}"
            f" (limit {WAL_LIMIT / 1e6:.1f} MB, {WAL_LIMIT >> 20} MiB)"
        )
    warm = statistics.median(body["warm_ms"])  # type: ignore[arg-type]
    print(
        f"{body['bytes'] / 1e6:g} MB body: recorded in {body['recorded_s']:.2f} s"
        f" ({body['chunks']} chunks); Bytes view end key to screen {body['jump_ms']:.1f} ms"
        f" (again: median {warm:.1f} ms); TUI RSS then {body['rss_mb']:.1f} MB"
    )


def workshop(smoke: bool) -> None:
    """Key press to a lesson step's screen, every step of every built-in lesson (one in smoke)."""
    command = [PY, str(BENCH / "workshop.py"), "--json"]
    if smoke:
        command += ["--scenario", "handshake"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"bench/workshop.py failed: {result.stderr[-2000:]}")
    lessons = json.loads(result.stdout)["lessons"]
    key_ms = [ms for lesson in lessons for ms in lesson["key_ms"]]
    extra = [
        key - call
        for lesson in lessons
        for key, call in zip(lesson["key_ms"], lesson["call_ms"], strict=True)
    ]
    print(
        f"workshop key press to step screen ({len(lessons)} lessons, {len(key_ms)} steps):"
        f" median {statistics.median(key_ms):.1f} ms, max {max(key_ms):.1f} ms;"
        f" past the socket call: median {statistics.median(extra):.1f} ms, max {max(extra):.1f} ms"
    )


def filters(smoke: bool) -> None:
    """A filter over a 1M-exchange session (2,000 in smoke): extra RSS, first screen (bench/filters.py)."""
    exchanges = 2000 if smoke else 1_000_000
    command = [PY, str(BENCH / "filters.py"), "--json", "--exchanges", str(exchanges)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"bench/filters.py failed: {result.stderr[-2000:]}")
    for line in report_filters(json.loads(result.stdout)["filters"]):
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per load (default 5)")
    parser.add_argument("--startup-runs", type=int, default=5, help="(default 5)")
    parser.add_argument(
        "--memory-exchanges",
        default="100000,1000000",
        metavar="N,M",
        help="exchanges at which to read RSS (default 100000,1000000)",
    )
    parser.add_argument(
        "--body-mb", type=float, default=100.0, help="the big body's size in MB (default 100)"
    )
    parser.add_argument(
        "--view-exchanges",
        type=int,
        default=1_000_000,
        help="exchanges on the connection the views open (default 1000000)",
    )
    parser.add_argument("--smoke", action="store_true", help="a fraction of a second each")
    parser.add_argument(
        "--only",
        choices=["loads", "startup", "memory", "kill9", "workshop", "apps", "views", "filters"],
        help="run only this part",
    )
    args = parser.parse_args()
    seconds, runs = (0.5, 1) if args.smoke else (args.seconds, args.startup_runs)
    marks = [200, 2000] if args.smoke else [int(n) for n in args.memory_exchanges.split(",")]
    body_bytes = 2_000_000 if args.smoke else round(args.body_mb * 1_000_000)
    print(
        f"load: {describe()}, {seconds:g} s each; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="netbench-bench-") as data_dir:
        if args.only in (None, "loads"):
            loads(seconds, data_dir)
        if args.only in (None, "startup"):
            print(startup(runs, data_dir).report())
        if args.only in (None, "memory"):
            long_session(marks, body_bytes, data_dir)
        if args.only in (None, "kill9"):
            loads_killed = ["1000", "max"] if args.smoke else ["1000", "5000", "max"]
            kill_after, kills = (0.5, 1) if args.smoke else (3.0, 3)
            for line in kill9(loads_killed, kill_after, kills, Path(data_dir)):
                print(line)
        if args.only in (None, "workshop"):
            workshop(args.smoke)
        if args.only in (None, "filters"):
            filters(args.smoke)
        if args.only in (None, "apps"):
            for line in report_apps(measure_apps(seconds, data_dir)):
                print(line)
            for line in report_proxy(measure_proxy(seconds, data_dir)):
                print(line)
        if args.only in (None, "views"):
            exchanges = 2_000 if args.smoke else args.view_exchanges
            print("\n".join(report_views(views(exchanges, data_dir))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
