"""What one workshop step showed: its packets, the kernel's sockets, the bytes so far.

Plain data shared by the TUI, the JSON lines of `netbench workshop run` and
the handout. Text that came off a socket is kept as bytes here; `as_json`
and the screens turn it into visible text (`textsafe`), never raw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from netbench.protocol.tcp_info import TcpInfo
from netbench.protocol.textsafe import visible

Source = Literal["captured", "inferred"]


class WirePacket(NamedTuple):
    """One TCP segment of the lesson, on the ladder between two named sockets."""

    t: float
    """Seconds since the lesson began."""
    src: str
    dst: str
    flags: str
    """As tcpdump writes them: S, SA, A, PA, FA, R, RA..."""
    seq: int | None
    """Relative to the sender's initial sequence number (None: not known)."""
    ack: int | None
    length: int
    window: int | None
    source: Source
    note: str = ""
    """Why it is there when inferred, or what it is ("retransmission", "zero-window probe")."""


class Check(NamedTuple):
    """One `expect` of the scenario against what the kernel said."""

    what: str
    expected: str
    actual: str
    ok: bool | None
    """None: not checkable here (a packet check without capture)."""
    says: str = "kernel says"
    """Who gave `actual` ("server answered" for an HTTP status), for the CLI's line."""


class SocketRow(NamedTuple):
    """One socket as the step's table shows it."""

    name: str
    role: str
    state: str
    local: str
    remote: str
    held: bool
    recv_queue: int | None
    send_queue: int | None
    accept_queue: int | None
    info: TcpInfo | None


class ChunkRow(NamedTuple):
    socket: str
    t: float
    direction: str
    data: bytes


@dataclass(slots=True)
class StepResult:
    index: int
    """0-based position in the scenario."""
    total: int
    title: str
    side: str
    action: str
    explanation: str
    elapsed: float
    returned: bytes | None = None
    error: str | None = None
    """The exception the call raised (class name and message), expected or not."""
    unexpected: bool = False
    """The call failed when the scenario said it would not (or succeeded when it should fail)."""
    packets: list[WirePacket] = field(default_factory=list)
    sockets: list[SocketRow] = field(default_factory=list)
    chunks: list[ChunkRow] = field(default_factory=list)
    """Every chunk sent and received so far, in time order (the whole lesson's)."""
    checks: list[Check] = field(default_factory=list)
    capture: str = ""
    """How the packets were seen: "captured (in-process on lo)" or why they are inferred."""
    takeaway: str | None = None
    """The scenario's one-line lesson, on its last step."""

    @property
    def ok(self) -> bool:
        return not self.unexpected and all(check.ok is not False for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        """One JSON-ready object: what `netbench workshop run --json` prints per step."""
        return {
            "step": self.index + 1,
            "of": self.total,
            "title": self.title,
            "side": self.side,
            "action": self.action,
            "elapsed_ms": round(self.elapsed * 1000, 3),
            "returned": None if self.returned is None else visible(self.returned),
            "error": self.error,
            "ok": self.ok,
            "capture": self.capture,
            "packets": [
                {
                    "t_ms": round(p.t * 1000, 3),
                    "from": p.src,
                    "to": p.dst,
                    "flags": p.flags,
                    "seq": p.seq,
                    "ack": p.ack,
                    "len": p.length,
                    "win": p.window,
                    "source": p.source,
                    "note": p.note,
                }
                for p in self.packets
            ],
            "sockets": [_socket_json(row) for row in self.sockets],
            "chunks": [
                {
                    "socket": c.socket,
                    "t_ms": round(c.t * 1000, 3),
                    "dir": c.direction,
                    "len": len(c.data),
                    "text": visible(c.data[:200]),
                }
                for c in self.chunks[-40:]
            ],
            "chunks_total": len(self.chunks),
            "checks": [c._asdict() for c in self.checks],
            "explanation": self.explanation,
            "takeaway": self.takeaway,
        }


def _socket_json(row: SocketRow) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": row.name,
        "role": row.role,
        "state": row.state,
        "local": row.local,
        "remote": row.remote,
        "held": row.held,
        "recv_q": row.recv_queue,
        "send_q": row.send_queue,
        "accept_q": row.accept_queue,
    }
    if row.info is not None:
        info = row.info
        data["tcp_info"] = {
            "unacked": info.unacked,
            "retransmits": info.retransmits,
            "total_retrans": info.total_retrans,
            "probes": info.probes,
            "rtt_us": info.rtt_us,
            "snd_wnd": info.snd_wnd,
            "rcv_wnd": info.rcv_wnd,
            "segs_out": info.segs_out,
            "segs_in": info.segs_in,
        }
    return data
