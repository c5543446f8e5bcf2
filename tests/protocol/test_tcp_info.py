"""Decoding the kernel's socket views: struct tcp_info and /proc/net/tcp lines."""

from __future__ import annotations

import struct

from netbench.protocol.tcp_info import parse_proc_net_tcp, parse_tcp_info

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def test_tcp_info_fields_are_read_at_their_offsets() -> None:
    raw = bytearray(240)
    raw[0] = 1  # ESTABLISHED
    raw[3] = 2  # probes
    struct.pack_into("=I", raw, 24, 3)  # unacked
    struct.pack_into("=I", raw, 100, 4)  # total_retrans
    struct.pack_into("=Q", raw, 128, 5)  # bytes_received
    struct.pack_into("=I", raw, 228, 0)  # snd_wnd
    struct.pack_into("=I", raw, 232, 65536)  # rcv_wnd
    info = parse_tcp_info(bytes(raw))
    assert (info.state, info.probes, info.unacked, info.total_retrans) == ("ESTABLISHED", 2, 3, 4)
    assert (info.bytes_received, info.snd_wnd, info.rcv_wnd) == (5, 0, 65536)


def test_fields_an_old_kernel_does_not_report_are_none_not_zero() -> None:
    info = parse_tcp_info(bytes([6]) + bytes(103))  # a 104-byte tcp_info (Linux 3.x)
    assert info.state == "TIME_WAIT"
    assert info.total_retrans == 0
    assert info.snd_wnd is None and info.bytes_received is None


def test_proc_net_tcp_lines_give_states_queues_and_addresses() -> None:
    text = HEADER + (
        "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000002 00:00000000 00000000  1000        0 4242 1\n"
        "   1: 0100007F:9C40 0100007F:1F40 06 00000000:00000000 03:00001770 00000000     0        0 0 3\n"
    )
    listener, waiting = parse_proc_net_tcp(text)
    assert (listener.local_host, listener.local_port, listener.state) == (
        "127.0.0.1",
        8000,
        "LISTEN",
    )
    assert (listener.rx_queue, listener.uid, listener.inode) == (2, 1000, 4242)
    assert (waiting.state, waiting.local_port, waiting.remote_port, waiting.inode) == (
        "TIME_WAIT", 40000, 8000, 0,
    )  # fmt: skip


def test_proc_net_tcp6_loopback_and_mapped_addresses() -> None:
    text = HEADER + (
        "   0: 00000000000000000000000001000000:1F40 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000     0        0 1 1\n"
        "   1: 0000000000000000FFFF00000100007F:1F41 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000     0        0 2 1\n"
        "garbage line\n"
    )
    loopback, mapped = parse_proc_net_tcp(text)
    assert (loopback.local_host, loopback.local_port) == ("::1", 8000)
    assert (mapped.local_host, mapped.local_port) == ("127.0.0.1", 8001)
