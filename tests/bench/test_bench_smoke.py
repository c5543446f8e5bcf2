"""The benchmark runs and prints every row (timings belong to bench/, never to tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_bench_run_smoke_prints_every_row(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=220,
        env={**os.environ, "NETBENCH_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for row in ("(a) bare", "(b) python -m http.server", "(c) netbench serve", "(d)", "(e)"):
        assert row in out, out
    assert "key press to screen" in out and "startup to first full screen" in out
    # Every measured row has a throughput and a ratio to the bare server.
    measured = [line for line in out.splitlines() if line.startswith(("(a)", "(b)", "(c)", "(e)"))]
    assert len(measured) == 4
    assert all(len(re.findall(r"\d+\.\d\dx", line)) == 2 for line in measured), measured
    # The floor of a server that parses HTTP, and netbench's rows against it.
    assert re.search(r'^\(a"\) \.\.\. parsing with httptools +\d+ ', out, re.M), out
    floor = re.findall(r'^against the parsing floor \(a"\): \((c|c-|e\')\)', out, re.M)
    assert floor == ["c", "c-", "e'"], out
    # Memory over a long session: RSS at both marks and the growth, for serve and the TUI.
    memory = [line for line in out.splitlines() if line.startswith("memory ")]
    assert [line.split(":")[0] for line in memory] == [
        "memory (c) serve http --no-capture",
        "memory (e) the TUI, headless",
    ], out
    mark = r"\d+\.\d MB at [\d,]+ exchanges"
    assert all(
        re.search(rf"{mark}, {mark}: growth [+-]\d+\.\d MB \(peak \d+\.\d MB\)$", line)
        for line in memory
    )
    # The largest the -wal file grew, for serve and the TUI (issue 18: under 64 MiB).
    wal = [line for line in out.splitlines() if line.startswith("wal ")]
    assert len(wal) == 2, out
    assert all(re.search(r"largest -wal file \d+\.\d MB over [\d,]+ exchanges", w) for w in wal)
    # The big body, recorded, and the Bytes view's end key timed to the screen.
    assert re.search(r"^2 MB body: recorded in .* end key to screen \d+\.\d ms", out, re.M), out
    # kill -9 under load: completed against recorded, and how far the file was behind.
    killed = [line for line in out.splitlines() if line.startswith(("paced 1000", "max "))]
    assert len(killed) == 2, out
    assert re.search(r"^kill -9 worst: \d+ requests lost .* session \d+\.\d ms behind", out, re.M)
    # Workshop mode: key press to each step's screen (one lesson in smoke).
    assert re.search(
        r"^workshop key press to step screen \(1 lessons, 5 steps\): median \d", out, re.M
    )
    # A filter over the session built for it: the RSS it adds and its first screen.
    assert (
        len(
            re.findall(
                r"^filter '\w+' over [\d,]+ rows: [\d,]+ matches, [+-]\d+\.\d MB RSS; first screen",
                out,
                re.M,
            )
        )
        == 2
    ), out
    # serve wsgi against gunicorn's sync worker (a skipped row when gunicorn is not installed).
    assert re.search(r"^netbench serve wsgi vs gunicorn: keep-alive ", out, re.M), out
    # The views of one long connection: open times and one refresh while it grows.
    assert re.search(r"^views of one connection of 2,000 exchanges", out, re.M), out
    assert re.search(r"^  Bytes view open +\d+\.\d ms", out, re.M), out
    assert re.search(r"^  refresh while it grows: .* \d+ chunk\(s\) of the index read", out, re.M)
    # Each target says by itself whether it is met, and why not when it is not.
    verdict = r"\d+\.\d\dx: (met|missed \(.+\))$"
    for target in (
        r"\(c\) keep-alive >= 0\.80x",
        r"\(c\) p99 <= 3\.00x",
        r"\(e\) keep-alive >= 0\.50x",
        r"first full screen <= 1\.25x",
        r"URL in the header <= 1\.50x",
        r"proxy p99, recording both legs, saturating <= 2\.00x",
        r"proxy p99, recording both legs, paced <= 2\.00x",
    ):
        assert re.search(rf"^target {target}: {verdict}", out, re.M), (target, out)


def test_exchange_rows_prints_both_ways_of_storing_an_exchange() -> None:
    script = ROOT / "bench" / "exchange_rows.py"
    command = [sys.executable, str(script), "--exchanges", "900", "--batch", "450"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    found = re.search(r"a row each ([\d.]+) us .* per transaction ([\d.]+) us", result.stdout)
    assert found is not None, result.stdout
    assert float(found[1]) > 0 and float(found[2]) > 0
