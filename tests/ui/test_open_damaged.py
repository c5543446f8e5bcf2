"""`netbench open` on a damaged session: what can be read is shown, the rest marked, no crash."""

from __future__ import annotations

import os
import pty
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from damagekit import Cut, damage, damage_sql, record_traffic
from textual.widgets import DataTable
from uikit import read_pty, started

from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.widgets.servers import ServersPanel
from netbench.ui.widgets.traffic import TrafficList

fcntl = pytest.importorskip("fcntl")
termios = pytest.importorskip("termios")

SIZE = (160, 50)


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    return record_traffic(tmp_path / "damaged.netbench.sqlite")


@pytest.fixture
def damaged(recorded: Path) -> Path:
    """A real recording with one exchange row and one connection row edited to the wrong kind."""
    path = recorded
    damage_sql(
        path,
        "PRAGMA ignore_check_constraints = ON",
        "UPDATE exchanges SET status = X'00' WHERE id = 3",
        "UPDATE connections SET opened = 'soon' WHERE id = 5",
        "UPDATE exchanges SET target = CAST(X'2FFF' AS TEXT) WHERE id = 4",
    )
    return path


def _lines(traffic: TrafficList) -> list[str]:
    return [traffic.render_line(y).text.rstrip() for y in range(len(traffic.model))]


def _notes(app: NetbenchApp) -> list[str]:
    return [str(notification.message) for notification in app._notifications]


async def test_open_shows_the_readable_rows_and_marks_the_rest(damaged: Path) -> None:
    app = NetbenchApp(AppConfig(open_path=damaged))
    async with app.run_test(size=SIZE) as pilot:
        await started(app)
        await pilot.pause()
        traffic = app.screen.query_one(TrafficList)
        lines = _lines(traffic)
        assert len(lines) == 8  # four exchanges, four connections without HTTP
        unreadable = [line for line in lines if "unreadable" in line]
        assert len(unreadable) == 2
        assert all("the file is damaged: " in line for line in unreadable)
        assert any("exchanges.status holds a blob, not int" in line for line in unreadable)
        assert any("connections.opened holds text, not time" in line for line in unreadable)
        assert sum("GET /? -> 404" in line for line in lines) == 1  # U+FFFD, as latin-1 "?"
        # The echo server's and the client's rows, and the UDP echo's: their first bytes.
        assert sum("from a client␍␊" in line for line in lines) == 2
        assert sum("→ :" in line and "from a client␍␊" in line for line in lines) == 1
        assert sum("udp-echo :" in line and "datagram" in line for line in lines) == 1
        notes = _notes(app)
        assert any("rows unreadable" in note and "the file is damaged" in note for note in notes)
        # The servers panel lists the servers; their totals could not be counted.
        table = app.screen.query_one(ServersPanel)
        assert isinstance(table, DataTable)
        assert table.row_count == 3
        assert any(
            note.startswith("Connections unreadable: ") and "the file is damaged" in note
            for note in notes
        )
        await pilot.press("home", "enter")  # an unreadable row selects nothing, crashes nothing
        await pilot.press("down", "down", "down", "enter")
        await pilot.pause()


async def test_open_with_unreadable_traffic_still_shows_the_servers(recorded: Path) -> None:
    path = recorded
    damage_sql(path, "DROP TABLE exchanges")
    app = NetbenchApp(AppConfig(open_path=path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app)
        await pilot.pause()
        assert len(app.screen.query_one(TrafficList).model) == 0
        assert app.screen.query_one(ServersPanel).row_count == 3
        assert any(
            note == f"Traffic unreadable: cannot read {path}"
            " (the file is damaged: no such table: exchanges)"
            for note in _notes(app)
        )


def test_open_of_a_file_that_cannot_be_opened_is_one_line_and_exit_1(recorded: Path) -> None:
    path = recorded
    damage(path, [Cut(0.0005)])
    result = subprocess.run(
        [sys.executable, "-m", "netbench", "open", str(path)],
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    # The cut is a fraction of the file, whose size follows the writer's.
    assert re.fullmatch(
        re.escape(f"netbench: error: cannot read {path} (the file is damaged: it ends after ")
        + r"\d{1,2} bytes, inside SQLite's 100-byte header\)",
        lines[0],
    ), lines[0]


@pytest.mark.timeout(60)
def test_open_in_a_real_terminal_shows_no_traceback_and_exits_0(damaged: Path) -> None:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"}
    env.pop("TEXTUAL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "netbench", "open", str(damaged)],
        stdin=follower, stdout=follower, stderr=follower, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    try:
        screen = read_pty(leader, 30.0, until=b"unreadable")
        # The first exchange in the HTTP view: startup is over (ctrl+q before
        # that races the panes still being mounted).
        deadline = time.monotonic() + 30
        while b"Bad Request" not in screen and time.monotonic() < deadline:
            os.write(leader, b"t\x1b[H\rh")  # the list, home, enter, the HTTP tab
            screen += read_pty(leader, 1.0, until=b"Bad Request")
        os.write(leader, b"\x11")  # ctrl+q
        screen += read_pty(leader, 5.0)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        os.close(leader)
    assert b"unreadable" in screen
    assert b"Traceback" not in screen
    assert code == 0
