"""Collects an engine's events and lets a test await the next ones."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from netbench.events import Event

E = TypeVar("E")


class Events:
    """Every event the engine published, with a way to await the next ones."""

    def __init__(self) -> None:
        self.all: list[Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.all.append(event)
        self._changed.set()

    def of(self, kind: type[E], **fields: Any) -> list[E]:
        return [
            e
            for e in self.all
            if isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())
        ]

    async def wait_for(
        self, kind: type[E], where: Callable[[E], bool] = lambda e: True, timeout: float = 3.0
    ) -> E:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.all:
                    if isinstance(event, kind) and where(event):
                        return event
                self._changed.clear()
                await self._changed.wait()
