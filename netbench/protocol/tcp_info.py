"""The kernel's view of a TCP socket, decoded: `struct tcp_info` and `/proc/net/tcp`.

Both are read without privileges: `getsockopt(TCP_INFO)` on a socket the
process holds, and `/proc/net/tcp{,6}` for every socket on the machine
(listeners' accept queues, TIME_WAIT sockets nobody holds any more). The
reading is the engine's job; this module only decodes, so it is pure and
tested on bytes.

Rules: a field the running kernel does not report (its `tcp_info` is shorter
than the offset) is None, never 0; states use the kernel's own names
(include/net/tcp_states.h), which are what `ss` prints in upper case.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

TCP_STATES: dict[int, str] = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSED",  # the kernel says TCP_CLOSE; RFC 9293 and ss say CLOSED
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}
"""The kernel's state numbers (include/net/tcp_states.h)."""

_FIELDS: tuple[tuple[str, int, str], ...] = (
    # (name, offset, struct format) in struct tcp_info (include/uapi/linux/tcp.h)
    ("state", 0, "B"),
    ("retransmits", 2, "B"),
    ("probes", 3, "B"),
    ("backoff", 4, "B"),
    ("rto_us", 8, "I"),
    ("ato_us", 12, "I"),
    ("snd_mss", 16, "I"),
    ("rcv_mss", 20, "I"),
    ("unacked", 24, "I"),
    ("lost", 32, "I"),
    ("retrans", 36, "I"),
    ("last_data_sent_ms", 44, "I"),
    ("last_data_recv_ms", 52, "I"),
    ("last_ack_recv_ms", 56, "I"),
    ("rtt_us", 68, "I"),
    ("rttvar_us", 72, "I"),
    ("snd_cwnd", 80, "I"),
    ("rcv_space", 96, "I"),
    ("total_retrans", 100, "I"),
    ("bytes_acked", 120, "Q"),
    ("bytes_received", 128, "Q"),
    ("segs_out", 136, "I"),
    ("segs_in", 140, "I"),
    ("notsent_bytes", 144, "I"),
    ("data_segs_in", 152, "I"),
    ("data_segs_out", 156, "I"),
    ("bytes_sent", 200, "Q"),
    ("snd_wnd", 228, "I"),
    ("rcv_wnd", 232, "I"),
)

TCP_INFO_SIZE = 240
"""Bytes to ask `getsockopt` for; the kernel returns what it knows (less on old kernels)."""


class TcpInfo(NamedTuple):
    """The fields of `struct tcp_info` a lesson needs; None where the kernel is too old."""

    state: str
    retransmits: int | None = None
    """Retransmissions of the segment now at the head of the queue (resets on progress)."""
    probes: int | None = None
    """Zero-window (or keepalive) probes sent without an answer."""
    backoff: int | None = None
    rto_us: int | None = None
    ato_us: int | None = None
    snd_mss: int | None = None
    rcv_mss: int | None = None
    unacked: int | None = None
    """Segments sent and not yet acknowledged."""
    lost: int | None = None
    retrans: int | None = None
    last_data_sent_ms: int | None = None
    last_data_recv_ms: int | None = None
    last_ack_recv_ms: int | None = None
    rtt_us: int | None = None
    rttvar_us: int | None = None
    snd_cwnd: int | None = None
    rcv_space: int | None = None
    total_retrans: int | None = None
    """Every retransmission over the socket's life (SYNs included)."""
    bytes_acked: int | None = None
    bytes_received: int | None = None
    segs_out: int | None = None
    segs_in: int | None = None
    notsent_bytes: int | None = None
    data_segs_in: int | None = None
    data_segs_out: int | None = None
    bytes_sent: int | None = None
    snd_wnd: int | None = None
    """The window the peer last advertised, scaled: 0 means the peer's buffer is full."""
    rcv_wnd: int | None = None
    """The window this socket last advertised, scaled."""


def state_name(number: int) -> str:
    return TCP_STATES.get(number, f"state {number}")


def parse_tcp_info(raw: bytes) -> TcpInfo:
    """Decode the bytes `getsockopt(IPPROTO_TCP, TCP_INFO, n)` returned (native byte order)."""
    if not raw:
        raise ValueError("empty tcp_info")
    values: dict[str, int | str | None] = {}
    for name, offset, fmt in _FIELDS:
        end = offset + struct.calcsize(fmt)
        if end <= len(raw):
            values[name] = struct.unpack_from("=" + fmt, raw, offset)[0]
    values["state"] = state_name(int(raw[0]))
    return TcpInfo(**values)  # type: ignore[arg-type]


class ProcSocket(NamedTuple):
    """One line of /proc/net/tcp or tcp6: any socket on the machine, held or not."""

    local_host: str
    local_port: int
    remote_host: str
    remote_port: int
    state: str
    tx_queue: int
    """Send queue bytes (unacknowledged; 0 for a listener)."""
    rx_queue: int
    """Receive queue bytes; for a listener, the connections waiting for accept()."""
    uid: int
    inode: int
    """0 for a socket no process holds (TIME_WAIT, or an orphan still closing)."""


def _hex_address(text: str) -> tuple[str, int]:
    host_hex, port_hex = text.split(":")
    port = int(port_hex, 16)
    raw = bytes.fromhex(host_hex)
    # The kernel prints each 32-bit word in host order (little-endian here).
    words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
    packed = b"".join(words) if struct.pack("=I", 1) == b"\x01\0\0\0" else raw
    if len(packed) == 4:
        return ".".join(str(b) for b in packed), port
    if packed[:12] == b"\0" * 10 + b"\xff\xff":
        return ".".join(str(b) for b in packed[12:]), port
    groups = [f"{int.from_bytes(packed[i : i + 2], 'big'):x}" for i in range(0, 16, 2)]
    text_v6 = ":".join(groups)
    return ("::1" if text_v6 == "0:0:0:0:0:0:0:1" else text_v6), port


def parse_proc_net_tcp(text: str) -> list[ProcSocket]:
    """Every socket line of /proc/net/tcp or /proc/net/tcp6 (the header skipped)."""
    sockets: list[ProcSocket] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            local_host, local_port = _hex_address(fields[1])
            remote_host, remote_port = _hex_address(fields[2])
            tx_hex, rx_hex = fields[4].split(":")
            sockets.append(
                ProcSocket(
                    local_host,
                    local_port,
                    remote_host,
                    remote_port,
                    state_name(int(fields[3], 16)),
                    int(tx_hex, 16),
                    int(rx_hex, 16),
                    int(fields[7]),
                    int(fields[9]),
                )
            )
        except ValueError:
            continue
    return sockets
