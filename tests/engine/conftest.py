"""An in-process engine on the test's event loop, and a recorder of its events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping

import pytest
import uvloop
from recorder import Events

from netbench.engine.engine import Engine


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Tests marked `both_loops` run twice: on asyncio's loop and on uvloop, which
    `netbench serve` runs by default; the others on asyncio's alone."""
    if item.get_closest_marker("both_loops") is None:
        return {"asyncio": asyncio.new_event_loop}
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


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
