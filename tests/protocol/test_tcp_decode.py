"""decode() against packets built with scapy: scapy is the oracle, not the decoder."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, Dot1Q, Ether
from scapy.packet import Raw

from netbench.model import Endpoint
from netbench.protocol.tcp_decode import decode, headers_only, original_length, window_scale

T = 1_700_000_000.25


def _ether(payload: object) -> bytes:
    return bytes(Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00") / payload)


@pytest.mark.parametrize(
    ("flags", "letters"),
    [("S", "S"), ("SA", "SA"), ("A", "A"), ("PA", "PA"), ("FA", "FA"), ("R", "R"),
     ("RA", "RA"), ("FSRPAUEC", "FSRPAUEC"), ("", "")],
)  # fmt: skip
def test_flags_in_scapys_order(flags: str, letters: str) -> None:
    frame = _ether(IP(src="127.0.0.1", dst="127.0.0.1") / TCP(flags=flags))
    packet = decode(frame, T, 1)
    assert packet is not None
    assert packet.flags == letters == str(TCP(flags=flags).flags).replace("N", "")


def test_ipv4_segment_fields() -> None:
    segment = TCP(sport=50123, dport=8000, seq=1000, ack=2000, window=512, flags="PA")
    frame = _ether(IP(src="127.0.0.1", dst="127.0.0.2") / segment / Raw(b"GET / HTTP/1.1\r\n" * 4))
    packet = decode(frame, T, 1)
    assert packet is not None
    assert packet.t == T
    assert packet.src == Endpoint("127.0.0.1", 50123)
    assert packet.dst == Endpoint("127.0.0.2", 8000)
    assert (packet.seq, packet.ack, packet.window) == (1000, 2000, 512)
    assert packet.payload_len == 64
    assert packet.payload_head == (b"GET / HTTP/1.1\r\n" * 2)  # the first 32 bytes
    assert packet.frame == frame
    assert packet.linktype == 1


def test_ipv6_with_extension_headers() -> None:
    ip6 = IPv6(src="::1", dst="fe80::1") / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(offset=0)
    frame = _ether(ip6 / TCP(sport=1, dport=2, flags="S") / Raw(b"xyz"))
    packet = decode(frame, T, 1)
    assert packet is not None
    assert (packet.src, packet.dst) == (Endpoint("::1", 1), Endpoint("fe80::1", 2))
    assert (packet.flags, packet.payload_len, packet.payload_head) == ("S", 3, b"xyz")


def test_snap_cut_keeps_the_real_payload_length() -> None:
    frame = _ether(IP() / TCP(flags="PA") / Raw(b"x" * 1000))
    packet = decode(frame[:100], T, 1)
    assert packet is not None
    assert packet.payload_len == 1000
    assert packet.payload_head == b"x" * 32
    assert original_length(frame[:100], 1) == len(frame)
    cut = decode(frame, T, 1, snap=80)
    assert cut is not None and len(cut.frame) == 80


@pytest.mark.parametrize(
    ("frame", "linktype"),
    [
        (_ether(Dot1Q(vlan=5) / IP() / TCP(flags="S")), 1),
        (bytes(CookedLinux(proto=0x0800) / IP() / TCP(flags="S")), 113),
        (bytes(IP() / TCP(flags="S")), 101),
        (struct.pack("=I", 2) + bytes(IP() / TCP(flags="S")), 0),
    ],
    ids=["vlan", "linux-sll", "raw-ip", "bsd-null"],
)
def test_other_link_layers(frame: bytes, linktype: int) -> None:
    packet = decode(frame, T, linktype)
    assert packet is not None and packet.flags == "S"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00" * 13,
        _ether(IP() / UDP()),
        _ether(IP(flags="MF", frag=100) / Raw(b"\x00" * 40)),  # a non-first fragment
        _ether(IP() / TCP())[:40],  # the TCP header cut off
        _ether(IPv6() / UDP()),
        bytes(Ether(type=0x0806) / Raw(b"\x00" * 28)),  # ARP
    ],
    ids=["empty", "short", "udp", "fragment", "cut-header", "udp6", "arp"],
)
def test_not_a_tcp_segment(frame: bytes) -> None:
    assert decode(frame, T, 1) is None


def test_unknown_link_type() -> None:
    assert decode(_ether(IP() / TCP()), T, 9999) is None


def test_garbage_never_raises() -> None:
    import random

    rng = random.Random(4)
    base = _ether(IP() / TCP(flags="S") / Raw(b"abc"))
    for _ in range(2000):
        frame = bytearray(base[: rng.randrange(len(base) + 1)])
        for _ in range(rng.randrange(4)):
            if frame:
                frame[rng.randrange(len(frame))] = rng.randrange(256)
        for linktype in (0, 1, 101, 113, 276):
            decode(bytes(frame), T, linktype)


def test_headers_only_strips_the_payload() -> None:
    frame = _ether(IP() / TCP(flags="FPA", options=[("NOP", None)] * 4) / Raw(b"secret"))
    stripped = headers_only(frame, 1)
    assert stripped == frame[: 14 + 20 + 24]
    packet = decode(stripped, T, 1)
    assert packet is not None
    assert (packet.payload_len, packet.payload_head) == (6, b"")
    assert original_length(stripped, 1) == len(frame)
    assert headers_only(_ether(IP() / UDP()), 1) is None


@pytest.mark.parametrize(
    ("options", "scale"),
    [
        ([("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)], 7),
        ([("WScale", 0)], 0),
        ([("WScale", 20)], 14),  # RFC 7323: more than 14 is read as 14
        ([("MSS", 1460)], None),
        ([], None),
    ],
)
def test_window_scale_option(options: list[tuple[str, object]], scale: int | None) -> None:
    frame = bytes(Ether() / IP() / TCP(flags="S", options=options))
    assert window_scale(frame) == scale


def test_window_scale_survives_garbage_options() -> None:
    frame = bytearray(bytes(Ether() / IP() / TCP(flags="S", options=[("WScale", 7)])))
    at = 14 + 20
    frame[at + 20 : at + 24] = b"\x03\x00\x07\x00"  # a zero option length
    assert window_scale(bytes(frame)) is None
    assert window_scale(b"\x00" * 10) is None
