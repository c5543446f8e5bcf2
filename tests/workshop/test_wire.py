"""Captured packets become ladder rows: only the lesson's, and all of them before a step ends.

Built packets, published as the capture publishes them (on the loop, in
batches): the races here are timing, which real capture hits only now and
then (tests/workshop/test_captured.py runs the real thing as root).
"""

from __future__ import annotations

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
