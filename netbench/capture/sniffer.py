"""In-process capture on loopback: packets become `PacketCaptured` events.

What the filter lets through, and what it costs (FACTS: Python decodes
~3.5-7.5k packets/s and sniffing all of a port's traffic halves a server's
throughput while losing most packets, whereas a control-packet filter costs
nothing measurable):

- control packets (SYN, FIN, RST, bare ACKs) of `ports` (empty: of every TCP
  connection on the interface). A connection costs ~7 packets whatever it
  carries, so keep-alive traffic costs nothing and up to ~1,000 new
  connections/s are captured without loss;
- data segments of `data_ports` (by default `ports`) while a connection is
  young: its first 32 data segments, within a budget (window.py has the
  rule and its reasons). A browser's or curl's exchanges are shown whole; a
  load test's connections turn old at once and cost nothing after;
- `inbound` because `lo` shows each packet twice (leaving and arriving) to a
  socket that listens to every protocol. The sockets here are bound to IPv4
  and IPv6 and see arrivals only (see frames.py); `inbound` states the same
  in the filter, so the copies could never reach Python either way;
- frames are cut at 256 bytes (every header and the payload's first bytes);
- the kernel's drop counter is read twice a second and published as
  `CaptureStatus(dropped=N)` whenever it changes: nothing is lost silently,
  and a pause of data capture is published the same way, with its reason.

Measured (bench/capture_cost.py, 2 cores, wrk -t1 -c10, recording on): see
docs/performance.md for the current figures.

Threads: the sniffer thread decodes and queues; the event loop publishes. One
callback is scheduled per ~20 ms batch, so a burst costs a few loop wakeups,
not one per packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Protocol

from netbench.capture.frames import DEFAULT_SNAP, FrameSniffer, WindowedFilter
from netbench.capture.window import YOUNG_SEGMENTS, DataWindow
from netbench.events import CaptureStatus, Event, PacketCaptured
from netbench.protocol.tcp_decode import decode

__all__ = ["LoopbackCapture", "Publisher"]


class Publisher(Protocol):
    """What capture needs of the engine context: its bus's `publish`, on the loop."""

    def publish(self, event: Event) -> None: ...


class LoopbackCapture:
    """Capture TCP packets on one interface and publish them on the engine's loop.

    `start()` and `stop()` are called on the loop thread; neither raises nor
    blocks for long. A failure to start is published as
    `CaptureStatus(running=False, detail=<problem and fix>)`.
    """

    def __init__(
        self,
        ctx: Publisher,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        interface: str = "lo",
        ports: Iterable[int] = (),
        data_ports: Iterable[int] | None = None,
        snap: int = DEFAULT_SNAP,
        batch_interval: float = 0.02,
        stats_interval: float = 0.5,
    ) -> None:
        self.ports = tuple(sorted(set(ports)))
        self.interface = interface
        self.batch_interval = batch_interval
        self.stats_interval = stats_interval
        self.running = False
        self.dropped = 0
        self._ctx = ctx
        self._loop = loop
        self._snap = snap
        self._pending: deque[PacketCaptured] = deque()
        self._armed = False
        self._stopped = False
        self._lock = threading.Lock()
        self._opener: threading.Thread | None = None
        self._stats: asyncio.TimerHandle | None = None
        window = DataWindow(self.ports, self.ports if data_ports is None else data_ports)
        self._sniffer = FrameSniffer(
            interface, window.filter(), self._on_frame, snap=snap, on_batch=self._after_batch
        )
        self._filter = WindowedFilter(self._sniffer, window)

    @property
    def detail(self) -> str:
        return f"{capturing(self.ports, self._filter)} on {self.interface}, in-process"

    def watch(self, ports: Iterable[int]) -> None:
        """Capture the young data segments of these ports from now on (loop thread)."""
        self._filter.watch(ports)
        self._say()  # the status names the watched ports

    def _say(self) -> None:
        if self.running and not self._stopped:
            self._ctx.publish(CaptureStatus(True, time.monotonic(), self.detail, self.dropped))

    # -- the loop's side -----------------------------------------------------

    def start(self) -> None:
        """Open the capture on a worker thread; returns at once."""
        if self._opener is not None or self._stopped:
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._opener = threading.Thread(
            target=self._open, name="netbench-capture-open", daemon=True
        )
        self._opener.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop capturing (bounded by `timeout`); publishes the final status. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._stats is not None:
            self._stats.cancel()
        if self._opener is not None:
            self._opener.join(timeout)
        self._sniffer.close(timeout)
        self._flush()
        if self.running:
            self.running = False
            self.dropped = self._sniffer.dropped
            self._ctx.publish(
                CaptureStatus(False, time.monotonic(), "capture stopped", self.dropped)
            )

    def _started(self) -> None:
        if self._stopped:
            return
        self.running = True
        self._ctx.publish(CaptureStatus(True, time.monotonic(), self.detail, 0))
        self._schedule_stats()

    def _failed(self, detail: str) -> None:
        if self._stopped:  # the user stopped it first: nothing more to say
            return
        self._ctx.publish(CaptureStatus(False, time.monotonic(), detail, 0))

    def _schedule_stats(self) -> None:
        assert self._loop is not None
        self._stats = self._loop.call_later(self.stats_interval, self._poll_stats)

    def _poll_stats(self) -> None:
        if self._stopped:
            return
        dropped = self._sniffer.read_drops()
        if self._filter.tick():
            self._say()
        if not self._sniffer.alive:
            self._flush()
            self._failed(f"capture stopped: the packet socket on {self.interface} failed")
            self.running = False
            return
        if dropped != self.dropped:
            self.dropped = dropped
            self._ctx.publish(CaptureStatus(True, time.monotonic(), self.detail, dropped))
        self._schedule_stats()

    def _arm(self) -> None:
        assert self._loop is not None
        self._loop.call_later(self.batch_interval, self._flush)

    def _flush(self) -> None:
        # Disarm before draining: a packet queued from now on arms a new flush.
        self._armed = False
        pending, publish = self._pending, self._ctx.publish
        while pending:
            publish(pending.popleft())

    # -- worker threads ----------------------------------------------------------

    def _open(self) -> None:
        from netbench.capture.preflight import preflight

        try:
            self._sniffer.open()
        except Exception as exc:
            problem = preflight(self.interface)
            detail = str(problem) if problem else f"cannot capture on {self.interface}: {exc}"
            self._call(self._failed, detail)
            return
        with self._lock:
            stopped = self._stopped
        if stopped:  # stop() ran while we were opening
            self._sniffer.close()
            return
        self._call(self._started)

    def _after_batch(self) -> None:
        """Sniffer thread, after each batch: follow the window; say when data pauses."""
        if self._filter.apply():
            self._call(self._say)

    def _call(self, callback: object, *args: object) -> None:
        assert self._loop is not None and callable(callback)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self._loop.call_soon_threadsafe(callback, *args)

    def _on_frame(self, t: float, linktype: int, frame: bytes) -> None:
        """Sniffer thread: decode, queue, and make sure a flush is coming."""
        packet = decode(frame, t, linktype, self._snap)
        if packet is None:
            return
        self._filter.observe(packet)
        self._pending.append(PacketCaptured(packet))
        if not self._armed:
            self._armed = True
            self._call(self._arm)


def capturing(ports: Iterable[int], window: WindowedFilter) -> str:
    """What a capture captures, in words, for its status line."""
    ports, data = tuple(ports), window.window.data_ports
    what = "capturing TCP control packets"
    if ports:
        what += " of port " + ", ".join(map(str, ports))
    if data:
        what += (
            f" and the first {YOUNG_SEGMENTS} data segments of each connection to port "
            + ", ".join(map(str, data))
        )
        if window.paused:
            what += f" ({window.paused})"
    return what
