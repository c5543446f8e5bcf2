"""Threads that run blocking applications, and the bytes they hand to the loop.

A WSGI app blocks, so it runs in a worker thread; what it produces crosses
to the event loop, which owns the socket. Two ways across:
- `Outbox`: a response in pieces, as the app yields them, with backpressure
  (past OUTBOX unsent bytes the app's thread waits for the socket);
- a Future resolved once, when the app answered in one piece (most apps):
  one wake-up of the loop per request, no queue, no per-request lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

OUTBOX = 256 * 1024
"""Bytes an app may have produced ahead of the socket before its thread waits."""
T = TypeVar("T")


class Workers:
    """Daemon threads that run apps, started on first use."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, job: Callable[[], None]) -> None:
        if not self._threads:
            for number in range(self.size):
                thread = threading.Thread(target=self._run, name=f"{self.name}-{number}")
                thread.daemon = True
                thread.start()
                self._threads.append(thread)
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job()
            del job  # idle, a thread holds nothing of its last request (a 64 MiB answer)

    async def stop(self) -> None:
        for _thread in self._threads:
            self._jobs.put(None)
        self._threads.clear()


class ClientGone(Exception):
    """The response's reader went away: the app's thread stops producing."""


class Outbox:
    """Bytes from an app's thread to the loop, at most OUTBOX of them waiting."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._cond = threading.Condition()
        self._items: list[bytes] = []
        self._size = 0
        self._ended = False
        self._cancelled = False
        self._ready = asyncio.Event()

    def put(self, data: bytes) -> None:
        """Hand bytes over (the app's thread); waits while the socket is behind."""
        with self._cond:
            while self._size >= OUTBOX and not self._cancelled:
                self._cond.wait()
            if self._cancelled:
                raise ClientGone
            self._items.append(data)
            self._size += len(data)
            wake = len(self._items) == 1
        if wake:
            self._wake()

    def end(self, data: bytes = b"") -> None:
        with self._cond:
            if data:
                self._items.append(data)
            self._ended = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: netbench is exiting
            self._loop.call_soon_threadsafe(self._ready.set)

    async def take(self) -> tuple[list[bytes], bool]:
        """What was handed over so far, and whether that is all (on the loop)."""
        while True:
            with self._cond:
                if self._items or self._ended:
                    items, self._items, self._size = self._items, [], 0
                    self._cond.notify_all()
                    return items, self._ended
                self._ready.clear()
            await self._ready.wait()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()


class FirstAnswer(Generic[T]):
    """Where an app's thread puts its response when it may come in one piece.

    It has an Outbox's `put`/`end`. `end` before any `put` resolves `future`
    with `whole(data)`: the loop is woken once and writes it as it writes a
    page. A `put` first (the app streams) resolves it with `streamed(outbox)`
    and everything goes through that Outbox from then on.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[T],
        whole: Callable[[bytes], T],
        streamed: Callable[[Outbox], T],
    ) -> None:
        self._loop = loop
        self._future = future
        self._whole = whole
        self._streamed = streamed
        self._outbox: Outbox | None = None

    def put(self, data: bytes) -> None:
        if self._outbox is None:
            self._outbox = Outbox(self._loop)
            self._resolve(self._streamed(self._outbox))
        self._outbox.put(data)

    def end(self, data: bytes = b"") -> None:
        if self._outbox is None:
            self._resolve(self._whole(data))
        else:
            self._outbox.end(data)

    def _resolve(self, value: T) -> None:
        try:
            self._loop.call_soon_threadsafe(_settle, self._future, value, self._outbox)
        except RuntimeError:  # the loop is closed (netbench exited): no one will read it
            if self._outbox is not None:
                self._outbox.cancel()  # the app's next put raises ClientGone: close() runs


def _settle(future: asyncio.Future[T], value: T, outbox: Outbox | None) -> None:
    if future.done():  # cancelled: the connection closed while the app ran
        if outbox is not None:
            outbox.cancel()  # the app's next put raises ClientGone
        return
    future.set_result(value)
