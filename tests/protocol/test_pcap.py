"""The pcap writer, read back by scapy's reader (an independent implementation)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import PcapReader, rdpcap

from netbench.protocol.pcap import PcapRecord, pcap_bytes, pcap_header, pcap_record, pcap_stream


def _frame(flags: str, payload: bytes = b"") -> bytes:
    return bytes(Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / TCP(flags=flags) / payload)


def test_global_header_layout() -> None:
    header = pcap_header(1, snaplen=256)
    assert len(header) == 24
    assert header[:4] == b"\xd4\xc3\xb2\xa1"  # little-endian, microseconds
    assert struct.unpack("<HHiIII", header[4:]) == (2, 4, 0, 0, 256, 1)


@pytest.mark.parametrize(
    ("t", "sec", "usec"),
    [(1.0, 1, 0), (1700000000.123456, 1700000000, 123456), (5.9999997, 6, 0)],
)
def test_record_timestamps(t: float, sec: int, usec: int) -> None:
    record = pcap_record(PcapRecord(t, b"abc", 10))
    assert struct.unpack("<IIII", record[:16]) == (sec, usec, 3, 10)
    assert record[16:] == b"abc"


def test_orig_len_is_never_below_incl_len() -> None:
    assert struct.unpack("<IIII", pcap_record(PcapRecord(0.0, b"abcd"))[:16])[2:] == (4, 4)


def test_read_back_by_scapy(tmp_path: Path) -> None:
    frames = [_frame("S"), _frame("SA"), _frame("PA", b"GET / HTTP/1.1\r\n\r\n"), _frame("FA")]
    cut = frames[2][:60]
    records = [
        PcapRecord(1700000000.500, frames[0]),
        PcapRecord(1700000000.501, frames[1]),
        PcapRecord(1700000000.502, cut, len(frames[2])),
        PcapRecord(1700000000.503, frames[3]),
    ]
    out = tmp_path / "x.pcap"
    out.write_bytes(pcap_bytes(records, linktype=1))
    packets = rdpcap(str(out))
    assert len(packets) == 4
    assert [str(p[TCP].flags) for p in packets] == ["S", "SA", "PA", "FA"]
    assert float(packets[0].time) == pytest.approx(1700000000.5, abs=1e-6)
    assert bytes(packets[1]) == frames[1]
    with PcapReader(str(out)) as reader:
        assert reader.linktype == 1
        third = list(reader)[2]
    assert third.wirelen == len(frames[2])
    assert len(bytes(third)) == 60


def test_stream_refuses_a_frame_over_snaplen() -> None:
    with pytest.raises(ValueError, match="snaplen"):
        b"".join(pcap_stream([PcapRecord(0.0, b"x" * 100)], 1, snaplen=64))


def test_empty_capture_is_a_valid_file(tmp_path: Path) -> None:
    out = tmp_path / "empty.pcap"
    out.write_bytes(pcap_bytes([], linktype=1))
    assert len(rdpcap(str(out))) == 0
