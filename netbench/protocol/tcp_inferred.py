"""What netbench knows about a TCP connection without capturing a packet.

Without capture the TCP tab must not invent packets. It shows instead the
facts the sockets themselves reported, each turned into one step on the
client or server lane with a plain sentence:

- connect/accept: the three-way handshake completed (its packets unseen);
- each chunk: bytes one side sent (one `recv` or `send`, not one segment);
- shutdown / peer-fin: a FIN sent / received; abort / peer-reset: a RST;
- close, timeout, error: what netbench's own socket did.

Rules: pure (no I/O, no clock); every sentence says it is inferred; text
that came from outside (an error's detail) goes through `textsafe`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

from netbench.model import Direction, Role, SocketEventKind
from netbench.protocol.textsafe import visible_text

UNSEEN = "(inferred from the socket: no packet was captured)"
"""Ends every sentence, so no inferred step reads like a captured one."""


class SocketEventLike(Protocol):
    """A socket event as the store returns it (`SocketEventRow`)."""

    @property
    def t(self) -> float: ...
    @property
    def kind(self) -> SocketEventKind: ...
    @property
    def detail(self) -> str | None: ...


class ChunkLike(Protocol):
    """A chunk without its bytes, as the store returns it (`ChunkMeta`)."""

    @property
    def seq(self) -> int: ...
    @property
    def direction(self) -> Direction: ...
    @property
    def t(self) -> float: ...
    @property
    def offset(self) -> int: ...
    @property
    def length(self) -> int: ...


class InferredStep(NamedTuple):
    """One fact about the connection, placed on the lane of the end that acted."""

    t: float
    """When the socket reported it (Unix seconds, like the session's times)."""
    side: Role
    """The end that acted: Role.CLIENT is the connection's client, whoever netbench is."""
    label: str
    """Short text for the ladder ("connect()", "data 78 B", "FIN sent")."""
    fact: str
    """What it means, in words, without the final stop or the `UNSEEN` note."""
    crosses: bool
    """Something went to the other end (bytes, a FIN or a RST): drawn as a
    dashed arrow, never as a packet."""
    kind: SocketEventKind | None = None
    """The socket event it comes from; None for a chunk."""
    direction: Direction | None = None
    """For a chunk: its direction seen from netbench."""
    offset: int = 0
    """For a chunk: stream offset of its first byte in its direction."""
    length: int = 0
    """For a chunk: how many bytes it holds."""

    @property
    def sentence(self) -> str:
        """One plain sentence saying what it means, labelled as inferred."""
        return f"{self.fact} {UNSEEN}."


def sender(role: Role, direction: Direction) -> Role:
    """Which end sent bytes going `direction` on a connection where netbench is `role`."""
    if direction is Direction.OUT:
        return role
    return Role.CLIENT if role is Role.SERVER else Role.SERVER


def _other(side: Role) -> Role:
    return Role.CLIENT if side is Role.SERVER else Role.SERVER


def _event_step(role: Role, event: SocketEventLike) -> InferredStep:
    me, peer = role, _other(role)
    detail = visible_text(event.detail) if event.detail else ""
    because = f" ({detail})" if detail else ""
    kind = event.kind
    crosses = False
    match kind:
        case SocketEventKind.CONNECT:
            side, label = me, "connect() · handshake done"
            text = (
                "connect() returned: the three-way handshake (SYN, SYN-ACK, ACK) "
                "completed and the connection is ESTABLISHED"
            )
        case SocketEventKind.ACCEPT:
            side, label = me, "accept() · handshake done"
            text = (
                "accept() returned a connection: the client's SYN was answered and "
                "the three-way handshake completed before it"
            )
        case SocketEventKind.SHUTDOWN:
            side, label, crosses = me, "FIN sent · shutdown()", True
            text = (
                f"netbench half-closed its side with shutdown(): the kernel sends a FIN, "
                f"the {me.value} will send no more bytes but can still receive"
            )
        case SocketEventKind.PEER_FIN:
            side, label, crosses = peer, "FIN received · recv() = b''", True
            text = (
                f"recv() returned no bytes: the {peer.value}'s FIN arrived, "
                f"it will send nothing more"
            )
        case SocketEventKind.CLOSE:
            side, label = me, "close()"
            text = (
                "netbench closed its socket: the kernel sends a FIN unless one was "
                "already sent, and the connection is gone once both FINs are acknowledged"
            )
        case SocketEventKind.ABORT:
            side, label, crosses = me, "RST sent · abort", True
            text = (
                "netbench aborted the connection (SO_LINGER 0, then close()): the kernel "
                "sends a RST and drops any unsent data"
            )
        case SocketEventKind.PEER_RESET:
            side, label, crosses = peer, "RST received", True
            text = (
                f"The {peer.value} reset the connection: a RST arrived, so the connection "
                f"ended at once and unread data was thrown away"
            )
        case SocketEventKind.TIMEOUT:
            side, label = me, "timeout"
            text = (
                f"A timeout expired on netbench's socket{because}; netbench closes the connection"
            )
            because = ""
        case _:
            side, label = me, "socket error"
            text = f"The socket reported an error{because}"
            because = ""
    return InferredStep(
        t=event.t,
        side=side,
        label=label,
        fact=text + because,
        crosses=crosses,
        kind=kind,
    )


def _chunk_step(role: Role, chunk: ChunkLike) -> InferredStep:
    side = sender(role, chunk.direction)
    last = chunk.offset + chunk.length - 1
    how = "netbench wrote them with one send()" if side is role else "one recv() returned them"
    span = f"stream bytes {chunk.offset}–{last}" if chunk.length else "no bytes"
    return InferredStep(
        t=chunk.t,
        side=side,
        label=f"data {chunk.length} B · chunk #{chunk.seq}",
        fact=(
            f"The {side.value} sent {chunk.length} bytes ({span}, relative seq "
            f"{chunk.offset + 1}); {how}, in as many segments as TCP chose"
        ),
        crosses=True,
        direction=chunk.direction,
        offset=chunk.offset,
        length=chunk.length,
    )


_FIRST = (SocketEventKind.CONNECT, SocketEventKind.ACCEPT)


def infer_steps(
    role: Role, socket_events: Iterable[SocketEventLike], chunks: Iterable[ChunkLike]
) -> list[InferredStep]:
    """The connection's inferred steps in time order.

    At equal times connect/accept come first and other socket events after
    the chunks (a close follows the bytes it ends).
    """
    keyed: list[tuple[float, int, int, InferredStep]] = []
    for n, event in enumerate(socket_events):
        rank = 0 if event.kind in _FIRST else 2
        keyed.append((event.t, rank, n, _event_step(role, event)))
    for n, chunk in enumerate(chunks):
        keyed.append((chunk.t, 1, n, _chunk_step(role, chunk)))
    keyed.sort(key=lambda item: item[:3])
    return [step for *_, step in keyed]
