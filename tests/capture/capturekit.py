"""Helpers shared by the capture tests (fixtures are in conftest.py).

Privileged tests (real capture on lo) are marked `privileged` and skipped,
with the reason, when not root; a missing libpcap or tshark is named in the
skip reason so that CI (which installs them) fails instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from netbench.events import CaptureStatus, Event, PacketCaptured
from netbench.model import TcpPacket

E = TypeVar("E")


IS_ROOT = os.geteuid() == 0


def _libpcap_missing() -> bool:
    if not IS_ROOT:
        return False
    from netbench.capture.preflight import preflight

    problem = preflight("lo")
    return problem is not None and problem.kind == "no-libpcap"


PRIVILEGED = [
    pytest.mark.privileged,
    pytest.mark.skipif(not IS_ROOT, reason="packet capture needs root (CI runs as root)"),
    pytest.mark.skipif(
        _libpcap_missing(), reason="libpcap is not installed (apt-get install libpcap0.8)"
    ),
]
"""`pytestmark = PRIVILEGED` in a module of real-capture tests."""

needs_tshark = pytest.mark.skipif(
    shutil.which("tshark") is None, reason="tshark is not installed (apt-get install tshark)"
)


class Recorder:
    """Every event published, and a way to await the ones a test needs."""

    def __init__(self) -> None:
        self.all: list[Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.all.append(event)
        self._changed.set()

    publish = __call__  # so it can stand in for an engine context

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.all if isinstance(event, kind)]

    @property
    def packets(self) -> list[TcpPacket]:
        return [event.packet for event in self.of(PacketCaptured)]

    async def until(self, condition: Callable[[], Any], timeout: float = 5.0) -> None:
        """Wait until `condition()` is true; fail the test after `timeout` s."""
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"condition not met within {timeout} s; statuses {self.of(CaptureStatus)}")
