"""Real capture on loopback: an in-process engine, real connections, LoopbackCapture.

Needs root (or CAP_NET_RAW) and libpcap; skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from capturekit import PRIVILEGED, Recorder, needs_tshark

from netbench.capture import LoopbackCapture, start_capture
from netbench.engine.engine import Engine
from netbench.events import CaptureStatus
from netbench.model import TcpPacket
from netbench.store import SessionReader, SessionWriter
from netbench.store.packets import packet_count

pytestmark = PRIVILEGED

Starter = Callable[..., Any]


@pytest.fixture
async def capture(engine: Engine, recorder: Recorder) -> AsyncIterator[Starter]:
    """`await capture(ports=(p,))`: a running LoopbackCapture."""
    started: list[LoopbackCapture] = []

    async def start(**options: Any) -> LoopbackCapture:
        running = LoopbackCapture(engine.ctx, **options)
        started.append(running)
        running.start()
        await recorder.until(lambda: any(s.running for s in recorder.of(CaptureStatus)))
        return running

    yield start
    for running in started:
        running.stop()


async def fetch(port: int, path: str = "/") -> tuple[int, bytes]:
    """One HTTP/1.1 request with `Connection: close`; (client port, response)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client_port = writer.get_extra_info("sockname")[1]
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 5.0)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return client_port, response


def by_connection(packets: list[TcpPacket], server_port: int) -> dict[int, list[TcpPacket]]:
    """The packets of each connection to `server_port`, keyed by the client's port."""
    ladders: dict[int, list[TcpPacket]] = defaultdict(list)
    for packet in packets:
        if packet.dst.port == server_port:
            ladders[packet.src.port].append(packet)
        elif packet.src.port == server_port:
            ladders[packet.dst.port].append(packet)
    return ladders


def both_fins_seen(recorder: Recorder, port: int, count: int) -> Callable[[], bool]:
    def done() -> bool:
        ladders = by_connection(recorder.packets, port)
        fins = [sum("F" in p.flags for p in ladder) for ladder in ladders.values()]
        return len(fins) >= count and all(n >= 2 for n in fins)

    return done


async def test_handshake_data_and_teardown(
    capture: Starter, recorder: Recorder, http_port: int
) -> None:
    await capture(ports=(http_port,))
    clients = [await fetch(http_port) for _ in range(3)]
    await recorder.until(both_fins_seen(recorder, http_port, 3))
    ladders = by_connection(recorder.packets, http_port)
    assert sorted(ladders) == sorted(port for port, _ in clients)
    for client_port, ladder in ladders.items():
        flags = [p.flags for p in ladder]
        # SYN, SYN-ACK, ACK, the request, the response, FIN/ACKs, the last ACK.
        assert flags[:4] == ["S", "SA", "A", "PA"], flags
        assert flags.count("S") == 1, flags  # loopback duplicates removed
        request, response = [p for p in ladder if p.payload_len][:2]
        assert request.src.port == client_port
        assert request.payload_head.startswith(b"GET / HTTP/1.1\r\n")
        assert response.src.port == http_port
        assert response.payload_head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert {p.src.port for p in ladder if "F" in p.flags} == {client_port, http_port}
        assert ladder.index(response) < min(n for n, p in enumerate(ladder) if "F" in p.flags)
        assert flags[-1] == "A"  # the teardown's last ACK
        # The handshake's numbers, as the ladder will show them.
        syn, syn_ack, ack = ladder[:3]
        assert syn_ack.ack == (syn.seq + 1) % 2**32
        assert ack.ack == (syn_ack.seq + 1) % 2**32


async def test_control_packets_only_without_data_ports(
    capture: Starter, recorder: Recorder, http_port: int
) -> None:
    await capture(ports=(http_port,), data_ports=())
    client_port, _ = await fetch(http_port)
    await recorder.until(both_fins_seen(recorder, http_port, 1))
    await asyncio.sleep(0.1)  # anything else would have arrived by now
    ladder = by_connection(recorder.packets, http_port)[client_port]
    assert [p.flags for p in ladder][:3] == ["S", "SA", "A"]  # the whole handshake
    assert all(set(p.flags) & set("SFR") or p.flags == "A" for p in ladder), [
        p.flags for p in ladder
    ]
    assert not any(p.payload_len for p in ladder if "F" not in p.flags)  # no data segments
    assert ladder[-1].flags == "A"  # the teardown's last ACK


async def test_an_old_connections_data_is_no_longer_captured(
    capture: Starter, recorder: Recorder, http_port: int
) -> None:
    from netbench.capture.window import YOUNG_SEGMENTS

    await capture(ports=(http_port,))
    reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
    client_port = writer.get_extra_info("sockname")[1]

    async def exchange(count: int) -> None:
        for _ in range(count):
            writer.write(b"GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n")
            await reader.readuntil(b"</html>")

    def data_segments() -> int:
        ladder = by_connection(recorder.packets, http_port)[client_port]
        return sum(1 for p in ladder if p.payload_len)

    await exchange(YOUNG_SEGMENTS)  # twice as many segments: it turns old on the way
    await recorder.until(lambda: data_segments() >= YOUNG_SEGMENTS)
    await asyncio.sleep(0.1)  # the filter swap lands within one ring wakeup
    young = data_segments()
    await exchange(20)
    writer.close()
    await recorder.until(both_fins_seen(recorder, http_port, 1))
    assert data_segments() == young  # none of the 40 later segments reached Python


async def test_refused_connection_is_syn_then_rst(capture: Starter, recorder: Recorder) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    await capture(ports=(closed_port,))
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", closed_port)
    await recorder.until(lambda: any("R" in p.flags for p in recorder.packets))
    flags = [p.flags for p in recorder.packets]
    assert flags == ["S", "RA"]


async def test_burst_of_200_connections_is_captured_whole(
    capture: Starter, recorder: Recorder, http_port: int
) -> None:
    running = await capture(ports=(http_port,))
    results = await asyncio.gather(*(fetch(http_port) for _ in range(200)))
    assert len({port for port, _ in results}) == 200
    await recorder.until(both_fins_seen(recorder, http_port, 200), timeout=15.0)
    await asyncio.sleep(2 * running.stats_interval)  # one more look at the drop counter
    ladders = by_connection(recorder.packets, http_port)
    assert len(ladders) == 200
    assert all([p.flags for p in ladder].count("S") == 1 for ladder in ladders.values())
    assert running._sniffer.read_drops() == 0
    assert all(status.dropped == 0 for status in recorder.of(CaptureStatus))


async def test_stop_is_prompt_and_idempotent(capture: Starter, recorder: Recorder) -> None:
    running = await capture()
    loop = asyncio.get_running_loop()
    start = loop.time()
    running.stop()
    running.stop()
    assert loop.time() - start < 1.0
    final = recorder.of(CaptureStatus)[-1]
    assert (final.running, final.detail) == (False, "capture stopped")


async def test_start_capture_runs_in_process_when_privileged(
    engine: Engine, recorder: Recorder, http_port: int
) -> None:
    handle = start_capture(engine.ctx, ports=(http_port,))
    try:
        await recorder.until(lambda: recorder.of(CaptureStatus))
        status = recorder.of(CaptureStatus)[0]
        assert status.running, status
        assert "in-process" in status.detail
        await fetch(http_port)
        await recorder.until(both_fins_seen(recorder, http_port, 1))
    finally:
        handle.stop()


@needs_tshark
async def test_exported_pcap_has_every_packet_for_tshark(
    tmp_path: Path,
    engine: Engine,
    capture: Starter,
    recorder: Recorder,
    http_port: int,
    run_netbench: Callable[..., Any],
) -> None:
    session = tmp_path / "s.netbench.sqlite"
    writer = SessionWriter(session)
    writer.open()
    engine.ctx.bus.subscribe(writer)
    running = await capture(ports=(http_port,))
    for path in ("/", "/test.jpg", "/missing"):
        await fetch(http_port, path)
    await recorder.until(both_fins_seen(recorder, http_port, 3))
    await asyncio.sleep(0.1)
    running.stop()
    await asyncio.to_thread(writer.close)
    with SessionReader(session) as reader:
        stored = packet_count(reader)
    assert stored == len(recorder.packets) > 20

    out = tmp_path / "out.pcap"
    result = await asyncio.to_thread(
        run_netbench, "session", "export", str(session), "--pcap", str(out)
    )
    assert result.returncode == 0, result.stderr
    tshark = await asyncio.to_thread(
        subprocess.run,
        ["tshark", "-r", str(out), "-T", "fields", "-e", "tcp.flags"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    shown = tshark.stdout.splitlines()
    assert len(shown) == stored
    assert shown.count("0x0002") == 3  # one SYN per connection, as tshark reads it


async def test_without_the_ring_frames_come_by_recvmsg(
    capture: Starter, recorder: Recorder, http_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netbench.capture.ring import PacketRing

    def refuse(self: PacketRing) -> None:
        raise OSError("no ring here")

    monkeypatch.setattr(PacketRing, "attach", refuse)
    running = await capture(ports=(http_port,))
    assert not running._sniffer.ring
    client_port, _ = await fetch(http_port)
    await recorder.until(both_fins_seen(recorder, http_port, 1))
    flags = [p.flags for p in by_connection(recorder.packets, http_port)[client_port]]
    assert flags[:2] == ["S", "SA"]
    assert flags.count("S") == 1


async def test_frames_are_cut_at_the_snap_length_by_the_kernel(
    capture: Starter, recorder: Recorder, http_port: int
) -> None:
    running = await capture(ports=(http_port,))
    assert running._sniffer.ring
    await fetch(http_port, "/test.jpg")  # a response of ~14 kB
    await recorder.until(both_fins_seen(recorder, http_port, 1))
    big = [p for p in recorder.packets if p.payload_len > 1000]
    assert big, [p.payload_len for p in recorder.packets]
    assert all(len(p.frame) == 256 for p in big)
    assert running._sniffer.read_drops() == 0


async def test_ipv6_connections_are_captured_once(
    engine: Engine, capture: Starter, recorder: Recorder
) -> None:
    from netbench.engine.config import default_config

    try:
        server = await engine.start_server(default_config("echo", host="::1", port=0))
    except Exception as exc:  # a host without IPv6 on lo
        pytest.skip(f"no IPv6 loopback here: {exc}")
    port = server.address.port
    await capture(ports=(port,))
    reader, writer = await asyncio.open_connection("::1", port)
    writer.write(b"ping")
    await asyncio.wait_for(reader.readexactly(4), 5.0)
    writer.close()
    await recorder.until(both_fins_seen(recorder, port, 1))
    [ladder] = by_connection(recorder.packets, port).values()
    assert [p.flags for p in ladder][:2] == ["S", "SA"]
    assert [p.flags for p in ladder].count("S") == 1
    assert {p.src.host for p in ladder} == {"::1"}
