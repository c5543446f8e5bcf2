"""What the capture agent and its clients say to each other, and where they meet.

Rules:
- the agent speaks first with `HELLO`, then sends records, each a 4-byte
  big-endian length followed by that many bytes: a kind byte, then
    b"P": t (float64, unix seconds), linktype (uint16), the frame;
    b"S": t, dropped (uint64, the kernel's count so far), a UTF-8 detail;
  the client may send one kind of record, as often as its servers change:
    b"W": the ports (uint16 each, at most `MAX_WATCH`) whose young
    connections' data segment headers it wants (see window.py);
  which the agent acknowledges, once its filter is in place, with
    b"A": the same ports;
  a client sends its ports right after connecting and counts itself running
  at the first acknowledgement, so "running" means the filter is in place;
- a status record also serves as a heartbeat, at least every `HEARTBEAT`
  seconds, so a client can tell a silent agent from a dead one;
- the socket lives in a directory only its user can change (sockdir.py) and
  both ends check who is at the other end (SO_PEERCRED).
Pure apart from `agent_socket_path` (reads the environment and /run) and
`peer_uid` (one getsockopt).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, NamedTuple

from netbench.capture import sockdir

__all__ = [
    "HEARTBEAT",
    "HELLO",
    "Record",
    "agent_socket_path",
    "encode_packet",
    "encode_status",
    "encode_watch",
    "parse_record",
    "peer_uid",
]

HELLO = b"NBCAP1\n"
"""The agent's first bytes: names the protocol and its version."""
HEARTBEAT = 5.0
"""Seconds between the agent's status records when nothing changes."""
PAUSED = "; paused: "
"""Ends a status detail when part of the agent's capture is paused, before what and why."""
MAX_WATCH = 64
"""Ports one client may ask the agent to watch."""
MAX_RECORD = 1 << 20
"""A longer length prefix means the stream is corrupt (frames are cut at 256 B)."""

_LENGTH = struct.Struct("!I")
_PACKET = struct.Struct("!dH")
_STATUS = struct.Struct("!dQ")

# Linux ABI values (capture/ may not import `socket`: the engine owns it).
_SOL_SOCKET = 1
_SO_PEERCRED = 17
_UCRED = struct.Struct("3i")  # pid, uid, gid


class Record(NamedTuple):
    kind: str
    """"packet", "status", "watch" or "watching" (its acknowledgement)."""
    t: float
    linktype: int = 0
    frame: bytes = b""
    dropped: int = 0
    detail: str = ""
    ports: tuple[int, ...] = ()


def _frame(body: bytes) -> bytes:
    return _LENGTH.pack(len(body)) + body


def encode_packet(t: float, linktype: int, frame: bytes) -> bytes:
    return _frame(b"P" + _PACKET.pack(t, linktype) + frame)


def encode_status(t: float, dropped: int, detail: str) -> bytes:
    return _frame(b"S" + _STATUS.pack(t, dropped) + detail.encode("utf-8", "replace"))


def encode_watch(ports: tuple[int, ...], *, kind: bytes = b"W") -> bytes:
    """A watch record (`kind` b"W") or its acknowledgement (b"A")."""
    wanted = sorted({port for port in ports if 0 < port < 65536})[:MAX_WATCH]
    return _frame(kind + struct.pack(f"!{len(wanted)}H", *wanted))


def record_length(prefix: bytes) -> int:
    """The body length a 4-byte prefix announces; ValueError when implausible."""
    (length,) = _LENGTH.unpack(prefix)
    if not 1 <= length <= MAX_RECORD:
        raise ValueError(f"bad record length {length}")
    return int(length)


def parse_record(body: bytes) -> Record | None:
    """A record's body (after the length); None for kinds this version does not know."""
    kind, rest = body[:1], body[1:]
    if kind == b"P" and len(rest) >= _PACKET.size:
        t, linktype = _PACKET.unpack_from(rest)
        return Record("packet", t, linktype=linktype, frame=rest[_PACKET.size :])
    if kind == b"S" and len(rest) >= _STATUS.size:
        t, dropped = _STATUS.unpack_from(rest)
        detail = rest[_STATUS.size :].decode("utf-8", "replace")
        return Record("status", t, dropped=dropped, detail=detail)
    if kind in (b"W", b"A") and len(rest) % 2 == 0 and len(rest) <= 2 * MAX_WATCH:
        ports = struct.unpack(f"!{len(rest) // 2}H", rest)
        name = "watch" if kind == b"W" else "watching"
        return Record(name, 0.0, ports=tuple(port for port in ports if port))
    return None


def agent_socket_path(uid: int | None = None) -> Path:
    """Where the agent of user `uid` listens (the same answer on both ends).

    In that user's private runtime directory (`$XDG_RUNTIME_DIR`, which sudo
    resets, else `/run/user/<uid>`), else in `/run/netbench-capture/<uid>/`:
    never a name in a shared directory (see sockdir.py).
    """
    return sockdir.socket_path(os.getuid() if uid is None else uid)


def peer_uid(sock: Any) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux)."""
    try:
        raw = sock.getsockopt(_SOL_SOCKET, _SO_PEERCRED, _UCRED.size)
    except (OSError, AttributeError):
        return None
    _pid, uid, _gid = _UCRED.unpack(raw)
    return int(uid)
