"""Capture in the CLI: `session export --pcap/--curl`, packet lines, --capture flags.

Packets here are built with scapy and fed through the store, so none of these
tests needs privileges; real capture is in tests/capture (privileged).
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import rdpcap

from netbench.cli.printer import EventPrinter
from netbench.events import (
    CaptureStatus,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    HttpRequestRecorded,
    PacketCaptured,
    ServerStarted,
    ServerStopped,
)
from netbench.model import Endpoint, EndReason, HttpRequest, Role, TcpPacket, Transport
from netbench.protocol.tcp_decode import decode
from netbench.store import SessionWriter

SERVER = Endpoint("127.0.0.1", 8000)
PEER = Endpoint("127.0.0.1", 50123)
T0 = 1_700_000_000.0


def tcp(src: Endpoint, dst: Endpoint, flags: str, t: float, data: bytes = b"") -> TcpPacket:
    frame = bytes(
        Ether()
        / IP(src=src.host, dst=dst.host)
        / TCP(sport=src.port, dport=dst.port, flags=flags, seq=100, ack=200)
        / Raw(data)
    )
    packet = decode(frame, t, 1)
    assert packet is not None
    return packet


LADDER = [
    tcp(PEER, SERVER, "S", T0),
    tcp(SERVER, PEER, "SA", T0 + 0.0001),
    tcp(PEER, SERVER, "PA", T0 + 0.0002, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    tcp(PEER, SERVER, "FA", T0 + 0.0003),
    tcp(SERVER, PEER, "FA", T0 + 0.0004),
]


def write_session(path: Path, events: list[Event]) -> Path:
    with SessionWriter(path, anchors=(time.monotonic(), T0)) as writer:
        for event in events:
            writer(event)
    return path


def http_events(t: float) -> list[Event]:
    request = HttpRequest(b"GET", b"/a?b=1", "1.1", ((b"Host", b"x"),), b"", 0)
    return [
        ServerStarted(1, "http", Transport.TCP, SERVER, t),
        ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, SERVER, PEER, t),
        HttpRequestRecorded(1, 1, 0, request, 0, 0, t, t),
    ]


def test_export_pcap_reads_back(tmp_path: Path, run_netbench: Callable[..., Any]) -> None:
    session = write_session(tmp_path / "s.sqlite", [PacketCaptured(p) for p in LADDER])
    out = tmp_path / "out.pcap"
    result = run_netbench("session", "export", str(session), "--pcap", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote 5 packets" in result.stderr
    packets = rdpcap(str(out))
    assert [str(p[TCP].flags) for p in packets] == ["S", "SA", "PA", "FA", "FA"]
    assert [bytes(p) for p in packets] == [p.frame for p in LADDER]
    assert float(packets[2].time) == pytest.approx(T0 + 0.0002, abs=1e-6)
    if shutil.which("tshark"):
        lines = subprocess.run(
            ["tshark", "-r", str(out)], capture_output=True, text=True, timeout=60, check=True
        ).stdout.splitlines()
        assert len(lines) == len(LADDER)


def test_export_pcap_to_stdout(tmp_path: Path, run_netbench: Callable[..., Any]) -> None:
    session = write_session(tmp_path / "s.sqlite", [PacketCaptured(LADDER[0])])
    result = subprocess.run(
        [sys.executable, "-m", "netbench", "session", "export", str(session), "--pcap", "-"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout[:4] == b"\xd4\xc3\xb2\xa1"
    assert len(result.stdout) == 24 + 16 + len(LADDER[0].frame)


@pytest.mark.parametrize(
    ("events", "why"),
    [
        ([], "capture was off"),
        (
            [CaptureStatus(False, 0.0, "packet capture needs root or CAP_NET_RAW; to enable...")],
            "capture: packet capture needs root or CAP_NET_RAW",
        ),
    ],
)
def test_export_without_packets_fails_clearly(
    tmp_path: Path, run_netbench: Callable[..., Any], events: list[Event], why: str
) -> None:
    session = write_session(tmp_path / "s.sqlite", events)
    out = tmp_path / "out.pcap"
    result = run_netbench("session", "export", str(session), "--pcap", str(out))
    assert result.returncode == 1
    assert result.stderr.startswith("netbench: error: no packets were captured in ")
    assert why in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not out.exists()


def test_export_curl(tmp_path: Path, run_netbench: Callable[..., Any]) -> None:
    session = write_session(tmp_path / "s.sqlite", http_events(time.monotonic()))
    result = run_netbench("session", "export", str(session), "--curl")
    assert result.returncode == 0, result.stderr
    # No chunks were recorded: the command is rebuilt from the parsed request,
    # curl's own User-Agent and Accept removed as the request had none.
    assert result.stdout.splitlines() == [
        "curl -H 'Host: x' -H User-Agent: -H Accept: 'http://127.0.0.1:8000/a?b=1'"
    ]
    assert "rebuilt from the parsed request" in result.stderr


def test_export_needs_a_format(tmp_path: Path, run_netbench: Callable[..., Any]) -> None:
    session = write_session(tmp_path / "s.sqlite", [])
    result = run_netbench("session", "export", str(session))
    assert result.returncode == 2
    assert "--pcap" in result.stderr


# -- the printer ---------------------------------------------------------------


def printed(events: list[Event], *, json_lines: bool = True) -> list[Any]:
    out = io.StringIO()
    printer = EventPrinter(json_lines=json_lines, out=out)
    for event in events:
        printer(event)
    lines = out.getvalue().splitlines()
    return [json.loads(line) for line in lines] if json_lines else lines


def test_packet_lines_name_their_connection() -> None:
    t = time.monotonic()
    stranger = tcp(Endpoint("127.0.0.1", 40000), SERVER, "S", T0)
    lines = printed(
        [
            ConnectionOpened(7, 1, Role.SERVER, Transport.TCP, SERVER, PEER, t),
            PacketCaptured(LADDER[1]),
            ConnectionClosed(7, EndReason.FIN_PEER, t, 0, 0),
            PacketCaptured(LADDER[4]),  # after the close: still connection 7
            PacketCaptured(stranger),
        ]
    )
    packets = [line for line in lines if line["event"] == "packet"]
    assert packets[0] == {
        "event": "packet",
        "ts": round(T0 + 0.0001, 6),
        "conn": 7,
        "src": "127.0.0.1:8000",
        "dst": "127.0.0.1:50123",
        "flags": "SA",
        "seq": 100,
        "ack": 200,
        "rel_seq": 0,
        "rel_ack": 1,
        "win": 8192,
        "len": 0,
    }
    assert [p["conn"] for p in packets] == [7, 7, None]


def scaled(
    src: Endpoint, dst: Endpoint, flags: str, seq: int, ack: int, window: int, t: float
) -> TcpPacket:
    """A packet as Linux sends them on loopback: SYNs announce window scale 7."""
    options = [("WScale", 7)] if "S" in flags else []
    frame = bytes(
        Ether()
        / IP(src=src.host, dst=dst.host)
        / TCP(
            sport=src.port,
            dport=dst.port,
            flags=flags,
            seq=seq,
            ack=ack,
            window=window,
            options=options,
        )
    )
    packet = decode(frame, t, 1)
    assert packet is not None
    return packet


def test_packet_lines_show_relative_numbers_and_scaled_windows_as_the_tcp_tab() -> None:
    isn_c, isn_s = 3_000_000_000, 4_000_000_000
    handshake = [
        scaled(PEER, SERVER, "S", isn_c, 0, 65495, T0),
        scaled(SERVER, PEER, "SA", isn_s, isn_c + 1, 65483, T0 + 0.0001),
        scaled(PEER, SERVER, "A", isn_c + 1, isn_s + 1, 512, T0 + 0.0002),
    ]
    t = time.monotonic()
    opened = ConnectionOpened(7, 1, Role.SERVER, Transport.TCP, SERVER, PEER, t)
    events: list[Event] = [opened, *(PacketCaptured(p) for p in handshake)]
    lines = printed(events, json_lines=False)[1:]
    tails = [line.split(" ", 5)[-1] for line in lines]
    assert tails == [
        "SYN seq=0 win=65495 len=0",
        "SYN-ACK seq=0 ack=1 win=65483 len=0",
        "ACK seq=1 ack=1 win=65536 len=0",  # 512 << 7, as both SYNs agreed
    ]
    json_lines = printed(events)[1:]
    assert [(j["rel_seq"], j["rel_ack"], j["win"]) for j in json_lines] == [
        (0, None, 65495),
        (0, 1, 65483),
        (1, 1, 65536),
    ]
    assert json_lines[2]["seq"] == isn_c + 1  # the raw numbers stay, as on the wire


def test_dual_stack_peer_names_match_the_wire() -> None:
    t = time.monotonic()
    mapped = Endpoint("::ffff:127.0.0.1", PEER.port)
    local = Endpoint("::ffff:127.0.0.1", SERVER.port)
    lines = printed(
        [
            ConnectionOpened(3, 1, Role.SERVER, Transport.TCP, local, mapped, t),
            PacketCaptured(LADDER[0]),
        ]
    )
    assert lines[-1]["conn"] == 3


def test_capture_status_lines() -> None:
    lines = printed(
        [
            CaptureStatus(False, time.monotonic(), "packet capture needs root; to enable it: x"),
            CaptureStatus(True, time.monotonic(), "capturing on lo", 4),
            CaptureStatus(False, time.monotonic(), "capture stopped", 4),
        ],
        json_lines=False,
    )
    assert lines[0].endswith(" capture off: packet capture needs root; to enable it: x")
    assert lines[1].endswith(" capturing on lo (4 packets dropped by the kernel)")
    assert lines[2].endswith(" capture stopped (4 packets dropped by the kernel)")


# -- serve's flags -------------------------------------------------------------


def test_no_capture_prints_no_capture_lines(start_serve: Callable[..., Any]) -> None:
    server = start_serve("echo", "--no-capture", "--no-record")
    assert server.stop() == 0
    assert not [e for e in server.drain() if e["event"] in ("capture", "packet")]


def test_capture_of_a_udp_server_is_refused(run_netbench: Callable[..., Any]) -> None:
    result = run_netbench("serve", "udp-echo", "--port", "0", "--capture")
    assert result.returncode == 1
    assert result.stderr == "netbench: error: --capture shows TCP packets; udp-echo is UDP\n"


def test_capture_and_no_capture_exclude_each_other(run_netbench: Callable[..., Any]) -> None:
    result = run_netbench("serve", "echo", "--capture", "--no-capture")
    assert result.returncode == 2


async def test_while_capturing_packets_print_in_time_order_among_the_lines() -> None:
    """The handshake's packets come ~30 ms behind the `open` line of the same
    moment; printed as they come, the timestamps ran backwards."""

    class Lines(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.four = asyncio.Event()

        def write(self, text: str) -> int:
            written = super().write(text)
            if self.getvalue().count("\n") >= 4:
                self.four.set()
            return written

    out = Lines()
    printer = EventPrinter(json_lines=True, out=out)
    now = time.monotonic()
    syn_at = printer.wall(now) - 0.002  # the SYN left before the server saw the connection
    printer(CaptureStatus(True, now - 0.01, "capturing on lo"))
    printer(ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, SERVER, PEER, now))
    printer(ConnectionClosed(1, EndReason.FIN_PEER, now + 0.001, 0, 0))
    await asyncio.sleep(0.03)  # the capture's batch arrives after both
    printer(PacketCaptured(tcp(PEER, SERVER, "S", syn_at)))
    assert out.getvalue() == ""  # all wait, the capture line too
    async with asyncio.timeout(2):
        await out.four.wait()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["capture", "packet", "open", "close"]
    assert [e["ts"] for e in events[1:]] == sorted(e["ts"] for e in events[1:])
    printer(ServerStopped(1, time.monotonic()))  # ctrl+c: the server stops, then capture
    printer(CaptureStatus(False, time.monotonic(), "capture stopped"))
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()[-2:]] == [
        "stopped",
        "capture",
    ]
    printer(ConnectionOpened(2, 1, Role.SERVER, Transport.TCP, SERVER, PEER, time.monotonic()))
    assert json.loads(out.getvalue().splitlines()[-1])["event"] == "open"  # at once again
