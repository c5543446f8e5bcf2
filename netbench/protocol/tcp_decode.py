"""Captured frames to `TcpPacket`: a pure decoder, no scapy, no I/O.

Rules:
- input is what the kernel handed over: the link layer included, possibly cut
  at the snap length; `decode` never raises on such bytes, it returns None for
  anything that is not a whole-enough TCP segment (ARP, UDP, a non-first IP
  fragment, a header cut short);
- lengths come from the IP header, not from the captured bytes, so a segment
  cut at the snap length still reports its real payload length;
- it is written with `struct` rather than scapy's dissectors on purpose: a
  scapy dissection costs ~130 µs, this ~3 µs, and the capture thread shares
  the GIL with the servers (FACTS: Python dissection is what loses packets).
  Tests check it against scapy-built packets.
"""

from __future__ import annotations

import ipaddress
import struct

from netbench.model import Endpoint, TcpPacket

__all__ = ["LINKTYPE_ETHERNET", "decode", "headers_only", "original_length", "window_scale"]

LINKTYPE_ETHERNET = 1
"""pcap link type of Ethernet frames, also what Linux gives for `lo`."""
_LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family, host byte order
_LINKTYPE_RAW = (101, 12, 14)  # raw IP (12 and 14 are old aliases)
_LINKTYPE_LOOP = 108  # OpenBSD loopback: family in network byte order
_LINKTYPE_SLL = 113  # Linux cooked capture v1 (the "any" device)
_LINKTYPE_SLL2 = 276

_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)
_IPV6_EXTENSIONS = frozenset({0, 43, 60, 51})  # hop-by-hop, routing, dest opts, AH
_IPV6_FRAGMENT = 44
_PROTO_TCP = 6
_HEAD = 32
"""Payload bytes kept in `TcpPacket.payload_head`."""

_FLAG_LETTERS = "FSRPAUEC"
_FLAGS = tuple(
    "".join(letter for bit, letter in enumerate(_FLAG_LETTERS) if value & (1 << bit))
    for value in range(256)
)
"""Flag byte -> letters, in scapy's (and tcpdump's) order: 0x12 -> "SA"."""

_TCP = struct.Struct("!HHIIBBH")
_IPV4 = struct.Struct("!BBHHHBB")


def _network_start(frame: bytes, linktype: int) -> tuple[int, int] | None:
    """(offset of the IP header, ethertype) for the link types Linux produces."""
    if linktype == LINKTYPE_ETHERNET:
        offset, kind = 14, int.from_bytes(frame[12:14], "big")
        while kind in _ETHERTYPE_VLAN and len(frame) >= offset + 4:
            kind = int.from_bytes(frame[offset + 2 : offset + 4], "big")
            offset += 4
        return offset, kind
    if linktype == _LINKTYPE_SLL:
        return 16, int.from_bytes(frame[14:16], "big")
    if linktype == _LINKTYPE_SLL2:
        return 20, int.from_bytes(frame[0:2], "big")
    if linktype in _LINKTYPE_RAW:
        version = frame[0] >> 4 if frame else 0
        return 0, _ETHERTYPE_IPV4 if version == 4 else _ETHERTYPE_IPV6
    if linktype in (_LINKTYPE_NULL, _LINKTYPE_LOOP):
        version = frame[4] >> 4 if len(frame) > 4 else 0
        return 4, _ETHERTYPE_IPV4 if version == 4 else _ETHERTYPE_IPV6
    return None


_CACHE_LIMIT = 4096
_hosts: dict[bytes, str] = {}
_endpoints: dict[tuple[bytes, int], Endpoint] = {}


def _host(raw: bytes) -> str:
    """An address as the socket module writes it (127.0.0.1, ::1), cached: loopback
    traffic uses a handful of addresses and this runs twice per packet."""
    host = _hosts.get(raw)
    if host is None:
        if len(_hosts) >= _CACHE_LIMIT:
            _hosts.clear()
        host = _hosts[raw] = ipaddress.ip_address(raw).compressed
    return host


def _endpoint(raw: bytes, port: int) -> Endpoint:
    key = (raw, port)
    found = _endpoints.get(key)
    if found is None:
        if len(_endpoints) >= _CACHE_LIMIT:
            _endpoints.clear()
        found = _endpoints[key] = Endpoint(_host(raw), port)
    return found


def _locate(frame: bytes, linktype: int) -> tuple[bytes, bytes, int, int] | None:
    """(raw src address, raw dst address, offset of the TCP header, TCP segment
    length) or None."""
    start = _network_start(frame, linktype)
    if start is None:
        return None
    offset, kind = start
    if kind == _ETHERTYPE_IPV4:
        if len(frame) < offset + 20:
            return None
        version_ihl, _tos, total, _id, frag, _ttl, proto = _IPV4.unpack_from(frame, offset)
        ihl = (version_ihl & 0x0F) * 4
        # A non-first fragment carries no TCP header.
        if version_ihl >> 4 != 4 or proto != _PROTO_TCP or frag & 0x1FFF or ihl < 20:
            return None
        src, dst = frame[offset + 12 : offset + 16], frame[offset + 16 : offset + 20]
        return src, dst, offset + ihl, total - ihl
    if kind == _ETHERTYPE_IPV6:
        if len(frame) < offset + 40 or frame[offset] >> 4 != 6:
            return None
        remaining = int.from_bytes(frame[offset + 4 : offset + 6], "big")
        header = frame[offset + 6]
        src, dst = frame[offset + 8 : offset + 24], frame[offset + 24 : offset + 40]
        at = offset + 40
        for _ in range(8):  # a bounded walk: the chain comes from the network
            if header == _PROTO_TCP:
                return src, dst, at, remaining
            if len(frame) < at + 8:
                return None
            if header == _IPV6_FRAGMENT:
                if int.from_bytes(frame[at + 2 : at + 4], "big") & 0xFFF8:
                    return None
                size = 8
            elif header == 51:  # AH counts in 4-byte units
                size = (frame[at + 1] + 2) * 4
            elif header in _IPV6_EXTENSIONS:
                size = (frame[at + 1] + 1) * 8
            else:
                return None
            header, at, remaining = frame[at], at + size, remaining - size
    return None


def decode(
    frame: bytes, t: float, linktype: int = LINKTYPE_ETHERNET, snap: int = 65535
) -> TcpPacket | None:
    """The TCP segment in `frame`, captured at unix time `t`; None if there is none.

    `frame` is stored cut at `snap` bytes (the pcap export writes it as is).
    """
    located = _locate(frame, linktype)
    if located is None:
        return None
    src, dst, at, segment = located
    if len(frame) < at + 20:
        return None
    sport, dport, seq, ack, offset_byte, flag_byte, window = _TCP.unpack_from(frame, at)
    header = (offset_byte >> 4) * 4
    if header < 20:
        return None
    # A TSO/GSO frame may say 0 in its IP length: fall back to what was captured.
    payload_len = segment - header if segment > 0 else len(frame) - at - header
    payload_len = max(payload_len, 0)
    start = at + header
    return TcpPacket(
        t=t,
        src=_endpoint(src, sport),
        dst=_endpoint(dst, dport),
        flags=_FLAGS[flag_byte],
        seq=seq,
        ack=ack,
        window=window,
        payload_len=payload_len,
        payload_head=frame[start : start + min(payload_len, _HEAD)],
        frame=frame[:snap],
        linktype=linktype,
    )


def original_length(frame: bytes, linktype: int) -> int:
    """The frame's length on the wire (pcap's orig_len), read from its IP header."""
    located = _locate(frame, linktype)
    if located is None:
        return len(frame)
    _src, _dst, at, segment = located
    return max(len(frame), at + segment) if segment > 0 else len(frame)


def headers_only(frame: bytes, linktype: int) -> bytes | None:
    """`frame` without its TCP payload (the capture agent forwards no data); None if not TCP."""
    located = _locate(frame, linktype)
    if located is None or len(frame) < located[2] + 20:
        return None
    at = located[2]
    return frame[: at + (frame[at + 12] >> 4) * 4]


_OPTION_END, _OPTION_NOP, _OPTION_WSCALE = 0, 1, 3
_MAX_WSCALE = 14
"""RFC 7323 §2.3: a larger shift is read as 14."""


def window_scale(frame: bytes, linktype: int = LINKTYPE_ETHERNET) -> int | None:
    """The window scale shift a SYN or SYN-ACK announces, or None without the option."""
    located = _locate(frame, linktype)
    if located is None or len(frame) < located[2] + 20:
        return None
    at = located[2]
    end = min(len(frame), at + (frame[at + 12] >> 4) * 4)
    index = at + 20
    while index < end:  # options come from the network: every length is checked
        kind = frame[index]
        if kind == _OPTION_END:
            break
        if kind == _OPTION_NOP:
            index += 1
            continue
        if index + 1 >= end or frame[index + 1] < 2:
            break
        length = frame[index + 1]
        if kind == _OPTION_WSCALE and length == 3 and index + 2 < end:
            return min(frame[index + 2], _MAX_WSCALE)
        index += length
    return None
