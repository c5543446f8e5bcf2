"""Captured packets become ladder rows: only the lesson's, and all of them before a step ends.

Built packets, published as the capture publishes them (on the loop, in
batches): the races here are timing, which real capture hits only now and
then (tests/workshop/test_captured.py runs the real thing as root).
"""

from __future__ import annotations

import asyncio

from netbench.events import PacketCaptured
from netbench.model import Endpoint, TcpPacket
from netbench.workshop.wire import NO_PEER, CapturedPackets

HOST = "127.0.0.1"
LISTENER, CLIENT = 40000, 51948


def packet(src: int, dst: int, flags: str, *, host: str = HOST, t: float = 0.0) -> TcpPacket:
    return TcpPacket(t, Endpoint(host, src), Endpoint(HOST, dst), flags, 1, 1, 65535, 0, b"", b"")


NAMES = {
    ((HOST, LISTENER), NO_PEER): "listener",
    ((HOST, CLIENT), (HOST, LISTENER)): "client",
}


def test_only_packets_between_lesson_sockets_are_drawn() -> None:
    wire = CapturedPackets()
    for p in [
        packet(CLIENT, LISTENER, "A"),  # the lesson's
        packet(CLIENT, 39231, "S"),  # another program, from the client's port
        packet(33333, CLIENT, "A"),  # another program, to the client's port
        packet(CLIENT, LISTENER, "A", host="127.0.0.2"),  # same ports, another address
        packet(45678, LISTENER, "S"),  # a SYN to the listener: shown
        packet(LISTENER, 45678, "A"),  # but not the rest of a stranger's connection
    ]:
        wire.publish(PacketCaptured(p))
    rows = wire.take(NAMES)
    assert [(r.src, r.dst, r.flags) for r in rows] == [
        ("client", "listener", "A"),
        (":45678", "listener", "S"),
    ]


MARKER = 60000
BATCH = 0.02
"""The in-process capture publishes every ~20 ms (sniffer.py's batch_interval)."""


class Capture:
    """Publishes like the capture: each marker's RST one batch after its SYN."""

    def __init__(self, wire: CapturedPackets) -> None:
        self.wire = wire
        self.sent = 0

    def later(self, seconds: float, p: TcpPacket) -> None:
        asyncio.get_running_loop().call_later(seconds, self.wire.publish, PacketCaptured(p))

    def send_marker(self) -> int:
        self.sent += 1
        source = 50000 + self.sent
        self.later(BATCH, packet(MARKER, source, "RA"))
        return source


async def test_a_packet_listed_just_after_the_marker_is_still_the_steps() -> None:
    """The handshake's last ACK, a few µs behind the marker's RST, lands one batch later."""
    wire = CapturedPackets()
    wire.marker_port = MARKER
    capture = Capture(wire)
    capture.later(BATCH + 0.01, packet(CLIENT, LISTENER, "A"))
    await asyncio.wait_for(wire.settle(capture.send_marker), 2)
    assert [r.flags for r in wire.take(NAMES)] == ["A"]


async def test_a_late_marker_of_an_earlier_step_does_not_end_the_wait() -> None:
    wire = CapturedPackets()
    wire.marker_port = MARKER
    capture = Capture(wire)
    capture.later(0.001, packet(MARKER, 50999, "RA"))  # an earlier step's marker, late
    capture.later(0.01, packet(CLIENT, LISTENER, "A"))
    await asyncio.wait_for(wire.settle(capture.send_marker), 2)
    assert [r.flags for r in wire.take(NAMES)] == ["A"]
