"""Helpers for driving the real app in tests: requests off its loop, bounded waits."""

from __future__ import annotations

import asyncio
import http.client
import os
import select
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from textual.pilot import Pilot

from netbench.ui.app import AppConfig, NetbenchApp


async def started(app: NetbenchApp, timeout: float = 10.0) -> None:
    """Wait for the end of the app's startup, which goes on after its first frame."""
    async with asyncio.timeout(timeout):
        await app.started.wait()


@dataclass
class Running:
    app: NetbenchApp
    pilot: Pilot[int]

    @property
    def port(self) -> int:
        assert self.app.page_server is not None
        return self.app.page_server.address.port

    async def get(
        self, path: str, method: str = "GET", body: bytes | None = None, port: int | None = None
    ) -> tuple[int, bytes]:
        """A real request from http.client, off the app's loop."""

        def call() -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=5)
            try:
                conn.request(method, path, body=body)
                response = conn.getresponse()
                return response.status, response.read()
            finally:
                conn.close()

        return await asyncio.to_thread(call)

    async def until(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        """Let the app run until `predicate()` holds (bounded)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self.pilot.pause(0.05)


@asynccontextmanager
async def running_app(session: Path, size: tuple[int, int]) -> AsyncIterator[Running]:
    """The app recording to `session` on a free port, at `size`, once started."""
    app = NetbenchApp(AppConfig(port=0, session=session))
    async with app.run_test(size=size) as pilot:
        await started(app)
        await pilot.pause()
        yield Running(app, pilot)


def read_pty(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    """What an app in a pty wrote within `seconds`; with `until`, stop once that appeared."""
    out = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not (until and until in out):
        ready, _, _ = select.select([fd], [], [], min(left, 0.05))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out
