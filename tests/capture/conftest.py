"""Fixtures of the capture tests: an in-process engine and a recorder of its events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from capturekit import Recorder

from netbench.engine.config import default_config
from netbench.engine.context import EngineContext
from netbench.engine.engine import Engine


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def engine(recorder: Recorder) -> AsyncIterator[Engine]:
    ctx = EngineContext()
    ctx.bus.subscribe(recorder)
    running = Engine(ctx)
    yield running
    await running.stop_all()


@pytest.fixture
async def http_port(engine: Engine) -> int:
    server = await engine.start_server(
        default_config("http", host="127.0.0.1", port=0, backlog=1024)
    )
    return server.address.port
