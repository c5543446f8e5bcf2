"""However the TUI ends, its session ends as one file holding every request.

The app runs for real (page server, real HTTP requests, the Bytes view of a
connection reading the session while it is recorded); then it is quit with
ctrl+q, the palette's quit, or by an exception. Afterwards no -wal or -shm
may be left next to the session (issue 15), the recording is marked ended,
and the file holds every request. SIGTERM and SIGHUP are in
tests/cli/test_session_signals.py (the real process, on a pty).

Under load, with a reader open, the -wal stays under the writer's limit
(issue 18), here lowered to 1 MiB so a few thousand requests prove it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from uikit import Running, started

from netbench.store import SessionReader
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.traffic import TrafficList

REQUESTS = 12


class Boom(Exception):
    """A bug in a handler: Textual ends the app with it."""


def leftovers(session: Path) -> list[str]:
    return sorted(p.name for p in session.parent.iterdir() if p.name != session.name)


async def traffic_and_bytes_view(running: Running, count: int) -> None:
    """`count` real requests, then the last one's connection in the Bytes view."""
    for number in range(count):
        status, _ = await running.get(f"/page-{number}")
        assert status == 404
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= count)
    traffic.focus()
    await running.pilot.press("end", "enter")
    view = running.app.screen.query_one(BytesView)
    await running.until(lambda: len(view.chunks) >= 2)  # read from the session file


def assert_one_whole_file(session: Path, count: int) -> None:
    assert leftovers(session) == []
    with SessionReader(session) as reader:
        targets = [e.request.target for e in reader.exchanges() if e.request]
        assert targets == [f"/page-{n}".encode() for n in range(count)]
        assert [r.ended is not None for r in reader.recordings()] == [True]


async def ended(app: NetbenchApp) -> None:
    """Until the app has stopped by itself (leaving run_test's block would stop it too)."""
    async with asyncio.timeout(10):
        while app.is_running:  # noqa: ASYNC110 (the app sets no event when it stops)
            await asyncio.sleep(0.02)


async def quit_by_palette(running: Running) -> None:
    await running.pilot.press("ctrl+p")
    await running.pilot.pause(0.2)
    await running.pilot.press(*"quit")
    await running.pilot.pause(0.5)  # the palette's search runs as a worker
    await running.pilot.press("enter")


@pytest.mark.parametrize("how", ["ctrl+q", "palette"])
async def test_quitting_leaves_one_whole_file(tmp_path: Path, how: str) -> None:
    session = tmp_path / "ui.netbench.sqlite"
    app = NetbenchApp(AppConfig(port=0, session=session, capture=False))
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        running = Running(app, pilot)
        await traffic_and_bytes_view(running, REQUESTS)
        assert leftovers(session) == [f"{session.name}-shm", f"{session.name}-wal"]
        if how == "ctrl+q":
            await pilot.press("ctrl+q")
        else:
            await quit_by_palette(running)
        await ended(app)
    assert_one_whole_file(session, REQUESTS)


async def test_an_exception_leaves_one_whole_file(tmp_path: Path) -> None:
    session = tmp_path / "ui.netbench.sqlite"
    app = NetbenchApp(AppConfig(port=0, session=session, capture=False))

    def bug() -> None:
        raise Boom("a bug in a handler")

    async def run_into_the_bug() -> None:
        async with app.run_test(size=(160, 50)) as pilot:
            await started(app)
            await traffic_and_bytes_view(Running(app, pilot), REQUESTS)
            app.call_next(bug)
            await ended(app)

    with pytest.raises(Boom):
        await run_into_the_bug()
    assert_one_whole_file(session, REQUESTS)


# -- under load ---------------------------------------------------------------------

LIMIT = 1024 * 1024
LOAD = 20_000
PIPELINE = 200


def pipelined_gets(port: int, count: int, stop: threading.Event) -> int:
    """`count` keep-alive GETs, `PIPELINE` at a time, on one connection; the responses read."""
    request = b"GET /load HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    answered = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        pending = b""
        while answered < count and not stop.is_set():
            burst = min(PIPELINE, count - answered)
            sock.sendall(request * burst)
            done = 0
            while done < burst:
                head_end = pending.find(b"\r\n\r\n")
                if head_end < 0:
                    data = sock.recv(65536)
                    assert data, "the server closed the connection"
                    pending += data
                    continue
                head = pending[:head_end].lower()
                length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                end = head_end + 4 + length
                while len(pending) < end:
                    pending += sock.recv(65536)
                pending = pending[end:]
                done += 1
            answered += burst
    return answered


@contextmanager
def largest_wal(session: Path) -> Iterator[list[int]]:
    """Polls the -wal file's size every millisecond; yields [largest so far]."""
    wal = Path(f"{session}-wal")
    largest = [0]
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            with suppress(FileNotFoundError):
                largest[0] = max(largest[0], wal.stat().st_size)
            time.sleep(0.001)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield largest
    finally:
        stop.set()
        watcher.join(5)


@pytest.mark.timeout(180)
async def test_under_load_with_a_reader_open_the_wal_stays_under_its_limit(
    tmp_path: Path,
) -> None:
    session = tmp_path / "ui.netbench.sqlite"
    app = NetbenchApp(AppConfig(port=0, session=session, capture=False, wal_limit=LIMIT))
    stop = threading.Event()
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        running = Running(app, pilot)
        await traffic_and_bytes_view(running, 2)
        with largest_wal(session) as largest:
            load = asyncio.ensure_future(
                asyncio.to_thread(pipelined_gets, running.port, LOAD, stop)
            )
            try:
                async with asyncio.timeout(120):
                    # Meanwhile the Bytes view follows the busiest connection.
                    traffic = app.screen.query_one(TrafficList)
                    await running.until(lambda: len(traffic.model) > 100, timeout=30)
                    await pilot.press("end", "enter")
                    assert await load == LOAD
            finally:
                stop.set()
            with SessionReader(session) as reader:
                await running.until(lambda: reader.counts().exchanges == LOAD + 2, timeout=30)
        assert 0 < largest[0] <= LIMIT
        assert session.stat().st_size > 8 * LIMIT  # the WAL started over many times
        await pilot.press("ctrl+q")
    assert leftovers(session) == []


async def test_quitting_while_the_hidden_panes_mount_ends_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctrl+q right after start, on a slow machine: the tabs go while their panes mount."""
    from netbench.ui.widgets.http_view import HttpView

    def quit_now(self: HttpView) -> None:  # the first hidden pane to mount quits the app
        self.app.exit()

    monkeypatch.setattr(HttpView, "on_mount", quit_now, raising=False)
    session = tmp_path / "quick.netbench.sqlite"
    app = NetbenchApp(AppConfig(port=0, session=session))
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        await pilot.pause()
    assert app.return_code == 0  # no MountError traceback, no exit code 1
    assert leftovers(session) == []


async def test_quitting_while_the_recorder_opens_ends_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """q in the first half second: the recorder is still opening its file in a thread."""
    from netbench.runtime import Runtime

    opening, release = threading.Event(), threading.Event()
    open_file = Runtime.open

    def slow_open(self: Runtime) -> None:
        opening.set()
        release.wait(5)  # the recorder's start, held while the user quits
        open_file(self)

    monkeypatch.setattr(Runtime, "open", slow_open)
    session = tmp_path / "early.netbench.sqlite"
    app = NetbenchApp(AppConfig(port=0, session=session, capture=False))
    async with app.run_test(size=(160, 50)):
        assert await asyncio.to_thread(opening.wait, 5)
        quitting = asyncio.ensure_future(app.action_quit())  # what ctrl+q runs
        async with asyncio.timeout(5):
            while not app._quitting:  # noqa: ASYNC110 (no event: the quit has begun)
                await asyncio.sleep(0.01)
        release.set()  # the recorder answers only now, under the quit
        await quitting
        await ended(app)
    assert app.return_code == 0  # no "open() called after close()" traceback
    assert app.engine is None and app.page_server is None  # it never started serving
    assert_one_whole_file(session, 0)  # an empty recording, ended
