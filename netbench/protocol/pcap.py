"""Classic pcap files (what tcpdump -w writes), built in memory. Pure: no I/O.

Rules:
- little-endian, microsecond timestamps (magic 0xa1b2c3d4 written as
  d4 c3 b2 a1), version 2.4: the format every tool reads, tshark and
  Wireshark included;
- one link type per file, in the global header; records carry it implicitly,
  so the caller must not mix link types;
- `incl_len` is the bytes stored (the frame as captured, cut at the snap
  length), `orig_len` the frame's length on the wire, never less than
  `incl_len`; the global header's snaplen is at least every `incl_len`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import NamedTuple

__all__ = ["PcapRecord", "pcap_bytes", "pcap_header", "pcap_record", "pcap_stream"]

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
MAGIC = 0xA1B2C3D4
DEFAULT_SNAPLEN = 262144
"""tcpdump's default: larger than any frame netbench stores."""


class PcapRecord(NamedTuple):
    t: float
    """Unix seconds."""
    frame: bytes
    orig_len: int = 0
    """Length on the wire; 0 (or anything shorter) means `len(frame)`."""


def pcap_header(linktype: int, snaplen: int = DEFAULT_SNAPLEN) -> bytes:
    """The 24-byte global header."""
    return _GLOBAL.pack(MAGIC, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(record: PcapRecord) -> bytes:
    """One record: its 16-byte header, then the frame."""
    # Round to the microsecond, carrying into the seconds (0.9999997 -> 1.000000).
    micros = round(record.t * 1_000_000)
    seconds, usec = divmod(micros, 1_000_000)
    incl = len(record.frame)
    return _RECORD.pack(seconds, usec, incl, max(incl, record.orig_len)) + record.frame


def pcap_stream(
    records: Iterable[PcapRecord], linktype: int, snaplen: int = DEFAULT_SNAPLEN
) -> Iterator[bytes]:
    """The header, then one piece per record: a file of any size, written as it goes."""
    yield pcap_header(linktype, snaplen)
    for record in records:
        if len(record.frame) > snaplen:
            raise ValueError(f"frame of {len(record.frame)} bytes exceeds snaplen {snaplen}")
        yield pcap_record(record)


def pcap_bytes(
    records: Iterable[PcapRecord], linktype: int, snaplen: int = DEFAULT_SNAPLEN
) -> bytes:
    """A whole pcap file."""
    return b"".join(pcap_stream(records, linktype, snaplen))
