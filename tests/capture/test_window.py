"""The young-connection data window: which segments the capture filter passes."""

from __future__ import annotations

import pytest

from netbench.capture.window import BARE_ACK, CONTROL_FILTER, OPEN_CLOSE, DataWindow
from netbench.model import Endpoint, TcpPacket

CONTROL = f"inbound and tcp and {CONTROL_FILTER}"


def segment(src: int, dst: int, flags: str = "PA", length: int = 10, t: float = 0.0) -> TcpPacket:
    return TcpPacket(
        t=t,
        src=Endpoint("127.0.0.1", src),
        dst=Endpoint("127.0.0.1", dst),
        flags=flags,
        seq=1,
        ack=1,
        window=65535,
        payload_len=length,
        payload_head=b"x" * min(length, 32),
        frame=b"",
    )


def test_without_data_ports_only_control_packets_pass() -> None:
    assert DataWindow().filter() == CONTROL
    assert DataWindow((8000,), ()).filter() == (
        f"inbound and tcp and (port 8000) and {CONTROL_FILTER}"
    )


def test_young_connections_data_passes_for_watched_ports() -> None:
    window = DataWindow((), (9000, 8000, 8000))
    assert window.filter() == f"{CONTROL} or (inbound and tcp and (port 8000 or port 9000))"


def test_a_connection_turns_old_after_its_young_segments_and_its_port_is_excluded() -> None:
    window = DataWindow((), (8000,), young_segments=4)
    for n in range(3):
        window.observe(segment(51000, 8000, t=n * 0.01), n * 0.01)
        window.observe(segment(8000, 51001, t=n * 0.01), n * 0.01)  # the other direction counts too
    assert window.change() is None  # still young: the filter stays
    window.observe(segment(51000, 8000), 0.05)
    assert window.change() == (
        f"{CONTROL} or (inbound and tcp and (port 8000) and not (port 51000))"
    )
    assert window.change() is None  # reported once
    window.observe(segment(8000, 51001), 0.06)
    assert "not (port 51000 or port 51001)" in window.filter()


def test_closing_forgets_an_old_connection_so_its_port_may_be_reused() -> None:
    window = DataWindow((), (8000,), young_segments=1)
    window.observe(segment(51000, 8000), 0.0)
    assert "not (port 51000)" in window.filter()
    window.observe(segment(51000, 8000, flags="FA", length=0), 0.1)
    assert "not" not in window.filter()
    window.observe(segment(51002, 8000, flags="R", length=0), 0.2)  # an unknown RST: harmless
    assert "not" not in window.filter()


def test_bare_acks_and_other_ports_do_not_age_a_connection() -> None:
    window = DataWindow((), (8000,), young_segments=2)
    for _ in range(10):
        window.observe(segment(51000, 8000, flags="A", length=0), 0.0)
        window.observe(segment(51000, 9999), 0.0)
    assert "not" not in window.filter()


def test_over_budget_data_pauses_until_the_cooldown_ends() -> None:
    window = DataWindow((), (8000,), budget=5, window=1.0, cooldown=2.0)
    for n in range(6):
        window.observe(segment(50000 + n, 8000), 0.1 * n)
    assert window.paused == "data paused: over 5 data segments/s"
    assert window.change() == CONTROL
    window.tick(1.0)
    assert window.paused  # still cooling down
    window.tick(2.6)
    assert window.paused == ""
    assert window.change() == f"{CONTROL} or (inbound and tcp and (port 8000))"


def test_a_budget_spread_over_windows_does_not_pause() -> None:
    window = DataWindow((), (8000,), budget=5, window=1.0)
    for n in range(20):
        window.observe(segment(51000 + n, 8000), n * 0.5)  # 2 per second
    assert window.paused == ""


def test_too_many_old_connections_pause_data_until_some_close() -> None:
    window = DataWindow((), (8000,), young_segments=1, max_old=3)
    for n in range(4):
        window.observe(segment(51000 + n, 8000), 0.0)
    assert window.paused == "data paused: over 3 long-lived connections"
    assert window.filter() == CONTROL
    window.observe(segment(51000, 8000, flags="FA", length=0), 0.1)
    assert window.paused == ""
    assert "not (port 51001 or port 51002 or port 51003)" in window.filter()


def test_a_flood_of_new_connections_pauses_bare_acks_but_never_syn_fin_rst() -> None:
    window = DataWindow((), (8000,), connection_budget=4, window=1.0, cooldown=2.0)
    for n in range(4):
        window.observe(segment(50000 + n, 8000, flags="S", length=0), 0.1 * n)
    assert window.paused == ""
    window.observe(segment(50004, 8000, flags="S", length=0), 0.5)
    assert window.paused == "bare ACKs and data paused: over 4 new connections/s"
    assert window.change() == f"inbound and tcp and {OPEN_CLOSE}"
    assert OPEN_CLOSE in DataWindow().filter() and BARE_ACK in DataWindow().filter()
    window.tick(2.6)
    assert window.change() == f"{CONTROL} or (inbound and tcp and (port 8000))"


def test_young_segments_none_captures_every_data_segment() -> None:
    window = DataWindow((), (8000,), young_segments=None)
    for _ in range(100):
        window.observe(segment(51000, 8000), 0.0)
    assert window.filter() == f"{CONTROL} or (inbound and tcp and (port 8000))"


def test_watch_replaces_the_ports_and_forgets_the_others_connections() -> None:
    window = DataWindow((), (8000,), young_segments=1)
    window.observe(segment(51000, 8000), 0.0)
    window.watch((9000,))
    assert window.filter() == f"{CONTROL} or (inbound and tcp and (port 9000))"
    window.watch(())
    assert window.filter() == CONTROL


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_bad_ports_are_refused(port: int) -> None:
    with pytest.raises(ValueError, match="not a TCP port"):
        DataWindow((port,))


def test_the_filters_compile_with_libpcap() -> None:
    compiler = pytest.importorskip("scapy.arch.common")
    window = DataWindow((8000,), (8000, 9000), young_segments=1)
    for n in range(24):
        window.observe(segment(40000 + n, 8000), 0.0)
    try:
        for bpf in (DataWindow().filter(), DataWindow((), (8000,)).filter(), window.filter()):
            compiler.free_filter(compiler.compile_filter(bpf, linktype=1))
    except ImportError:
        pytest.skip("libpcap is not installed (apt-get install libpcap0.8)")
