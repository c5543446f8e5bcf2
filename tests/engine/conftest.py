"""An in-process engine on the test's event loop, and a recorder of its events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from recorder import Events

from netbench.engine.engine import Engine


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    running = Engine()
    yield running
    await running.stop_all()


@pytest.fixture
def events(engine: Engine) -> Events:
    recorder = Events()
    engine.ctx.bus.subscribe(recorder)
    return recorder
