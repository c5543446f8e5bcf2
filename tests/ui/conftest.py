"""The real app, on real sockets, driven by Textual's pilot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from uikit import Running, started

from netbench.ui.app import AppConfig, NetbenchApp


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    app = NetbenchApp(AppConfig(port=0, session=tmp_path / "ui.netbench.sqlite"))
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        await pilot.pause()
        yield Running(app, pilot)
