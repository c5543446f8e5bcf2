"""Captured packets, turned into the lesson's ladder rows.

`CapturedPackets` is the publisher a capture (`netbench.capture.start_capture`)
publishes to: it keeps the TCP segments between the lesson's sockets, and
hands each step the ones that arrived since the step before, named after
the lesson's sockets, with sequence numbers relative to each side's SYN
(as Wireshark shows them).
"""

from __future__ import annotations

import asyncio
import time

from netbench.events import CaptureStatus, Event, PacketCaptured
from netbench.model import TcpPacket
from netbench.workshop.results import WirePacket

SETTLE_QUIET = 0.06
"""Seconds without a new packet after which a step's packets are all in."""
SETTLE_MAX = 0.5


class CapturedPackets:
    def __init__(self) -> None:
        self.packets: list[TcpPacket] = []
        self.status: str | None = None
        self.running = False
        self._taken = 0
        self._wall0 = time.time()
        self._isn: dict[tuple[int, int], int] = {}
        self._last_arrival = 0.0

    def begin(self, wall0: float) -> None:
        """A new run of the lesson: forget the packets of the last one."""
        self._wall0 = wall0
        self._taken = len(self.packets)
        self._isn.clear()

    def publish(self, event: Event) -> None:
        if type(event) is PacketCaptured:
            self.packets.append(event.packet)
            self._last_arrival = time.monotonic()
        elif isinstance(event, CaptureStatus):
            self.status = event.detail
            self.running = event.running

    async def settle(self) -> None:
        """Wait until the step's packets have arrived: quiet for a moment, bounded."""
        start = time.monotonic()
        await asyncio.sleep(SETTLE_QUIET)
        while time.monotonic() - start < SETTLE_MAX:
            if time.monotonic() - self._last_arrival >= SETTLE_QUIET:
                return
            await asyncio.sleep(0.01)

    def take(self, names: dict[tuple[int, int], str]) -> list[WirePacket]:
        """The lesson's packets since the last call, as ladder rows."""
        fresh = self.packets[self._taken :]
        self._taken = len(self.packets)
        ports = {port for pair in names for port in pair if port}
        rows: list[WirePacket] = []
        for packet in fresh:
            sport, dport = packet.src.port, packet.dst.port
            if sport not in ports and dport not in ports:
                continue
            rows.append(self._row(packet, names))
        return rows

    def _row(self, packet: TcpPacket, names: dict[tuple[int, int], str]) -> WirePacket:
        sport, dport = packet.src.port, packet.dst.port
        if "S" in packet.flags:
            self._isn[(sport, dport)] = packet.seq
        mine, theirs = self._isn.get((sport, dport)), self._isn.get((dport, sport))
        seq = (packet.seq - mine) % 2**32 if mine is not None else None
        ack = (packet.ack - theirs) % 2**32 if theirs is not None and "A" in packet.flags else None
        note = ""
        if packet.flags == "S" and mine is not None and packet.seq == mine:
            earlier = [p for p in self.packets[: self._taken] if p.src == packet.src]
            if sum(1 for p in earlier if p.flags == "S" and p.dst == packet.dst) > 1:
                note = "SYN retransmitted"
        return WirePacket(
            packet.t - self._wall0,
            _name(names, sport, dport),
            _name(names, dport, sport),
            packet.flags,
            seq,
            ack,
            packet.payload_len,
            packet.window,
            "captured",
            note,
        )


def _name(names: dict[tuple[int, int], str], local: int, remote: int) -> str:
    return names.get((local, remote)) or names.get((local, 0)) or f":{local}"
