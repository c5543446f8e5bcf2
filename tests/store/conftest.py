from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sessionkit import one_exchange

from netbench.events import Event


@pytest.fixture
def session_path(tmp_path: Path) -> Path:
    return tmp_path / "sessions" / "test.netbench.sqlite"


def _wait_until(condition: Callable[[], bool], *, deadline: float = 2.0) -> float:
    """Poll until `condition()` holds; the seconds it took. Fails at the deadline."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > deadline:
            pytest.fail(f"condition not met within {deadline} s")
        time.sleep(0.005)
    return time.monotonic() - start


# Shared as fixtures rather than imported: test directories have no
# __init__.py, so `from conftest import ...` would be ambiguous.
@pytest.fixture
def make_events() -> Callable[..., list[Event]]:
    return one_exchange


@pytest.fixture
def wait_until() -> Callable[..., float]:
    return _wait_until
