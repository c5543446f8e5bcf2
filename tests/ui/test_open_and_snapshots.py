"""`netbench open PATH`: a recorded session in the same screens, read-only.

The snapshots use a session with fixed contents and clock (demo_session.py),
so an SVG changes only when the UI does. Update them on purpose with
`pytest tests/ui/test_open_and_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_session import write_demo_session
from textual.pilot import Pilot
from uikit import started

from netbench.engine.engine import load_test_jpeg
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.traffic import TrafficList

SIZE = (160, 50)


@pytest.fixture
def utc() -> Iterator[None]:
    """Times on screen are local: pin the zone so snapshots hold everywhere."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return write_demo_session(tmp_path / "demo.netbench.sqlite", load_test_jpeg())


async def test_open_shows_the_recorded_traffic_read_only(demo: Path) -> None:
    app = NetbenchApp(AppConfig(open_path=demo))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.engine is None
        traffic = app.screen.query_one(TrafficList)
        rows = [traffic.model.row_at(i, app.reader()) for i in range(len(traffic.model))]
        targets = [row.target for row in rows if row is not None]
        assert targets[:4] == [b"/", b"/test.jpg", b"/", b"/favicon.ico"]
        assert len(rows) == 5  # four exchanges and the echo connection
        await pilot.press("end", "enter")
        await pilot.pause(0.3)
        text = "\n".join(app.screen.query_one(BytesView).render_line(y).text for y in range(12))
        assert "Hello␍␊" in text
        assert "␛[31mred" in text


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("traffic-and-bytes", ["home", "down", "down", "enter"]),
        ("http-form", ["home", "down", "down", "enter", "h"]),
        ("echo-bytes", ["end", "enter"]),
    ],
)
def test_snapshot(snap_compare, utc: None, demo: Path, name: str, keys: list[str]) -> None:  # type: ignore[no-untyped-def]
    app = NetbenchApp(AppConfig(open_path=demo))

    async def startup_over(pilot: Pilot[int]) -> None:
        await started(app)

    assert snap_compare(app, terminal_size=SIZE, press=keys, run_before=startup_over)
