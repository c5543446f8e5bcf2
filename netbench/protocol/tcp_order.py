"""Put one connection's captured packets back in causal order.

A capture on loopback taps each packet as a CPU takes it off its backlog
queue. With several CPUs, a reply can be listed (and time-stamped) a few
microseconds before the packet it answers: the client's ACK of a FIN shown
before the FIN. The tracker reads packets in order, so it would explain an
ACK of bytes never sent. Rule: a packet whose ack covers sequence space the
other side has not yet been seen sending moves to just after the first of
the next few packets from that side which sends it, if that packet comes
within `WINDOW` seconds. Packets the capture lost (an ack past anything ever
captured) stay where they are: nothing is invented.
"""

from __future__ import annotations

from collections.abc import Iterable

from netbench.model import Endpoint, TcpPacket

WINDOW = 0.001
"""Seconds within which capture order may disagree with what caused what."""
LOOKAHEAD = 8
"""Packets searched ahead for the one an early ACK answers."""

_MOD = 1 << 32


def _after(a: int, b: int) -> bool:
    """Sequence number a is beyond b (serial arithmetic, RFC 1982)."""
    return 0 < (a - b) % _MOD < (1 << 31)


def _end(packet: TcpPacket) -> int:
    """The sequence number after what this packet sends (SYN and FIN count one)."""
    flags = packet.flags
    return (packet.seq + packet.payload_len + ("S" in flags) + ("F" in flags)) % _MOD


def causal_order(packets: Iterable[TcpPacket]) -> list[TcpPacket]:
    out = list(packets)
    sent: dict[Endpoint, int] = {}
    """Per sender, the end of the sequence space seen so far."""
    moves = 0
    index = 0
    while index < len(out):
        packet = out[index]
        peer_end = sent.get(packet.dst)
        if (
            "A" in packet.flags
            and peer_end is not None
            and _after(packet.ack, peer_end)
            and moves < len(out)
        ):
            answered = next(
                (
                    later
                    for later in range(index + 1, min(len(out), index + 1 + LOOKAHEAD))
                    if out[later].src == packet.dst
                    and not _after(packet.ack, _end(out[later]))
                    and out[later].t - packet.t <= WINDOW
                ),
                None,
            )
            if answered is not None:
                out.insert(answered, out.pop(index))  # now just after the packet it answers
                moves += 1
                continue
        if "R" not in packet.flags:
            end = _end(packet)
            seen = sent.get(packet.src)
            if seen is None or _after(end, seen):
                sent[packet.src] = end
        index += 1
    return out
