"""Record engine events in a recorder process: SQLite off the servers' GIL.

`RecorderProcess` is a drop-in for `SessionWriter` on the event bus (open,
`__call__`, `lag`, `pause_with`, `next_ids`, `on_written`, `close`). The
writer itself runs in a child process (store/recorder_child.py), so building
rows and SQLite's inserts (~20 µs an exchange, measured) no longer take the
interpreter that answers requests or draws the screen.

Rules:
- `spawn()` starts the child and sends it `open` without waiting: its start
  (an interpreter, SQLite opening the file: ~0.1-0.2 s) overlaps the
  caller's own (the TUI's first frame); `open()` waits for the answer and
  raises what went wrong, spawning first if nobody did;
- on the engine's loop an event costs one deque append. Every
  `send_interval` what is queued is cut and encoded as one batch (plain
  tuples, marshal: store/recorder_wire.py) and written to the child's stdin.
  Once the engine's loop is known (`pause_with`) the loop does this itself,
  in a timer, writing without blocking (the rest waits, as events, for the
  pipe to drain, and the engine pauses while more than a few frames wait);
  before, and for
  callers without a loop, a sender thread does. Why the loop: a thread
  encoding beside a busy uvloop loop waited for the GIL long enough that the
  recorder fell behind and paused the engine 13 times in 4 s (p99 50-70 ms,
  against 6-14 ms on asyncio's loop); from the loop neither loop waits;
- durable is what the child said it committed: `written n` proves every
  event cut up to batch n is in the file. `lag()` is how long ago that cut
  was (0 while nothing waits), and the engine pauses past `lag_limit` as it
  does for the in-process writer (store/lag.py). A kill -9 of the engine's
  process loses only what was not yet cut and sent: the child writes what it
  received and leaves the recording unended, as readers expect of a kill;
- the child dying (killed, out of memory) is reported once through
  `on_error`, with its exit status and the last lines it wrote to stderr;
  the engine keeps serving and further events are dropped at the cost of one
  no-op call, as when the in-process writer fails;
- `close()` sends what is queued and `close`, and waits until the child has
  written everything and folded the WAL back: a closed session is complete.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from netbench.store.errors import StoreError
from netbench.store.lag import pause_while_behind
from netbench.store.recorder_wire import (
    encode_batch,
    frame,
    message,
    read_frame,
    split_by_bytes,
    write_frame,
)
from netbench.store.wal import WAL_LIMIT

if TYPE_CHECKING:
    import asyncio

STDERR_TAIL = 2000
"""Characters of the child's stderr kept for a report of its death."""
FRAME_BYTES = 1 << 20
"""Chunk bytes per frame at most (one 64 KiB recv more): a frame is copied whole."""
HEAVY_BYTES = 16 << 20
"""Chunk bytes cut at once past which the engine pauses (a bulk upload outrunning
the recorder), until a cut holds less than a tenth of it: memory stays flat."""
CLOSE_TIMEOUT = 120.0
"""Seconds `close()` waits for the child to finish writing before killing it."""


def _drop(event: object) -> None:
    """The subscriber once recording has stopped."""


class RecorderProcess:
    """An event-bus subscriber that records every event from another process."""

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = 0.03,
        send_interval: float = 0.01,
        on_error: Callable[[str], None] | None = None,
        argv: Sequence[str] = (),
        anchors: tuple[float, float] | None = None,
        backlog_limit: int = 50_000,
        backlog_bytes: int = 64 * 1024 * 1024,
        lag_limit: float = 0.1,
        wal_limit: int = WAL_LIMIT,
    ) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        """The child's commit cadence, and the lag below which a paused engine resumes."""
        self.send_interval = send_interval
        self.lag_limit = lag_limit
        """Seconds `lag()` may reach before the engine is paused: about what a
        kill -9 of either process may lose."""
        self.on_backlog: Callable[[bool], None] | None = None
        self.on_written: Callable[[], None] | None = None
        """Called after each commit that wrote rows, on a thread of ours (hop to your loop)."""
        self.skipped = 0
        self._settings = {
            "path": str(self.path),
            "flush_interval": flush_interval,
            "argv": list(argv),
            "anchors": list(anchors) if anchors else None,
            "backlog_limit": backlog_limit,
            "backlog_bytes": backlog_bytes,
            "wal_limit": wal_limit,
            "engine_pid": os.getpid(),
        }
        self._on_error = on_error
        self._queue: deque[object] = deque()
        self._push: Callable[[object], None] = self._queue.append
        self._lock = threading.Lock()
        self._cuts: deque[tuple[int, float]] = deque()
        """(batch number, monotonic() when it was cut) of batches sent, not yet committed."""
        self._durable = 0.0
        self._failed = False
        self._closed = False
        self._closing = False
        self._stop = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._spawn_error: StoreError | None = None
        self._opened = False
        self._threads: list[threading.Thread] = []
        self._stderr_tail = ""
        self._behind_reasons: set[str] = set()
        self._next_ids = (1, 1, 1)
        self._number = 0
        """The last batch number cut."""
        self._loop: asyncio.AbstractEventLoop | None = None
        """The engine's loop, once it sends (`pause_with`)."""
        self._handed_over = threading.Event()
        """Set by the sender thread as it stops: the loop sends from then on."""
        self._tick: asyncio.TimerHandle | None = None
        self._pending: deque[tuple[float, list[object]]] = deque()
        """(cut time, events) cut but not encoded yet (the loop's sending only)."""
        self._unsent = bytearray()
        """The part of one encoded frame the pipe did not take yet."""
        self._draining = False
        self._nonblocking = False

    # -- the caller's side ---------------------------------------------------

    def spawn(self) -> None:
        """Start the recorder and ask it to open the file, without waiting for
        its answer: its start (~0.1-0.2 s) overlaps the caller's own. `open()`
        waits for the answer and reports what went wrong. Safe to call twice."""
        if self._child is not None or self._spawn_error is not None:
            return
        if self._closed or self._closing:
            raise RuntimeError("RecorderProcess.spawn() called after close()")
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "netbench.store.recorder_child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # ctrl+c is the engine's to handle, not the recorder's
                close_fds=True,
            )
        except OSError as error:
            self._spawn_error = StoreError(f"cannot start the recorder process: {error}")
            return
        assert child.stdin is not None and child.stdout is not None and child.stderr is not None
        self._child = child
        self._start_thread(self._keep_stderr, child.stderr, "stderr")
        with contextlib.suppress(OSError):  # it died at once: open() hears so
            write_frame(child.stdin, message("open", self._settings))

    def open(self) -> None:
        """Spawn the recorder unless `spawn()` did, and wait until it has opened
        the file; StoreError (one line) if it cannot."""
        if self._opened or self._closed or self._closing:
            raise RuntimeError("RecorderProcess.open() called twice or after close()")
        self._opened = True
        self.spawn()
        child = self._child
        if child is None:
            self._closed, self._push = True, _drop
            assert self._spawn_error is not None
            raise self._spawn_error
        assert child.stdin is not None and child.stdout is not None
        reply = read_frame(child.stdout)
        if reply is None or reply[0] != "opened":
            why = reply[1] if reply is not None and reply[0] == "failed" else self._death()
            self._reap()
            raise StoreError(str(why))
        self._next_ids = tuple(reply[1])
        self._durable = time.monotonic()
        self._start_thread(self._send, child.stdin, "send")
        self._start_thread(self._receive, child.stdout, "receive")

    def __call__(self, event: object) -> None:
        """Queue an event; called on the event loop for every event."""
        self._push(event)

    def lag(self) -> float:
        """Seconds of traffic a crash now would lose (0 once not recording)."""
        if self._closed or self._failed:
            return 0.0
        return time.monotonic() - self._durable

    @property
    def closed(self) -> bool:
        return self._closed or self._failed

    def pause_with(self, loop: asyncio.AbstractEventLoop, pause: Callable[[bool], None]) -> None:
        """While the recorder is behind, call `pause(True)` on `loop`, `pause(False)`
        after; and send from `loop` from now on (call on it, after `open()`)."""
        pause_while_behind(self, loop, pause)
        if self._loop is None and self._opened and not self.closed:
            self._loop = loop
            self._tick = loop.call_later(self.send_interval, self._send_tick)

    def next_ids(self) -> tuple[int, int, int]:
        """The first free (server, connection, exchange) ids, as of `open()`."""
        return self._next_ids

    def close(self) -> None:
        """Send everything queued, wait until it is written, stop. Safe to call twice."""
        if self._closed:
            return
        self._closing = True
        self._stop.set()
        for thread in self._threads:
            if thread.name.endswith("send"):
                thread.join()
        if self._loop is not None:
            self._finish_from_loop()
        child = self._child
        if child is not None and not any(t.name.endswith("send") for t in self._threads):
            # Spawned, never opened (the app quit first): the child ends the recording.
            assert child.stdin is not None
            with contextlib.suppress(OSError, ValueError):
                write_frame(child.stdin, message("close"))
                child.stdin.close()
        if child is not None:
            try:
                child.wait(CLOSE_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                self._fail(f"the recorder did not finish within {CLOSE_TIMEOUT:.0f} s")
        for thread in self._threads:
            thread.join(5.0)
        self._closed = True
        self._push = _drop

    def __enter__(self) -> RecorderProcess:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the threads -----------------------------------------------------------

    def _start_thread(self, target: Callable[[Any], None], stream: IO[bytes], name: str) -> None:
        thread = threading.Thread(
            target=target, args=(stream,), name=f"netbench-recorder-{name}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _send(self, stream: IO[bytes]) -> None:
        cut = time.monotonic()
        handing_over = False
        try:
            while True:
                stopping = self._stop.wait(max(0.0, cut + self.send_interval - time.monotonic()))
                cut = time.monotonic()
                for part in self._take(cut):
                    write_frame(stream, self._encode(cut, part))
                if self._loop is not None and not stopping:
                    handing_over = True  # the loop sends from now on: stream stays open
                    return
                if stopping:
                    break
            write_frame(stream, message("close"))
        except (OSError, ValueError):
            pass  # the child is gone: _receive reports it
        finally:
            self._handed_over.set()
            if not handing_over:
                with contextlib.suppress(OSError):
                    stream.close()

    def _take(self, now: float) -> list[list[object]]:
        """What is queued, in parts of at most ~FRAME_BYTES of chunk data."""
        queue = self._queue
        count = len(queue)
        if not count:
            self._heavy(0)
            with self._lock:
                if not self._cuts and not self._pending:
                    self._durable = now  # nothing waits anywhere
            return []
        popleft = queue.popleft
        # popleft, not a swap: the loop may be appending this very moment.
        parts, size = split_by_bytes([popleft() for _ in range(count)], FRAME_BYTES)
        self._heavy(size)
        return parts

    def _encode(self, cut: float, part: list[object]) -> bytes:
        """One batch's payload, numbered, its cut time noted for `lag()`."""
        self._number += 1
        with self._lock:
            self._cuts.append((self._number, cut))
        return encode_batch(self._number, part)

    # -- sending from the engine's loop -------------------------------------------

    def _send_tick(self) -> None:
        loop = self._loop
        if loop is None or self._closing or self.closed:
            return
        if self._handed_over.is_set() and self._stdin() is not None:
            now = time.monotonic()
            parts = self._take(now)
            with self._lock:
                self._pending.extend((now, part) for part in parts)
            self._drain()
        self._tick = loop.call_later(self.send_interval, self._send_tick)

    def _drain(self) -> None:
        """Write what the pipe takes now, one encoded frame at a time (the rest
        waits as events, not copies); the remainder when it is writable again."""
        stdin, loop = self._stdin(), self._loop
        if stdin is None or loop is None:
            return
        fd = stdin.fileno()
        if not self._nonblocking:
            os.set_blocking(fd, False)
            self._nonblocking = True
        try:
            while self._unsent or self._pending:
                if not self._unsent:
                    cut, part = self._pending.popleft()
                    self._unsent += frame(self._encode(cut, part))
                written = os.write(fd, self._unsent)
                del self._unsent[:written]
                if self._unsent:
                    break  # the pipe is full
        except BlockingIOError:
            pass
        except OSError:
            self._unsent.clear()  # the child is gone: _receive reports it
            self._pending.clear()
        waiting = bool(self._unsent or self._pending)
        if waiting != self._draining:
            if waiting:
                loop.add_writer(fd, self._drain)
            else:
                loop.remove_writer(fd)
            self._draining = waiting
        # Past a few frames waiting, the engine stops reading until they are sent.
        if len(self._pending) > 4:
            self._behind("unsent", True)
        elif not waiting:
            self._behind("unsent", False)

    def _finish_from_loop(self) -> None:
        """At close: cancel the loop's sending and write the rest here, blocking."""
        if self._tick is not None:
            self._tick.cancel()
        stdin = self._stdin()
        if stdin is None:
            return
        with contextlib.suppress(Exception):  # the loop may be closed already
            if self._draining and self._loop is not None:
                self._loop.remove_writer(stdin.fileno())
        try:
            os.set_blocking(stdin.fileno(), True)
            stdin.write(bytes(self._unsent))
            self._unsent.clear()
            now = time.monotonic()
            self._pending.extend((now, part) for part in self._take(now))
            while self._pending:
                cut, part = self._pending.popleft()
                write_frame(stdin, self._encode(cut, part))
            write_frame(stdin, message("close"))
        except (OSError, ValueError):
            pass  # the child is gone: _receive reports it
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _stdin(self) -> IO[bytes] | None:
        child = self._child
        return None if child is None or child.stdin is None or child.stdin.closed else child.stdin

    def _heavy(self, size: int) -> None:
        if size > HEAVY_BYTES:
            self._behind("heavy", True)
        elif size < HEAVY_BYTES // 10:
            self._behind("heavy", False)

    def _behind(self, reason: str, now_behind: bool) -> None:
        """The child's backlog or our heavy cuts: `on_backlog` hears of either."""
        with self._lock:
            was = bool(self._behind_reasons)
            if now_behind:
                self._behind_reasons.add(reason)
            else:
                self._behind_reasons.discard(reason)
            changed = bool(self._behind_reasons) != was
        callback = self.on_backlog
        if changed and callback is not None:
            with contextlib.suppress(Exception):
                callback(not was)

    def _receive(self, stream: IO[bytes]) -> None:
        while (reply := read_frame(stream)) is not None:
            kind = reply[0]
            if kind == "written":
                self._committed(reply[1])
            elif kind == "backlog":
                self._behind("backlog", bool(reply[1]))
            elif kind == "error":
                self._fail(str(reply[1]))
            elif kind == "closed":
                self.skipped = int(reply[1])
                return
        self._fail(self._death())

    def _committed(self, number: int) -> None:
        with self._lock:
            cuts = self._cuts
            while cuts and cuts[0][0] <= number:
                self._durable = cuts.popleft()[1]
        callback = self.on_written
        if callback is not None:
            with contextlib.suppress(Exception):  # a view's bug must not stop the recording
                callback()

    def _keep_stderr(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            text = line.decode("utf-8", "replace")
            self._stderr_tail = (self._stderr_tail + text)[-STDERR_TAIL:]

    def _death(self) -> str:
        child = self._child
        status = None
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                status = child.wait(2.0)
        how = "still running" if status is None else _exit_status(status)
        last = self._stderr_tail.strip().splitlines()[-1:] or ["no message"]
        return f"the recorder process ended unexpectedly ({how}: {last[0][:200]})"

    def _reap(self) -> None:
        child = self._child
        if child is not None:
            with contextlib.suppress(OSError):
                child.kill()
            child.wait()
        self._closed = True
        self._push = _drop

    def _fail(self, why: str) -> None:
        if self._failed or self._closed:
            return
        self._failed = True
        self._push = _drop
        self._queue.clear()
        # Nothing is recorded any more: nothing to wait for.
        for reason in ("heavy", "unsent", "backlog"):
            self._behind(reason, False)
        if self._on_error is not None:
            with contextlib.suppress(Exception):
                self._on_error(f"cannot write to {self.path}: {why}")


def _exit_status(status: int) -> str:
    if status < 0:
        import signal

        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exit code {status}"
