"""Plain data shared by every layer: endpoints, directions, how connections end.

Nothing here does I/O or knows about asyncio, SQLite or Textual. Values that
are written to the session store use the enum's string value, so the strings
below are part of the documented schema (docs/sessions.md): never rename one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple


class Direction(enum.Enum):
    """Which way bytes went, seen from netbench's own socket."""

    IN = "in"
    """Received by netbench: a request at a server, a reply at a client."""
    OUT = "out"
    """Written by netbench."""


class Role(enum.Enum):
    """Which end of the connection netbench is."""

    SERVER = "server"
    CLIENT = "client"


class Transport(enum.Enum):
    TCP = "tcp"
    UDP = "udp"


class EndReason(enum.Enum):
    """How a connection ended. FIN and RST say which side sent them first."""

    FIN_PEER = "fin-peer"
    """The peer closed (or half-closed) first; netbench closed after it."""
    FIN_LOCAL = "fin-local"
    """netbench closed first with a FIN."""
    RST_PEER = "rst-peer"
    """The peer reset the connection."""
    RST_LOCAL = "rst-local"
    """netbench aborted the connection with a RST."""
    TIMEOUT = "timeout"
    """An idle or read timeout expired and netbench closed the connection."""
    REFUSED = "refused"
    """A client's connect was refused (RST answering the SYN)."""
    ERROR = "error"
    """A socket error other than a reset; the detail says which."""
    STOPPED = "stopped"
    """The server or client was stopped while the connection was open."""


class SocketEventKind(enum.Enum):
    """Socket-level facts netbench knows without capturing packets.

    The TCP view shows these, labelled as inferred, when no capture runs.
    """

    CONNECT = "connect"
    ACCEPT = "accept"
    PEER_FIN = "peer-fin"
    """recv returned b'': the peer's FIN arrived."""
    SHUTDOWN = "shutdown"
    """netbench half-closed its sending side (shutdown(SHUT_WR), a FIN)."""
    CLOSE = "close"
    ABORT = "abort"
    """netbench reset the connection (SO_LINGER 0, a RST)."""
    PEER_RESET = "peer-reset"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side's address, as the socket reported it."""

    host: str
    port: int

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        if not self.host and not self.port:
            return "-"  # never bound: a connect that failed has no local address
        return f"{self.host}:{self.port}"


def connected(role: Role, local: Endpoint, peer: Endpoint) -> str:
    """`A -> B`, the side that connected first on the left: the peer of a server's
    connection, our side of a client's (a proxy's upstream leg, `send`)."""
    first, second = (local, peer) if role is Role.CLIENT else (peer, local)
    return f"{first} -> {second}"


class TcpPacket(NamedTuple):
    """One captured TCP segment, decoded (by netbench/capture) into plain data.

    Built for every captured packet, hence a NamedTuple. `frame` keeps the
    captured bytes (link layer included, cut at the snap length) so a session
    can be exported as pcap; everything else is read from it once.
    """

    t: float
    """Capture time from the kernel, Unix seconds."""
    src: Endpoint
    dst: Endpoint
    flags: str
    """Flag letters as tcpdump/scapy write them, in the order FSRPAUEC: "S", "SA", "PA", "FA", "R"..."""
    seq: int
    ack: int
    window: int
    payload_len: int
    payload_head: bytes
    """The first bytes of the payload (at most 32), for the ladder's labels."""
    frame: bytes
    linktype: int = 1
    """pcap link type of `frame` (1: Ethernet, which Linux uses for lo too)."""


Headers = tuple[tuple[bytes, bytes], ...]
"""Header fields as (name, value) byte pairs in wire order and case."""


class HttpRequest(NamedTuple):
    """A request as parsed from the bytes that carried it.

    The bytes stay the truth (the chunks); this is the parser's reading of them.
    A NamedTuple, not a frozen dataclass: one is built per request on the hot
    path, and a tuple builds in 0.3 µs where a frozen dataclass takes 1 µs.
    """

    method: bytes
    target: bytes
    version: str
    """"1.0", "1.1", or "" when the request line could not be parsed."""
    headers: Headers
    body: bytes
    """The decoded body (chunked framing removed), at most `body_len` bytes and
    cut at the recording limit when `body_truncated`."""
    body_len: int
    body_truncated: bool = False
    keep_alive: bool = True
    error: str | None = None
    """Why the parser rejected the request; the other fields hold what it read."""

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header, matched case-insensitively."""
        return header_value(self.headers, name)


class HttpResponse(NamedTuple):
    """A response: what netbench sent (server) or received (client)."""

    status: int | None
    """None when the bytes are not a parseable status line (on purpose or not)."""
    reason: bytes
    version: str
    headers: Headers
    body: bytes
    body_len: int
    body_truncated: bool = False
    error: str | None = None

    def header(self, name: bytes) -> bytes | None:
        return header_value(self.headers, name)


def header_value(headers: Headers, name: bytes) -> bytes | None:
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None
