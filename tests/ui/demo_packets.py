"""TCP segments with fixed contents and times, built without scapy, for ladder tests.

They belong to a browser-like client on :50412 asking a page server on
:8000, on the demo session's fixed clock (demo_session.py). Sequence numbers
are absolute, as captured; the tracker makes them relative. `frame` stays
empty: nothing here is exported as pcap. `write_capture_session` records
them, with the connection's socket events and chunks, into a session file.
"""

from __future__ import annotations

from pathlib import Path

from demo_session import MONO, WALL

from netbench.events import (
    CaptureStatus,
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    PacketCaptured,
    ServerStarted,
    SocketEventRecorded,
)
from netbench.model import (
    Direction,
    Endpoint,
    EndReason,
    Role,
    SocketEventKind,
    TcpPacket,
    Transport,
)
from netbench.store import SessionWriter, SocketEventRow

CLIENT = Endpoint("127.0.0.1", 50412)
SERVER = Endpoint("127.0.0.1", 8000)
T0 = WALL + 0.0008
"""The SYN, in unix time (packets carry the kernel's clock)."""
CLIENT_ISN = 1_104_382_617
SERVER_ISN = 3_921_440_152

REQUEST = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
)
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nhi\n"
ESCAPED = b"\x1b[31mred\x1b[0m\r\n"


def segment(
    ms: float,
    from_client: bool,
    flags: str,
    seq: int,
    ack: int,
    payload: bytes = b"",
    window: int = 65483,
) -> TcpPacket:
    """One segment `ms` after the SYN; seq/ack relative to each side's ISN."""
    src, dst = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
    mine, theirs = (CLIENT_ISN, SERVER_ISN) if from_client else (SERVER_ISN, CLIENT_ISN)
    return TcpPacket(
        t=T0 + ms / 1000,
        src=src,
        dst=dst,
        flags=flags,
        seq=(mine + seq) % 2**32,
        ack=(theirs + ack) % 2**32 if "A" in flags else 0,
        window=window,
        payload_len=len(payload),
        payload_head=payload[:32],
        frame=b"",
    )


def page_fetch() -> list[TcpPacket]:
    """Handshake, one request and response, and a close started by the client."""
    req, resp = len(REQUEST), len(RESPONSE)
    return [
        segment(0.000, True, "S", 0, 0),
        segment(0.021, False, "SA", 0, 1),
        segment(0.040, True, "A", 1, 1),
        segment(0.310, True, "PA", 1, 1, REQUEST),
        segment(0.325, False, "A", 1, 1 + req),
        segment(0.702, False, "PA", 1, 1 + req, RESPONSE),
        segment(0.716, True, "A", 1 + req, 1 + resp),
        segment(1.204, True, "FA", 1 + req, 1 + resp),
        segment(1.251, False, "FA", 1 + resp, 2 + req),
        segment(1.266, True, "A", 2 + req, 2 + resp),
    ]


_SOCKET_EVENTS = (
    (0.06, SocketEventKind.ACCEPT),
    (1.23, SocketEventKind.PEER_FIN),
    (1.24, SocketEventKind.CLOSE),
)
"""What the server's socket reported during `page_fetch`, ms after the SYN."""


def page_fetch_events() -> list[SocketEventRow]:
    """The socket events of `page_fetch`, as the store returns them (conn 1)."""
    return [SocketEventRow(1, T0 + ms / 1000, kind, None) for ms, kind in _SOCKET_EVENTS]


def write_capture_session(
    path: Path,
    *,
    packets: bool = True,
    status: CaptureStatus | None = None,
    headers_only: bool = False,
) -> Path:
    """A session holding `page_fetch` as connection 1: its packets unless `packets` is
    false (without payload bytes if `headers_only`, as the capture agent sends them),
    its socket events and chunks, and `status` as the capture's status."""

    def mono(ms: float) -> float:  # the engine's clock, `ms` after the SYN
        return MONO + (T0 - WALL) + ms / 1000

    events: list[Event] = [ServerStarted(1, "http", Transport.TCP, SERVER, MONO)]
    if status is not None:
        events.append(status)
    events.append(ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, SERVER, CLIENT, mono(0.06)))
    events += [SocketEventRecorded(1, kind, mono(ms)) for ms, kind in _SOCKET_EVENTS[:1]]
    events.append(ChunkRecorded(1, 0, Direction.IN, 0, REQUEST, mono(0.33)))
    events.append(ChunkRecorded(1, 1, Direction.OUT, 0, RESPONSE, mono(0.69)))
    events += [SocketEventRecorded(1, kind, mono(ms)) for ms, kind in _SOCKET_EVENTS[1:]]
    events.append(ConnectionClosed(1, EndReason.FIN_PEER, mono(1.24), len(REQUEST), len(RESPONSE)))
    if packets:
        captured = page_fetch()
        if headers_only:
            captured = [packet._replace(payload_head=b"") for packet in captured]
        events += [PacketCaptured(packet) for packet in captured]
    writer = SessionWriter(path, argv=["netbench"], anchors=(MONO, WALL))
    writer.open()
    for event in events:
        writer(event)
    writer.close()
    return path


def escaped_echo() -> list[TcpPacket]:
    """An echo with an escape sequence, the client's data sent twice, then a reset."""
    n = len(ESCAPED)
    return [
        segment(0.0, True, "S", 0, 0),
        segment(0.02, False, "SA", 0, 1),
        segment(0.04, True, "A", 1, 1),
        segment(5.0, True, "PA", 1, 1, ESCAPED),
        segment(205.0, True, "PA", 1, 1, ESCAPED),
        segment(205.1, False, "PA", 1, 1 + n, ESCAPED),
        segment(300.0, True, "R", 1 + n, 0),
    ]
