"""In-process capture on loopback: packets become `PacketCaptured` events.

The filter, and what it costs (FACTS: Python decodes ~3.5-7.5k packets/s and
sniffing all of a port's traffic halves a server's throughput while losing
most packets, whereas a SYN/FIN/RST filter costs nothing measurable):

    inbound and tcp and [(port A or port B) and] (SYN|FIN|RST set)

- control packets only, by default. A connection costs 4-5 packets whatever
  it carries (SYN, SYN-ACK, FIN, FIN or RST), so keep-alive traffic costs
  nothing and up to ~1,000 new connections/s are captured without loss;
- `inbound` because `lo` shows each packet twice (leaving and arriving) to a
  socket that listens to every protocol. The sockets here are bound to IPv4
  and IPv6 and see arrivals only (see frames.py); `inbound` states the same
  in the filter, so the copies could never reach Python either way;
- `capture_data=True` adds the data segments and pure ACKs of netbench's own
  server ports (never of anything else): the ladder then shows every segment,
  at ~6 µs of the GIL per segment (ring read and decode) on a thread shared
  with the servers. Use it to teach, not under load;
- frames are cut at 256 bytes (every header and the payload's first bytes);
- the kernel's drop counter is read twice a second and published as
  `CaptureStatus(dropped=N)` whenever it changes: nothing is lost silently.

Measured (bench/capture_cost.py, 2 cores, wrk -t1 -c10, recording on):
keep-alive 0.96-0.99x the capture-off requests/s (run-to-run noise); a new
connection per request at ~3,300/s, three times the design point, 0.75-0.89x.
At 1,000 new connections/s all 5,000 SYNs of a 5 s run were captured, none
dropped, for +9 points of server CPU (38% -> 47%).

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

from netbench.capture.decode import decode
from netbench.capture.frames import DEFAULT_SNAP, FrameSniffer, bpf_filter
from netbench.events import CaptureStatus, Event, PacketCaptured

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
        capture_data: bool = False,
        snap: int = DEFAULT_SNAP,
        batch_interval: float = 0.02,
        stats_interval: float = 0.5,
    ) -> None:
        self.ports = tuple(sorted(set(ports)))
        self.capture_data = capture_data and bool(self.ports)
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
        self._sniffer = FrameSniffer(
            interface,
            bpf_filter(self.ports, capture_data=self.capture_data),
            self._on_frame,
            snap=snap,
        )

    @property
    def detail(self) -> str:
        what = "TCP control packets (SYN/FIN/RST)"
        if self.capture_data:
            what += " and every segment of port " + ", ".join(map(str, self.ports))
        elif self.ports:
            what += " of port " + ", ".join(map(str, self.ports))
        return f"capturing {what} on {self.interface}, in-process"

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

    def _call(self, callback: object, *args: object) -> None:
        assert self._loop is not None and callable(callback)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self._loop.call_soon_threadsafe(callback, *args)

    def _on_frame(self, t: float, linktype: int, frame: bytes) -> None:
        """Sniffer thread: decode, queue, and make sure a flush is coming."""
        packet = decode(frame, t, linktype, self._snap)
        if packet is None:
            return
        self._pending.append(PacketCaptured(packet))
        if not self._armed:
            self._armed = True
            self._call(self._arm)
