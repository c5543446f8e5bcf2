"""The real app, on real sockets, driven by Textual's pilot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from uikit import Running, running_app


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_app(tmp_path / "ui.netbench.sqlite", (160, 50)) as running:
        yield running


@pytest.fixture
async def narrow(tmp_path: Path) -> AsyncIterator[Running]:
    """The app on an 80x24 terminal."""
    async with running_app(tmp_path / "narrow.netbench.sqlite", (80, 24)) as running:
        yield running
