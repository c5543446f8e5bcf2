"""The packets a socket call causes, when none could be captured: inferred, and labelled so.

Without root, CAP_NET_RAW or the capture agent nothing can see the wire, but
TCP's rules say which segments a call makes (RFC 9293), and the kernel's
counters (`tcp_info`'s segs_out, data_segs_out, total_retrans, probes)
confirm how many there were. Every packet built here has source "inferred"
and a note saying what it rests on; relative sequence numbers come from the
bytes each socket sent (the SYN and the FIN each take one).

Rules: pure (no I/O); an inference is only made for what the call certainly
causes on loopback (no loss, no reordering); what only the kernel knows
(how a write was cut into segments) is said in the note, not drawn.
"""

from __future__ import annotations

from collections.abc import Mapping

from netbench.protocol.tcp_info import TcpInfo
from netbench.workshop.results import SocketRow, WirePacket

Readings = Mapping[str, SocketRow]


class Inferrer:
    """Keeps each socket's next relative sequence number across the lesson's steps."""

    def __init__(self) -> None:
        self.next_seq: dict[str, int] = {}
        self.fin_sent: set[str] = set()

    def packets(
        self,
        action: str,
        actor: str,
        peer: str | None,
        t: float,
        *,
        error: str | None,
        sent: int,
        before: Readings,
        after: Readings,
        unread_before: int,
        received: int = 0,
        peer_is_lesson_socket: bool = True,
        peers: Mapping[str, str | None] | None = None,
        rounds: list[tuple[int, list[int], float]] | None = None,
    ) -> list[WirePacket]:
        """What `actor`'s call `action` put on the wire (`sent`: bytes it wrote).

        `received`: bytes an HTTP step read from a peer that is not one of the
        lesson's own sockets (one of netbench's servers), whose writes are no
        step of their own.
        """
        me, other = actor, peer or "peer"
        packets = self._by_action(action, me, other, t, error, sent, before, after, unread_before)
        if action in ("http_request", "http_read") and received and not peer_is_lesson_socket:
            seq = self.next_seq.get(other, 1)
            self.next_seq[other] = seq + received
            packets.append(
                WirePacket(t, other, me, "PA", seq, self.next_seq.get(me), received, None,
                           "inferred", f"the server's response: {received} bytes")
            )  # fmt: skip
        if rounds:
            packets += self._rounds(me, other, t, rounds)
        if action not in ("close", "shutdown", "abort"):
            packets += self._peer_fins(t, before, after, peers or {})
        return packets

    def _by_action(
        self,
        action: str,
        me: str,
        other: str,
        t: float,
        error: str | None,
        sent: int,
        before: Readings,
        after: Readings,
        unread_before: int,
    ) -> list[WirePacket]:
        if action == "connect":
            return self._connect(me, other, t, error, after)
        if action in ("send", "fill", "http_request", "http_response") and sent:
            return self._data(me, other, t, sent, before, after)
        if action == "shutdown":
            return self._fin(me, other, t, "shutdown(SHUT_WR) sends a FIN")
        if action == "abort" or (action == "close" and unread_before):
            why = (
                "close() with SO_LINGER 0 sends a RST"
                if action == "abort"
                else f"close() with {unread_before} unread bytes sends a RST (RFC 9293 3.6)"
            )
            seq = self.next_seq.get(me)
            return [
                WirePacket(t, me, other, "RA", seq, self.next_seq.get(other), 0, 0, "inferred", why)
            ]
        if action == "close" and me not in self.fin_sent and me in self.next_seq:
            return self._fin(me, other, t, "close() sends a FIN")
        if action == "wait":
            return self._waited(t, before, after)
        return []

    def _connect(
        self, me: str, other: str, t: float, error: str | None, after: Readings
    ) -> list[WirePacket]:
        self.next_seq[me] = 1
        syn = WirePacket(t, me, other, "S", 0, None, 0, None, "inferred", "connect() sends a SYN")
        if error == "ConnectionRefusedError":
            return [syn, WirePacket(t, other, me, "RA", 0, 1, 0, 0, "inferred",
                                    "no listener on the port: the kernel answers RST")]  # fmt: skip
        state = after[me].state if me in after else ""
        if state == "SYN_SENT":
            return [syn]
        self.next_seq[other] = 1
        window = _info_field(after.get(me), "snd_wnd")
        return [
            syn,
            WirePacket(t, other, me, "SA", 0, 1, 0, window, "inferred",
                       "the listener's kernel answers SYN-ACK (no accept() needed)"),
            WirePacket(t, me, other, "A", 1, 1, 0, None, "inferred",
                       "connect() returns once this ACK leaves"),
        ]  # fmt: skip

    def _data(
        self, me: str, other: str, t: float, sent: int, before: Readings, after: Readings
    ) -> list[WirePacket]:
        seq = self.next_seq.get(me, 1)
        self.next_seq[me] = seq + sent
        segments = _delta(before, after, me, "data_segs_out")
        note = f"{sent} bytes written"
        if segments:
            note += f"; the kernel sent them in {segments} segment{'s' if segments > 1 else ''}"
        packets = [
            WirePacket(t, me, other, "PA", seq, self.next_seq.get(other), sent, None,
                       "inferred", note)
        ]  # fmt: skip
        acked = _info_field(after.get(me), "unacked")
        if acked == 0:
            packets.append(
                WirePacket(t, other, me, "A", self.next_seq.get(other), seq + sent, 0, None,
                           "inferred", "the peer's kernel acknowledged every byte (unacked is 0)")
            )  # fmt: skip
        return packets

    def _fin(self, me: str, other: str, t: float, why: str) -> list[WirePacket]:
        seq = self.next_seq.get(me, 1)
        self.next_seq[me] = seq + 1
        self.fin_sent.add(me)
        return [
            WirePacket(t, me, other, "FA", seq, self.next_seq.get(other), 0, None, "inferred", why),
            WirePacket(t, other, me, "A", self.next_seq.get(other), seq + 1, 0, None, "inferred",
                       "the peer's kernel acknowledges the FIN at once"),
        ]  # fmt: skip

    def _rounds(
        self, me: str, other: str, t: float, rounds: list[tuple[int, list[int], float]]
    ) -> list[WirePacket]:
        """Request/response rounds: each request, then each write of its response."""
        packets: list[WirePacket] = []
        for number, (request, pieces, ms) in enumerate(rounds, 1):
            packets.append(self._segment(t, me, other, request, f"round {number}: the request"))
            for index, piece in enumerate(pieces, 1):
                note = f"round {number}: write {index} of {len(pieces)} of the response"
                if index == len(pieces):
                    note += f" (the round took {ms:.1f} ms)"
                packets.append(self._segment(t, other, me, piece, note))
        return packets

    def _segment(self, t: float, src: str, dst: str, length: int, note: str) -> WirePacket:
        seq = self.next_seq.get(src, 1)
        self.next_seq[src] = seq + length
        return WirePacket(t, src, dst, "PA", seq, self.next_seq.get(dst), length, None,
                          "inferred", note)  # fmt: skip

    def _peer_fins(
        self, t: float, before: Readings, after: Readings, peers: Mapping[str, str | None]
    ) -> list[WirePacket]:
        """A socket that went from ESTABLISHED to CLOSE_WAIT received its peer's FIN."""
        packets: list[WirePacket] = []
        for name, row in after.items():
            old = before.get(name)
            if row.state == "CLOSE_WAIT" and old is not None and old.state == "ESTABLISHED":
                peer = peers.get(name) or row.remote or "peer"
                seq = self.next_seq.get(peer)
                if seq is not None:
                    self.next_seq[peer] = seq + 1
                packets += [
                    WirePacket(t, peer, name, "FA", seq, self.next_seq.get(name), 0, None,
                               "inferred", f"the peer closed: {name} is in CLOSE_WAIT now"),
                    WirePacket(t, name, peer, "A", self.next_seq.get(name),
                               None if seq is None else seq + 1, 0, None,
                               "inferred", "the FIN is acknowledged at once"),
                ]  # fmt: skip
        return packets

    def _waited(self, t: float, before: Readings, after: Readings) -> list[WirePacket]:
        packets: list[WirePacket] = []
        for name, row in after.items():
            retrans = _delta(before, after, name, "total_retrans")
            if retrans and row.state == "SYN_SENT":
                packets += [
                    WirePacket(t, name, "listener", "S", 0, None, 0, None, "inferred",
                               "SYN retransmitted (the kernel's total_retrans grew)")
                ] * retrans  # fmt: skip
            probes = _delta(before, after, name, "probes")
            if probes and row.state == "ESTABLISHED":
                packets += [
                    WirePacket(t, name, "peer", "A", None, None, 0, None, "inferred",
                               "zero-window probe (the kernel's probes counter grew)")
                ] * probes  # fmt: skip
        return packets


def _delta(before: Readings, after: Readings, name: str, field: str) -> int:
    new = _info_field(after.get(name), field)
    if new is None:
        return 0
    old = _info_field(before.get(name), field) or 0
    return max(0, new - old)


def _info_field(row: SocketRow | None, field: str) -> int | None:
    info: TcpInfo | None = row.info if row is not None else None
    if info is None:
        return None
    value = getattr(info, field)
    return value if isinstance(value, int) else None
