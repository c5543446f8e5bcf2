"""Captured TCP packets and capture status, read back from a session.

Packets are not linked to connections in the file: they are matched by their
4-tuple and time, as Wireshark does, because capture runs beside the engine
(possibly in another process, the capture agent) and sees packets for
connections the engine never accepted (a refused connect, a SYN flood).

Sessions of schema version 1 have no packet tables: every function here
reads them as empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from netbench.model import Endpoint, TcpPacket
from netbench.store.damage import Columns
from netbench.store.reader import SessionReader

__all__ = [
    "CaptureRow",
    "all_packets",
    "capture_history",
    "packet_count",
    "packets_at_end",
    "packets_between",
]

_COLUMNS = (
    "t, src_host, src_port, dst_host, dst_port, flags, seq, ack, window,"
    " payload_len, payload_head, frame, linktype"
)


@dataclass(frozen=True, slots=True)
class CaptureRow:
    """One `CaptureStatus`: capture started, stopped, failed, or counted drops."""

    t: float
    running: bool
    detail: str
    dropped: int


_PACKET = Columns(
    "packets",
    "t:time src_host:text src_port:int dst_host:text dst_port:int flags:text seq:int ack:int"
    " window:int payload_len:int payload_head:blob frame:blob linktype:u32",
)
_CAPTURE = Columns("capture", "t:time running:int detail:text dropped:int")


def _packet(row: tuple[Any, ...], where: str) -> TcpPacket:
    row = _PACKET.check(row, where)
    t, src_host, src_port, dst_host, dst_port, flags, seq, ack, window = row[:9]
    payload_len, payload_head, frame, linktype = row[9:]
    return TcpPacket(
        t=t,
        src=Endpoint(src_host, src_port),
        dst=Endpoint(dst_host, dst_port),
        flags=flags,
        seq=seq,
        ack=ack,
        window=window,
        payload_len=payload_len,
        payload_head=bytes(payload_head),
        frame=bytes(frame),
        linktype=linktype,
    )


def _wire_host(host: str) -> str:
    # A dual-stack socket names an IPv4 peer "::ffff:127.0.0.1"; the wire says 127.0.0.1.
    return host.removeprefix("::ffff:") if "." in host else host


def _has_packets(reader: SessionReader) -> bool:
    return reader.schema_version >= 2


def packets_between(
    reader: SessionReader, a: Endpoint, b: Endpoint, t_from: float, t_to: float
) -> list[TcpPacket]:
    """Packets from a to b and from b to a with `t_from <= t <= t_to`, by time.

    The time window tells apart connections that reused the same 4-tuple.
    Endpoints as a dual-stack socket names them (::ffff:127.0.0.1) match the
    IPv4 addresses on the wire.
    """
    if not _has_packets(reader):
        return []
    rows = reader._query(
        f"SELECT {_COLUMNS} FROM packets WHERE {_BETWEEN} ORDER BY t, id",
        _between(a, b, t_from, t_to),
    )
    return [_packet(row, str(reader.path)) for row in rows]


def packet_count_between(
    reader: SessionReader, a: Endpoint, b: Endpoint, t_from: float, t_to: float
) -> int:
    """How many packets `packets_between` would return (a count over the index)."""
    if not _has_packets(reader):
        return 0
    row = reader._query(
        f"SELECT count(*) FROM packets WHERE {_BETWEEN}", _between(a, b, t_from, t_to)
    ).fetchone()
    return int(row[0]) if row is not None else 0


def packets_at_end(
    reader: SessionReader,
    a: Endpoint,
    b: Endpoint,
    t_from: float,
    t_to: float,
    limit: int,
    *,
    last: bool = False,
) -> list[TcpPacket]:
    """The first (or `last`) `limit` packets `packets_between` returns, by time.

    One index range per direction, read in index order (ports, then t) and
    cut by LIMIT, so a connection of millions of packets costs `limit` rows;
    the two directions are merged here.
    """
    if not _has_packets(reader) or limit <= 0:
        return []
    order = "DESC" if last else "ASC"
    params = {**_between(a, b, t_from, t_to), "limit": limit}
    where = str(reader.path)
    found: list[tuple[float, int, TcpPacket]] = []
    for one_way in (_ONE_WAY.format("a", "b"), _ONE_WAY.format("b", "a")):
        rows = reader._query(
            f"SELECT id, {_COLUMNS} FROM packets WHERE {one_way}"
            f" ORDER BY t {order}, id {order} LIMIT :limit",
            params,
        )
        for row in rows:
            packet = _packet(tuple(row)[1:], where)
            found.append((packet.t, int(row[0]), packet))
    found.sort(key=lambda item: item[:2], reverse=last)
    kept = [packet for _t, _id, packet in found[:limit]]
    return kept[::-1] if last else kept


# One index range per direction: (src_port, dst_port) equal, t between.
_ONE_WAY = (
    "(src_port = :{0}p AND dst_port = :{1}p AND t BETWEEN :t0 AND :t1"
    " AND src_host = :{0}h AND dst_host = :{1}h)"
)
_BETWEEN = f"{_ONE_WAY.format('a', 'b')} OR {_ONE_WAY.format('b', 'a')}"


def _between(a: Endpoint, b: Endpoint, t_from: float, t_to: float) -> dict[str, object]:
    return {
        "t0": t_from,
        "t1": t_to,
        "ap": a.port,
        "bp": b.port,
        "ah": _wire_host(a.host),
        "bh": _wire_host(b.host),
    }


def all_packets(reader: SessionReader) -> Iterator[TcpPacket]:
    """Every packet in capture order, fetched as iterated."""
    if not _has_packets(reader):
        return
    where = str(reader.path)
    for row in reader._query(f"SELECT {_COLUMNS} FROM packets ORDER BY t, id"):
        yield _packet(row, where)


def packet_count(reader: SessionReader) -> int:
    if not _has_packets(reader):
        return 0
    return int(reader._query("SELECT count(*) FROM packets").fetchone()[0])


def capture_history(reader: SessionReader) -> list[CaptureRow]:
    """Every recorded capture status, oldest first (why there are no packets, drops)."""
    if not _has_packets(reader):
        return []
    rows = reader._query("SELECT t, running, detail, dropped FROM capture ORDER BY t, id")
    where = str(reader.path)
    return [
        CaptureRow(t, bool(running), detail, dropped)
        for t, running, detail, dropped in (_CAPTURE.check(row, where) for row in rows)
    ]
