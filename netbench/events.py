"""The engine's events: plain, frozen facts that any number of consumers read.

Rules:
- an event is immutable and holds only plain data (no sockets, no tasks);
- `t` is `time.monotonic()` at the moment the fact happened; consumers that
  need wall-clock time convert with the session's anchor;
- ids are assigned by the engine: one counter for servers, one for connections,
  one for HTTP exchanges, unique within a session;
- per connection, events arrive in order: opened, then chunks, socket events
  and exchanges interleaved as they happened, then closed.

The three events published for every chunk and every exchange are NamedTuples
(immutable, built in ~0.3 µs); the rare ones are frozen slotted dataclasses.
Either way: read-only, plain data, compared by value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from netbench.model import (
    Direction,
    Endpoint,
    EndReason,
    HttpRequest,
    HttpResponse,
    Role,
    SocketEventKind,
    TcpPacket,
    Transport,
)


@dataclass(frozen=True, slots=True)
class ServerStarted:
    server_id: int
    kind: str
    transport: Transport
    address: Endpoint
    """Where it listens, with the real port when port 0 was asked for."""
    t: float
    options: dict[str, object] = field(default_factory=dict)
    """The options it runs with, JSON-serialisable, for the session record."""


@dataclass(frozen=True, slots=True)
class ServerStopped:
    server_id: int
    t: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionOpened:
    conn_id: int
    server_id: int | None
    """The server that accepted it; None for a client connection."""
    role: Role
    transport: Transport
    local: Endpoint
    peer: Endpoint
    t: float
    via: int | None = None
    """The connection whose request caused this one (a proxy's upstream leg: its client leg)."""


class ChunkRecorded(NamedTuple):
    """What one `recv` returned or one `send` wrote, byte for byte."""

    conn_id: int
    seq: int
    """Position among this connection's chunks, both directions, from 0."""
    direction: Direction
    offset: int
    """Stream offset of the first byte in this direction (TCP's relative seq - 1)."""
    data: bytes
    t: float


@dataclass(frozen=True, slots=True)
class SocketEventRecorded:
    conn_id: int
    kind: SocketEventKind
    t: float
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    conn_id: int
    reason: EndReason
    t: float
    bytes_in: int
    bytes_out: int
    detail: str | None = None


class HttpRequestRecorded(NamedTuple):
    """A request fully read (server) or fully sent (client)."""

    exchange_id: int
    conn_id: int
    position: int
    """Its position on the connection (keep-alive and pipelining), from 0."""
    request: HttpRequest
    first_chunk: int
    last_chunk: int
    """Seqs of the chunks that carried it (one chunk may carry several requests)."""
    t_start: float
    t_end: float


class HttpResponseRecorded(NamedTuple):
    exchange_id: int
    conn_id: int
    response: HttpResponse
    first_chunk: int
    last_chunk: int
    t_start: float
    t_end: float


@dataclass(frozen=True, slots=True)
class InterceptHeld:
    """An HTTP request is held in a server's intercept queue, waiting for the user."""

    exchange_id: int
    conn_id: int
    server_id: int
    t: float


@dataclass(frozen=True, slots=True)
class InterceptReleased:
    """A held request left the intercept queue."""

    exchange_id: int
    t: float
    how: str
    """`answered` (typed by hand), `rule` (the server's own answer, also when
    intercept was turned off), `closed` (FIN, no response), `reset` (RST),
    `client-gone` (the connection ended while held) or `stopped` (the server
    stopped)."""


class PacketCaptured(NamedTuple):
    """A TCP segment seen on the wire (only when capture runs: never invented)."""

    packet: TcpPacket


@dataclass(frozen=True, slots=True)
class CaptureStatus:
    """Capture started, stopped, failed, or its kernel drop count changed."""

    running: bool
    t: float
    detail: str
    """What runs ("in-process on lo", "via capture agent") or why not, with the fix."""
    dropped: int = 0
    """Packets the kernel dropped so far (nothing is lost silently)."""


Event = (
    ServerStarted
    | ServerStopped
    | ConnectionOpened
    | ChunkRecorded
    | SocketEventRecorded
    | ConnectionClosed
    | HttpRequestRecorded
    | HttpResponseRecorded
    | InterceptHeld
    | InterceptReleased
    | PacketCaptured
    | CaptureStatus
)
