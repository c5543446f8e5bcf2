"""Follow one TCP connection packet by packet: relative numbers, marks, both states.

Sans-I/O: `TcpPacket` values go in, `Step` values come out. The capture layer
decodes packets and matches them to connections; this module only reads them.
`explain()` turns a step into the one plain sentence the ladder diagram shows.
"""

# The rules the tracker follows (read before changing anything below):
#
# - The client is the endpoint passed as `client`; `pick_client()` picks the one
#   that sent the first SYN. A packet not between the two endpoints is ignored.
# - Numbers are relative, modulo 2**32: seq to the sender's initial sequence
#   number (ISN), so a SYN is 0 and the first data byte 1; ack to the receiver's
#   ISN, so "ack 79" means "I have bytes up to 78, send 79 next".
# - Every packet seen is assumed to arrive. It moves its sender to the state it
#   must be in to have sent it, then moves the receiver as RFC 9293 says it
#   reacts on arrival: to the ACK first, then to the FIN.
# - Exception: a SYN leaves the server in LISTEN. Only its SYN-ACK proves that it
#   accepted; a closed port answers RST, a full backlog answers nothing.
# - A FIN that does not acknowledge the other side's FIN crossed it on the wire:
#   a simultaneous close, both sides go to CLOSING, then TIME_WAIT.
# - A RST closes both sides at once.
# - A capture that starts mid-connection (first packet neither SYN nor SYN-ACK):
#   the first seq seen from a side, and the first ack towards it, are byte 1,
#   and both states are "?" until a FIN or RST makes them certain.
# - Marks simplify Wireshark's analysis: a keep-alive is 0 or 1 byte one below
#   the sender's next seq; a segment behind the sender's highest seq is a
#   retransmission, unless it fills a hole left by a later segment (out of
#   order); an empty segment repeating the sender's seq and ack is a window
#   update when the window changed, else a duplicate ACK if data is outstanding.
# - Loopback: an unfiltered capture on `lo` sees every packet twice. A packet
#   equal in direction, flags, seq, ack, window and length to one seen within
#   1 ms is that copy: dropped, and the original step is marked `duplicate`.
# - Window scaling (RFC 7323): a side's window field is shifted by the scale its
#   own SYN announced, only when both SYNs carried the option; never in a SYN.
#   Marks compare raw fields. Without both SYNs seen, windows stay raw.
# - Not modelled: simultaneous open, SACK. A SYN with a new ISN (port reuse)
#   starts the tracking over.

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from netbench.model import Endpoint, TcpPacket
from netbench.protocol.tcp_decode import window_scale
from netbench.protocol.tcp_order import causal_order

# fmt: off
TcpState = Literal[
    "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT", "?",
]
"""RFC 9293 state names, plus "?" for not known (capture started mid-connection)."""

Mark = Literal[
    "retransmission", "out-of-order", "zero-window", "window-update", "dup-ack",
    "keep-alive", "rst", "syn-retransmission",
]
# fmt: on

DUPLICATE_WINDOW = 0.001
"""Seconds within which an identical packet is a loopback copy, not a resend."""

_MOD = 1 << 32
_MAX_HOLES = 32

# How the receiver reacts when a packet acknowledges its FIN, then when a packet carries a FIN.
# fmt: off
_AFTER_ACK_OF_FIN: dict[TcpState, TcpState] = {
    "FIN_WAIT_1": "FIN_WAIT_2", "CLOSING": "TIME_WAIT", "LAST_ACK": "CLOSED",
}
_AFTER_FIN: dict[TcpState, TcpState] = {
    "ESTABLISHED": "CLOSE_WAIT", "SYN_RECEIVED": "CLOSE_WAIT", "?": "CLOSE_WAIT",
    "FIN_WAIT_1": "CLOSING", "FIN_WAIT_2": "TIME_WAIT",
}
# fmt: on


class Side(enum.Enum):
    CLIENT = "client"
    SERVER = "server"

    @property
    def other(self) -> Side:
        return Side.SERVER if self is Side.CLIENT else Side.CLIENT


class Step(NamedTuple):
    """One packet of the connection, read in context."""

    number: int
    """Position among the connection's steps (in `TcpTracker.steps`), from 0."""
    packet: TcpPacket
    sender: Side
    rel_seq: int
    """seq relative to the sender's ISN: the SYN is 0, the first data byte 1."""
    rel_ack: int | None
    """ack relative to the receiver's ISN; None when the ACK flag is not set."""
    dt: float
    """Seconds since the connection's first packet."""
    marks: frozenset[Mark]
    client_state: TcpState
    """The client's state after this packet arrived."""
    server_state: TcpState
    duplicate: bool = False
    """A loopback copy of this packet was seen and dropped."""
    window: int = 0
    """The receive window in bytes: the raw field, shifted by the sender's window
    scale once both SYNs agreed on scaling (RFC 7323), as Wireshark shows it."""


@dataclass(slots=True)
class _Half:
    """What the tracker knows about one side's sending direction."""

    state: TcpState
    isn: int | None = None
    next_rel: int | None = None
    """One past the highest relative seq sent; SYN and FIN count one each."""
    fin_rel: int | None = None
    """Relative seq of this side's FIN, once sent."""
    syn_sent: bool = False
    last: tuple[int, int | None, int] | None = None
    """(rel_seq, rel_ack, window) of this side's previous packet."""
    holes: list[tuple[int, int]] = field(default_factory=list)
    """Relative ranges skipped by a later segment, not seen yet."""
    wscale: int | None = None
    """The window scale shift its SYN announced; None: no option (or no SYN seen)."""


def _fresh() -> dict[Side, _Half]:
    return {Side.CLIENT: _Half("CLOSED"), Side.SERVER: _Half("LISTEN")}


class TcpTracker:
    """Tracks one connection (one 4-tuple) from the packets fed to it, in capture order.

    When the first packet is neither a SYN nor a SYN-ACK the capture started
    mid-connection: ISNs are inferred from the first packet of each side (its
    first seq, and the first ack towards it, read as relative 1) and both states
    are "?" until a FIN or RST makes them certain.
    """

    def __init__(self, client: Endpoint, server: Endpoint, *, keep_steps: bool = True) -> None:
        self.client = client
        self.server = server
        self.steps: list[Step] = []
        """Every accepted packet, in order; an entry is replaced when its loopback copy arrives.
        Empty with `keep_steps=False` (a printer of endless connections reads `feed`'s result)."""
        self.keep_steps = keep_steps
        self._count = 0
        self._halves = _fresh()
        self._t0: float | None = None
        self._recent: deque[tuple[float, tuple[object, ...], int]] = deque()

    def feed(self, packet: TcpPacket) -> Step | None:
        """Read one packet; None when it is not of this connection or is a loopback copy."""
        if (packet.src, packet.dst) == (self.client, self.server):
            sender = Side.CLIENT
        elif (packet.src, packet.dst) == (self.server, self.client):
            sender = Side.SERVER
        else:
            return None
        if self._is_copy(sender, packet):
            return None
        if self._t0 is None:
            self._t0 = packet.t
            if "S" not in packet.flags:
                for half in self._halves.values():
                    half.state = "?"
        step = self._read(sender, packet, self._t0)
        self._count += 1
        if self.keep_steps:
            self.steps.append(step)
        self._recent.append((packet.t, _copy_key(sender, packet), step.number))
        return step

    def _is_copy(self, sender: Side, packet: TcpPacket) -> bool:
        while self._recent and self._recent[0][0] < packet.t - DUPLICATE_WINDOW:
            self._recent.popleft()
        key = _copy_key(sender, packet)
        for t, seen, index in self._recent:
            if seen == key and abs(packet.t - t) <= DUPLICATE_WINDOW:
                if self.keep_steps:
                    self.steps[index] = self.steps[index]._replace(duplicate=True)
                return True
        return False

    def _read(self, sender: Side, packet: TcpPacket, t0: float) -> Step:
        flags = packet.flags
        syn, fin, rst, has_ack = ("S" in flags, "F" in flags, "R" in flags, "A" in flags)
        me = self._halves[sender]
        if syn and not has_ack and me.isn is not None and packet.seq != me.isn:
            self._halves = _fresh()
            me = self._halves[sender]
        peer = self._halves[sender.other]
        if me.isn is None:
            me.isn = packet.seq if syn else (packet.seq - 1) % _MOD
        rel_seq = (packet.seq - me.isn) % _MOD
        rel_ack: int | None = None
        if has_ack:
            if peer.isn is None:
                peer.isn = (packet.ack - 1) % _MOD
            rel_ack = (packet.ack - peer.isn) % _MOD

        if syn:
            me.wscale = window_scale(packet.frame, packet.linktype)
        window = packet.window
        if not syn and me.wscale is not None and peer.wscale is not None:
            window <<= me.wscale
        marks = _marks(me, peer, packet, rel_seq, rel_ack)
        new_fin = fin and me.fin_rel is None
        if new_fin:
            me.fin_rel = rel_seq + packet.payload_len
        _advance(me, peer, syn, new_fin, rst, rel_ack)
        if not rst:
            end = rel_seq + packet.payload_len + syn + fin
            me.next_rel = end if me.next_rel is None else max(me.next_rel, end)
            me.last = (rel_seq, rel_ack, packet.window)
            me.syn_sent = me.syn_sent or syn

        states = self._halves[Side.CLIENT].state, self._halves[Side.SERVER].state
        dt = packet.t - t0
        index = self._count
        return Step(
            index, packet, sender, rel_seq, rel_ack, dt, frozenset(marks), *states, False, window
        )


def _copy_key(sender: Side, packet: TcpPacket) -> tuple[object, ...]:
    return (sender, packet.flags, packet.seq, packet.ack, packet.window, packet.payload_len)


def _marks(
    me: _Half, peer: _Half, packet: TcpPacket, rel_seq: int, rel_ack: int | None
) -> set[Mark]:
    """What is unusual about this packet, judged before it advances `me` (holes excepted)."""
    if "R" in packet.flags:
        return {"rst"}
    if "S" in packet.flags:
        return {"syn-retransmission"} if me.syn_sent else set()
    fin = "F" in packet.flags
    marks: set[Mark] = set()
    length = packet.payload_len + fin
    nxt = me.next_rel
    if packet.window == 0:
        marks.add("zero-window")
    if nxt is not None and packet.payload_len <= 1 and not fin and rel_seq == nxt - 1:
        marks.add("keep-alive")
    elif nxt is not None and length > 0 and rel_seq < nxt:
        hole = next((h for h in me.holes if h[0] <= rel_seq < h[1]), None)
        if hole is None:
            marks.add("retransmission")
        else:
            marks.add("out-of-order")
            me.holes.remove(hole)
            end = rel_seq + length
            me.holes += [h for h in ((hole[0], rel_seq), (end, hole[1])) if h[0] < h[1]]
    elif nxt is not None and length > 0 and rel_seq > nxt:
        me.holes = [*me.holes, (nxt, rel_seq)][-_MAX_HOLES:]
    elif length == 0 and me.last is not None and me.last[:2] == (rel_seq, rel_ack):
        if packet.window != me.last[2]:
            if packet.window > 0:
                marks.add("window-update")
        elif rel_ack is not None and peer.next_rel is not None and rel_ack < peer.next_rel:
            marks.add("dup-ack")
    return marks


def _advance(
    me: _Half, peer: _Half, syn: bool, new_fin: bool, rst: bool, rel_ack: int | None
) -> None:
    """Move both sides' states for one packet sent by `me` (see the rules above)."""
    if rst:
        me.state = peer.state = "CLOSED"
        return
    if syn:
        if rel_ack is None:
            if me.state in ("CLOSED", "?"):
                me.state = "SYN_SENT"
            return
        if me.state in ("LISTEN", "CLOSED", "?"):
            me.state = "SYN_RECEIVED"
        if peer.state in ("SYN_SENT", "CLOSED", "?"):
            peer.state = "ESTABLISHED"
        return
    acks_peer_fin = rel_ack is not None and peer.fin_rel is not None and rel_ack > peer.fin_rel
    if new_fin:
        if me.state in ("ESTABLISHED", "SYN_RECEIVED", "?"):
            me.state = "FIN_WAIT_1"
        elif me.state == "CLOSE_WAIT":
            me.state = "LAST_ACK" if acks_peer_fin else "CLOSING"
    if peer.state == "SYN_RECEIVED" and rel_ack is not None and rel_ack >= 1:
        peer.state = "ESTABLISHED"
    elif acks_peer_fin:
        peer.state = _AFTER_ACK_OF_FIN.get(peer.state, peer.state)
    if new_fin:
        peer.state = _AFTER_FIN.get(peer.state, peer.state)


_FLAG_NAMES = (("S", "SYN"), ("F", "FIN"), ("R", "RST"), ("P", "PSH"), ("U", "URG"))
_FLAG_NAMES_LAST = (("E", "ECE"), ("C", "CWR"), ("A", "ACK"))


def flag_label(flags: str) -> str:
    """`SA` -> `SYN-ACK`, `PA` -> `PSH-ACK`, `FA` -> `FIN-ACK`, `R` -> `RST`."""
    names = [name for letter, name in (*_FLAG_NAMES, *_FLAG_NAMES_LAST) if letter in flags]
    return "-".join(names) or "no flags"


def track(packets: Iterable[TcpPacket], client: Endpoint, server: Endpoint) -> list[Step]:
    """The steps of one connection, from its packets in capture order (made causal first)."""
    tracker = TcpTracker(client, server)
    for packet in causal_order(packets):
        tracker.feed(packet)
    return tracker.steps


def pick_client(packets: Iterable[TcpPacket]) -> tuple[Endpoint, Endpoint] | None:
    """(client, server) of one connection's packets, or None when there are none.

    The client sent the first SYN (or received the first SYN-ACK). Without
    either, the server is the endpoint with the lower port: listening ports are
    usually below the ephemeral range (32768-60999 on Linux); on a tie, the
    first packet's sender is taken as the client.
    """
    first: TcpPacket | None = None
    for packet in packets:
        first = first or packet
        if "S" in packet.flags:
            return (packet.dst, packet.src) if "A" in packet.flags else (packet.src, packet.dst)
    if first is None:
        return None
    return (first.src, first.dst) if first.dst.port <= first.src.port else (first.dst, first.src)


def explain(step: Step, steps_before: Sequence[Step] = ()) -> str:
    """One plain sentence saying what `step` means; pass the steps before it for context."""
    p = step.packet
    me, peer = step.sender.value, step.sender.other.value
    n, seq, ack = p.payload_len, step.rel_seq, step.rel_ack
    prev = steps_before[-1] if steps_before else None
    my_state, peer_state = _states(step, step.sender)
    was_peers = _states(prev, step.sender)[1] if prev is not None else ""
    data = f"{n} bytes (seq {seq}-{seq + n - 1})"

    if "R" in p.flags:
        label = "RST-ACK" if "A" in p.flags else "RST"
        unanswered = prev is not None and (prev.client_state, prev.server_state) == (
            "SYN_SENT",
            "LISTEN",
        )
        if step.sender is Side.SERVER and unanswered:
            return (
                f"{label}: the server refuses the connection because nothing listens on port "
                f"{p.src.port}, so the client's connect fails with 'connection refused'."
            )
        return (
            f"{label}: the {me} aborts the connection at once (a reset, not a graceful close); "
            "both sides forget it and any data still in flight is lost."
        )
    if "S" in p.flags and ack is None:
        if "syn-retransmission" in step.marks:
            first = next((s for s in steps_before if s.sender is step.sender), None)
            waited = f" after {step.dt - first.dt:.1f} s" if first else ""
            return (
                f"SYN again: the {me} got no answer{waited} and resends its SYN with the same "
                f"initial sequence number (the {peer} may be overloaded, its queue of pending "
                "connections full, or a firewall dropping packets)."
            )
        return (
            f"SYN: the {me} asks to open a connection to port {p.dst.port} and picks its initial "
            f"sequence number (ISN {p.seq}); relative seq 0."
        )
    if "S" in p.flags:
        if "syn-retransmission" in step.marks:
            return f"SYN-ACK again: the {me} resends its SYN-ACK because the {peer}'s final ACK has not arrived."
        return (
            f"SYN-ACK: the {me} agrees and picks its own initial sequence number (ISN {p.seq}); "
            f"its ack {ack} is the {peer}'s ISN + 1."
        )
    if "F" in p.flags:
        sends = f"sends its last {data} and " if n else ""
        if "retransmission" in step.marks:
            return f"FIN again: the {me} resends its FIN because no acknowledgement came back."
        if my_state == "CLOSING":
            return (
                f"FIN: the {me} {sends}closes at the same moment as the {peer}; the two FINs "
                "crossed on the wire (a simultaneous close), so each side waits in CLOSING "
                "for the other's acknowledgement."
            )
        if my_state == "LAST_ACK":
            also = f"; the {peer}, whose FIN this acknowledges, enters TIME_WAIT"
            return (
                f"FIN: the {me} {sends}closes its side too, after the {peer}'s FIN, and waits in "
                f"LAST_ACK for the {peer}'s last acknowledgement"
                f"{also if peer_state == 'TIME_WAIT' else ''}."
            )
        if my_state == "FIN_WAIT_1":
            return (
                f"FIN: the {me} {sends}closes first, as it has nothing more to send (the active "
                f"close); the {peer} may still send data until it closes too (a half-close)."
            )
        return f"FIN: the {me} {sends}has finished sending and closes its side of the connection."
    if "keep-alive" in step.marks:
        idle = f"has heard nothing for {step.dt - prev.dt:.1f} s and " if prev else ""
        return (
            f"Keep-alive: the {me} {idle}sends an empty probe (seq {seq}, one below its next "
            f"byte) to check that the {peer} is still there; a live {peer} answers with an ACK."
        )
    if "retransmission" in step.marks:
        return (
            f"Retransmission: the {me} resends {data} that the {peer} has not acknowledged; "
            "the first copy or its acknowledgement was probably lost."
        )
    if "out-of-order" in step.marks:
        return (
            f"Out of order: the {me}'s {data} arrive after later bytes, so the {peer} must put "
            "them back in order before its application can read them."
        )
    if "zero-window" in step.marks:
        return (
            f"Zero window: the {me}'s receive buffer is full (window 0), usually because its "
            f"application is not reading, so the {peer} must stop sending and wait."
        )
    if "window-update" in step.marks:
        return (
            f"Window update: the {me} has made room in its receive buffer and announces a "
            f"non-zero window again (window field {p.window}), so the {peer} may send again."
        )
    if "dup-ack" in step.marks:
        return (
            f"Duplicate ACK: the {me} again asks for byte {ack} (ack {ack}), a sign that a "
            f"segment from the {peer} went missing; after three of these the {peer} resends it."
        )
    if n:
        return f"Data: the {me} sends {data}; the {peer} will acknowledge {seq + n}."
    if ack is None:
        return f"Segment: the {me} sends flags {p.flags or 'none'} with no data (seq {seq})."
    fin_ack = f"ACK: the {me} acknowledges the {peer}'s FIN (ack {ack})"
    if (
        was_peers == "SYN_RECEIVED" if prev else (step.sender, seq, ack) == (Side.CLIENT, 1, 1)
    ) and (peer_state == "ESTABLISHED"):
        return (
            f"ACK: the {me} acknowledges the {peer}'s SYN (ack {ack}); the connection is now "
            "established on both sides (three-way handshake done)."
        )
    if prev is not None and "keep-alive" in prev.marks and prev.sender is not step.sender:
        return f"ACK: the {me} answers the keep-alive probe (ack {ack} again), showing the {peer} it is still there."
    if peer_state == "FIN_WAIT_2" and was_peers in ("FIN_WAIT_1", ""):
        return (
            f"{fin_ack}; the {peer} has closed its sending side, but the {me} may still "
            "send data before it closes too (a half-close)."
        )
    if peer_state == "CLOSED" and my_state == "TIME_WAIT":
        return (
            f"{fin_ack}, so the {peer} is fully closed; the {me}, which closed first, waits "
            "in TIME_WAIT (twice the maximum segment lifetime, 60 s on Linux) so that late "
            "packets cannot confuse a new connection on the same ports."
        )
    if peer_state == "TIME_WAIT" and was_peers in ("CLOSING", "") and my_state != "CLOSE_WAIT":
        return f"{fin_ack}; after the simultaneous close the {peer} waits in TIME_WAIT too."
    if ack > 1:
        return (
            f"ACK: the {me} confirms it has received the {peer}'s bytes up to {ack - 1} "
            f"(ack {ack}, the next byte it expects) and sends no data itself."
        )
    return f"ACK: the {me} acknowledges with no data; ack {ack} means it still expects byte {ack}."


def _states(step: Step, side: Side) -> tuple[str, str]:
    """(side's state, other side's state) after `step`."""
    if side is Side.CLIENT:
        return step.client_state, step.server_state
    return step.server_state, step.client_state
