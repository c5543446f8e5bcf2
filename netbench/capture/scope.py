"""Keep only the packets of netbench's own connections, when the kernel cannot.

The TUI captures every TCP port on loopback (its clients may aim anywhere,
its servers come and go), so the kernel filter lets through the handshakes
of every program on the machine. `OwnPackets` stands between the capture and
the engine's bus: a packet goes on only if one of its ports is a netbench
server's or the local port of a netbench client connection. Nothing else is
recorded, shown or exported: a session holds this user's traffic, not the
machine's.

A client's SYN is captured before its connection exists for the engine (the
engine hears of it once the handshake is done), so a packet that matches no
port yet waits up to `HOLD` seconds for a connection to claim it, then is
dropped. The wait list is bounded: a flood of foreign connections costs a
fixed amount of memory.
"""

from __future__ import annotations

import time
from collections import deque

from netbench.capture.sniffer import Publisher
from netbench.events import ConnectionOpened, Event, PacketCaptured, ServerStarted
from netbench.model import Role, Transport

HOLD = 2.0
"""Seconds an unclaimed packet waits for its connection to be announced."""
MAX_WAITING = 4096


class OwnPackets:
    """A Publisher for the capture and a subscriber of the bus (both on the loop)."""

    FOLLOWS = (ServerStarted, ConnectionOpened)
    """The engine events it needs (subscribe with `kinds=FOLLOWS`): the ports
    of netbench's servers and clients."""

    def __init__(self, bus: Publisher) -> None:
        self._bus = bus
        self.ports: set[int] = set()
        self._waiting: deque[tuple[float, PacketCaptured]] = deque(maxlen=MAX_WAITING)

    # -- the capture publishes here ------------------------------------------------

    def publish(self, event: Event) -> None:
        if type(event) is not PacketCaptured:
            self._bus.publish(event)  # statuses and the rest go straight on
            return
        assert isinstance(event, PacketCaptured)
        packet = event.packet
        if packet.src.port in self.ports or packet.dst.port in self.ports:
            self._bus.publish(event)
            return
        now = time.monotonic()
        waiting = self._waiting
        while waiting and now - waiting[0][0] > HOLD:
            waiting.popleft()
        waiting.append((now, event))

    # -- the engine's events, to learn netbench's ports -----------------------------

    def __call__(self, event: Event) -> None:
        kind = type(event)
        if kind is ServerStarted:
            assert isinstance(event, ServerStarted)
            if event.transport is Transport.TCP:
                self._claim(event.address.port)
        elif kind is ConnectionOpened:
            assert isinstance(event, ConnectionOpened)
            if event.role is Role.CLIENT and event.transport is Transport.TCP:
                self._claim(event.local.port)

    def _claim(self, port: int) -> None:
        if port in self.ports:
            return
        self.ports.add(port)
        if not self._waiting:
            return
        still: deque[tuple[float, PacketCaptured]] = deque(maxlen=MAX_WAITING)
        for since, event in self._waiting:
            packet = event.packet
            if packet.src.port == port or packet.dst.port == port:
                self._bus.publish(event)
            else:
                still.append((since, event))
        self._waiting = still
