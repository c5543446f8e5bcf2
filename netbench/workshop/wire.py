"""Captured packets, turned into the lesson's ladder rows.

`CapturedPackets` is the publisher a capture (`netbench.capture.start_capture`)
publishes to: it keeps the TCP segments between the lesson's sockets, and
hands each step the ones that arrived since the step before, named after
the lesson's sockets, with sequence numbers relative to each side's SYN
(as Wireshark shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from netbench.events import CaptureStatus, Event, PacketCaptured
from netbench.model import Endpoint, TcpPacket
from netbench.protocol.tcp_decode import window_scale
from netbench.workshop.results import WirePacket

SETTLE_MAX = 1.0
"""Seconds a step waits at most for its packets to come through the capture."""

Address = tuple[str, int]
NO_PEER: Address = ("", 0)
"""The remote address of a listener or server in `take`'s names."""

ZERO_WINDOW_PROBE = "zero-window probe"
"""The note of a captured segment that probes a closed window."""


class CapturedPackets:
    def __init__(self) -> None:
        self.packets: list[TcpPacket] = []
        self.status: str | None = None
        self.running = False
        self._taken = 0
        self._wall0 = time.time()
        self._isn: dict[tuple[int, int], int] = {}
        self._wscale: dict[tuple[int, int], int | None] = {}
        self._syns: dict[tuple[int, int], int] = {}
        self._acked: dict[tuple[int, int], tuple[int, int]] = {}
        """(sport, dport) -> the last (ack, scaled window) that side sent."""
        self.marker_port = 0
        """A bound, never-listening port: a SYN to it is refused, and the RST marks "all in"."""
        self._marker_from = 0
        """The source port of the marker SYN now awaited: only its RST ends the wait."""
        self._marker_seen = asyncio.Event()
        self.status_seen = asyncio.Event()
        """Set once capture said whether it runs."""

    def begin(self, wall0: float) -> None:
        """A new run of the lesson: forget the packets of the last one."""
        self._wall0 = wall0
        self._taken = len(self.packets)
        self._isn.clear()
        self._wscale.clear()
        self._syns.clear()
        self._acked.clear()

    def publish(self, event: Event) -> None:
        if type(event) is PacketCaptured:
            packet = event.packet
            if self.marker_port and self.marker_port in (packet.src.port, packet.dst.port):
                if "R" in packet.flags and packet.dst.port == self._marker_from:
                    self._marker_seen.set()
                return
            self.packets.append(packet)
        elif isinstance(event, CaptureStatus):
            self.status = event.detail
            self.running = event.running
            self.status_seen.set()

    async def settle(self, send_marker: Callable[[], int]) -> None:
        """Wait until the step's packets have come through the capture (bounded).

        Capture delivers packets in batches, later than the calls that caused
        them. A SYN to the marker port, sent after the step, is refused at once;
        once its RST has come through, so has everything the step sent before
        it. Only the RST answering this SYN counts: a late one from a step
        before (its wait timed out) ended the wait early. Packets on loopback
        may be listed a few microseconds out of order across CPUs, and one
        listed just after the RST comes a whole capture batch (~20 ms) later:
        a second marker, sent once the first came through, waits for it.
        """
        deadline = time.monotonic() + SETTLE_MAX
        for _ in range(2):
            self._marker_seen.clear()
            self._marker_from = send_marker()
            with contextlib.suppress(TimeoutError):
                left = max(0.0, deadline - time.monotonic())
                await asyncio.wait_for(self._marker_seen.wait(), left)

    def take(self, names: dict[tuple[Address, Address], str]) -> list[WirePacket]:
        """The lesson's packets since the last call, as ladder rows.

        `names` maps (local, remote) addresses to a socket's name, and
        (address, NO_PEER) for a listener or server. A packet is the lesson's
        when both its ends are a lesson connection, or when it is a SYN to a
        listener: sharing one port with a lesson socket is not enough (another
        program's connection from the client's port to elsewhere was drawn).
        """
        fresh = self.packets[self._taken :]
        self._taken = len(self.packets)
        listening = {local for local, remote in names if remote == NO_PEER}
        rows: list[WirePacket] = []
        for packet in fresh:
            src, dst = _address(packet.src), _address(packet.dst)
            ours = (src, dst) in names or (dst, src) in names
            if not ours and not (packet.flags == "S" and dst in listening):
                continue
            rows.append(self._row(packet, names))
        return rows

    def _row(self, packet: TcpPacket, names: dict[tuple[Address, Address], str]) -> WirePacket:
        sport, dport = packet.src.port, packet.dst.port
        window = packet.window
        if "S" in packet.flags:
            self._isn[(sport, dport)] = packet.seq
            self._wscale[(sport, dport)] = window_scale(packet.frame, packet.linktype)
        else:
            # RFC 7323: once both SYNs offered scaling, each side's window is shifted.
            mine_scale = self._wscale.get((sport, dport))
            theirs_scale = self._wscale.get((dport, sport))
            if mine_scale is not None and theirs_scale is not None:
                window <<= mine_scale
        mine, theirs = self._isn.get((sport, dport)), self._isn.get((dport, sport))
        seq = (packet.seq - mine) % 2**32 if mine is not None else None
        ack = (packet.ack - theirs) % 2**32 if theirs is not None and "A" in packet.flags else None
        note = ""
        if "S" in packet.flags:
            sent = self._syns[(sport, dport)] = self._syns.get((sport, dport), 0) + 1
            if sent > 1:
                note = f"{'SYN' if packet.flags == 'S' else 'SYN-ACK'} retransmitted"
        elif _probes_closed_window(packet, self._acked.get((dport, sport))):
            note = ZERO_WINDOW_PROBE
        if "A" in packet.flags:
            self._acked[(sport, dport)] = (packet.ack, window)
        return WirePacket(
            packet.t - self._wall0,
            _name(names, _address(packet.src), _address(packet.dst)),
            _name(names, _address(packet.dst), _address(packet.src)),
            packet.flags,
            seq,
            ack,
            packet.payload_len,
            window,
            "captured",
            note,
        )


def _probes_closed_window(packet: TcpPacket, peer_said: tuple[int, int] | None) -> bool:
    """A bare ACK one byte behind what the peer acknowledged, while its window is 0.

    Linux probes a closed window so (tcp_xmit_probe_skb): an old sequence
    number makes the peer answer with its current window.
    """
    if packet.flags != "A" or packet.payload_len or peer_said is None:
        return False
    ack, window = peer_said
    return window == 0 and packet.seq == (ack - 1) % 2**32


def _address(endpoint: Endpoint) -> Address:
    return (endpoint.host, endpoint.port)


def _name(names: dict[tuple[Address, Address], str], local: Address, remote: Address) -> str:
    return names.get((local, remote)) or names.get((local, NO_PEER)) or f":{local[1]}"
