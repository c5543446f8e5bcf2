"""The TUI records into private files, whatever the umask (docs/security.md).

With umask 0, the real app records a real request into a new session in the
default folder and the Respond tab saves a response beside it: the folders
are 0700, the session, its -wal and -shm and the response file 0600.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import TextArea
from uikit import Running, started

from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.widgets.respond import RespondPane


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_tui_records_into_private_files(netbench_env: Path, open_umask: None) -> None:
    app = NetbenchApp(AppConfig(port=0, capture=False))
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        running = Running(app, pilot)
        session = app.session_path
        assert session is not None and session.parent == netbench_env / "sessions"
        assert (await running.get("/?password=hunter2"))[0] == 200
        reader = app.reader()
        assert reader is not None
        await running.until(lambda: reader.counts().exchanges >= 1)
        await pilot.press("r")
        await running.until(
            lambda: app.screen.query_one(RespondPane).query(TextArea).first().has_focus
        )
        await pilot.press("ctrl+s")
        responses = session.with_name(session.name + ".responses")
        await running.until(lambda: (responses / "server-1.http").exists())
        files = [session, *(session.with_name(session.name + end) for end in ("-wal", "-shm"))]
        files.append(responses / "server-1.http")
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
        folders = (netbench_env, session.parent, responses)
        assert {p.name: _mode(p) for p in folders} == {p.name: 0o700 for p in folders}
