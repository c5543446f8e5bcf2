"""A request body on its way from the event loop to an application, never held whole.

Two kinds, one interface (`RequestBody`):
- `BodyPipe`: the body as it arrives, for an app that started at the head.
  The loop feeds it; a WSGI app reads it from a worker thread (blocking), an
  ASGI app from the loop (awaiting). Past `LIMIT` unread bytes the pipe
  pauses the socket, and resumes it once the app has read half of them, so
  a 100 MB upload to a slow app waits in the kernel (and TCP's window slows
  the client), not in memory;
- `SpooledBody`: the body of a request that waited (intercept, a rule that
  may still defer to the app): kept in memory up to `LIMIT`, on disk beyond.

Rules: `feed`, `finish`, `fail` and `discard` run on the loop; `read` and
`readline` in any other thread; `next_chunk` on the loop. A body that
failed (the client reset, a limit) raises `BodyError` to its reader once
what arrived before was read. `discard` is the app saying it is done: the
rest is dropped as it arrives (still recorded by the connection).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, Protocol

LIMIT = 1 << 20
"""Unread bytes a pipe holds before it pauses the socket; a spool's memory part."""
CHUNK = 64 * 1024


class BodyError(OSError):
    """The request body could not be read to its end (the client went, a limit)."""


class RequestBody(Protocol):
    def feed(self, data: bytes) -> None: ...
    def finish(self) -> None: ...
    def fail(self, why: str) -> None: ...
    def discard(self) -> None: ...
    def read(self, size: int = -1) -> bytes: ...
    def readline(self, size: int = -1) -> bytes: ...
    async def next_chunk(self) -> bytes | None: ...


class BodyPipe:
    """The body as it arrives, bounded: the socket pauses while the app is behind."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pause: Callable[[bool], None]) -> None:
        self._loop = loop
        self._pause = pause
        """Pause (True) or resume (False) reading the socket; called on the loop."""
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: str | None = None
        self._discarding = False
        self._paused = False
        self._cond = threading.Condition()
        self._ready = asyncio.Event()
        self._leftover = b""
        """The part of a chunk a reader took but did not return (readline)."""

    # -- the loop's side ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        with self._cond:
            if self._discarding or self._error is not None:
                return
            self._chunks.append(data)
            self._buffered += len(data)
            over = self._buffered > LIMIT
            self._cond.notify_all()
        self._ready.set()
        if over and not self._paused:
            self._paused = True
            self._pause(True)

    def finish(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()
        self._ready.set()

    def fail(self, why: str) -> None:
        with self._cond:
            if self._done or self._discarding:
                return
            self._error = why
            self._cond.notify_all()
        self._ready.set()
        self._resume()

    def discard(self) -> None:
        with self._cond:
            self._discarding = True
            self._chunks.clear()
            self._buffered = 0
            self._cond.notify_all()
        self._ready.set()
        self._resume()

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            self._pause(False)

    # -- a worker thread's side (WSGI) ---------------------------------------------------

    def _take(self, size: int) -> bytes:
        """At least one byte and at most `size` (-1: a whole chunk), or b"" at the end."""
        if self._leftover:
            data = self._leftover if size < 0 else self._leftover[:size]
            self._leftover = self._leftover[len(data) :]
            return data
        with self._cond:
            while not self._chunks and not self._ended():
                self._cond.wait()
            if not self._chunks:
                if self._error is not None and not self._discarding:
                    raise BodyError(f"request body cut short: {self._error}")
                return b""
            data = self._chunks.popleft()
            self._buffered -= len(data)
            wake = self._paused and self._buffered <= LIMIT // 2
        if wake:
            self._loop.call_soon_threadsafe(self._resume)
        if 0 <= size < len(data):
            data, self._leftover = data[:size], data[size:]
        return data

    def _ended(self) -> bool:
        return self._done or self._discarding or self._error is not None

    def read(self, size: int = -1) -> bytes:
        """Like a file: `size` bytes, fewer only at the end; all of it when size < 0."""
        parts: list[bytes] = []
        wanted = size
        while wanted != 0:
            data = self._take(-1 if wanted < 0 else wanted)
            if not data:
                break
            parts.append(data)
            if wanted > 0:
                wanted -= len(data)
        return b"".join(parts)

    def readline(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        length = 0
        while size < 0 or length < size:
            data = self._take(-1 if size < 0 else size - length)
            if not data:
                break
            end = data.find(b"\n")
            if end != -1:
                self._leftover = data[end + 1 :] + self._leftover
                data = data[: end + 1]
            parts.append(data)
            length += len(data)
            if end != -1:
                break
        return b"".join(parts)

    # -- the loop's readers (ASGI) --------------------------------------------------

    async def next_chunk(self) -> bytes | None:
        """What arrived since the last call (at least a byte), or None at the end."""
        while True:
            with self._cond:
                if self._chunks:
                    data = b"".join(self._chunks)
                    self._chunks.clear()
                    self._buffered = 0
                    break
                if self._error is not None and not self._discarding:
                    raise BodyError(f"request body cut short: {self._error}")
                if self._done or self._discarding:
                    return None
                self._ready.clear()
            await self._ready.wait()
        self._resume()
        return data


class SpooledBody:
    """A whole body kept for later: in memory up to LIMIT, then in a temporary file.

    The file is made at the first byte: most requests have no body.
    """

    def __init__(self, data: bytes = b"") -> None:
        self._file: IO[bytes] | None = None
        self._error: str | None = None
        self._done = False
        if data:
            self.feed(data)

    def feed(self, data: bytes) -> None:
        if not self._done and self._error is None:
            if self._file is None:
                self._file = tempfile.SpooledTemporaryFile(max_size=LIMIT)  # noqa: SIM115 (closed by discard)
            self._file.write(data)

    def finish(self) -> None:
        if not self._done:
            self._done = True
            if self._file is not None:
                self._file.seek(0)

    def fail(self, why: str) -> None:
        if not self._done:
            self._error = why
            self.discard()

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()

    def _check(self) -> IO[bytes] | None:
        if self._error is not None:
            raise BodyError(f"request body cut short: {self._error}")
        if not self._done:
            self.finish()
        file = self._file
        return file if file is not None and not file.closed else None

    def read(self, size: int = -1) -> bytes:
        file = self._check()
        return file.read(size) if file is not None else b""

    def readline(self, size: int = -1) -> bytes:
        file = self._check()
        return file.readline(size) if file is not None else b""

    async def next_chunk(self) -> bytes | None:
        data = self.read(CHUNK)
        return data or None
