"""The TCP tab: the ladder diagram, its explanations, the inferred fallback.

The ladder runs inside the real app, opened read-only on a recorded session:
the demo session (demo_session.py, no capture) or one holding packets built
without scapy (demo_packets.py). Packets are also given to the widget
directly (`show_packets`), and live ones by a writer appending to the session.
Update the SVG on purpose with `pytest tests/ui/test_tcp_tab.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from demo_packets import (
    CLIENT,
    REQUEST,
    RESPONSE,
    SERVER,
    escaped_echo,
    page_fetch,
    page_fetch_events,
    segment,
    write_capture_session,
)
from demo_session import MONO, WALL, write_demo_session
from textual.app import ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static
from uikit import started

from netbench.capture.preflight import no_privilege
from netbench.engine.engine import load_test_jpeg
from netbench.events import CaptureStatus, PacketCaptured
from netbench.model import Direction, Endpoint, Role
from netbench.store import SessionWriter
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.ladder_model import flag_label
from netbench.ui.messages import Selection
from netbench.ui.widgets.tcp_ladder import BANNER, LadderLines, TcpLadder

SIZE = (120, 30)


class LadderScreen(Screen[None]):
    """The ladder alone, catching what it posts (the main screen wires it for real)."""

    def __init__(self) -> None:
        super().__init__()
        self.selected: list[TcpLadder.SegmentSelected] = []

    def compose(self) -> ComposeResult:
        yield TcpLadder(id="tcp-ladder")

    def on_tcp_ladder_segment_selected(self, message: TcpLadder.SegmentSelected) -> None:
        self.selected.append(message)


@dataclass
class Bench:
    app: NetbenchApp
    pilot: Pilot[int]
    screen: LadderScreen

    @property
    def ladder(self) -> TcpLadder:
        return self.screen.query_one(TcpLadder)

    def lines(self) -> list[str]:
        """Every line of the ladder as text, header first."""
        view = self.ladder.query_one(LadderLines)
        view.scroll_to(y=0, animate=False, force=True)
        return [view.render_line(y).text for y in range(len(self.ladder.rows) + 1)]

    def text(self, selector: str) -> str:
        return str(self.ladder.query_one(selector, Static).content)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return write_demo_session(tmp_path / "demo.netbench.sqlite", load_test_jpeg())


@asynccontextmanager
async def opened(session: Path) -> AsyncIterator[Bench]:
    """The app on `session`, read-only, with the ladder on top and focused."""
    app = NetbenchApp(AppConfig(open_path=session))
    async with app.run_test(size=SIZE) as pilot:
        await started(app)
        await pilot.pause()
        screen = LadderScreen()
        await app.push_screen(screen)
        await pilot.pause()
        screen.query_one(TcpLadder).focus()
        yield Bench(app, pilot, screen)


@pytest.fixture
async def bench(demo: Path) -> AsyncIterator[Bench]:
    async with opened(demo) as bench:
        yield bench


@pytest.mark.parametrize(
    ("flags", "label"),
    [("S", "SYN"), ("SA", "SYN-ACK"), ("A", "ACK"), ("PA", "PSH-ACK"), ("FA", "FIN-ACK"),
     ("R", "RST"), ("RA", "RST-ACK"), ("FPA", "FIN-PSH-ACK"), ("SEC", "SYN-ECE-CWR"), ("", "no flags")],
)  # fmt: skip
def test_flag_labels(flags: str, label: str) -> None:
    assert flag_label(flags) == label


async def test_lanes_are_labelled_by_role_and_port(bench: Bench) -> None:
    bench.ladder.show_packets(CLIENT, SERVER, page_fetch(), page_fetch_events(), conn_id=1)
    await bench.pilot.pause()
    header = bench.lines()[0]
    assert "client :50412" in header
    assert "server :8000" in header
    assert "netbench is the server" in header
    assert header.index("client :50412") < header.index("server :8000")
    assert not bench.ladder.inferred


async def test_handshake_arrows_in_order_with_relative_numbers(bench: Bench) -> None:
    bench.ladder.show_packets(CLIENT, SERVER, page_fetch(), page_fetch_events(), conn_id=1)
    await bench.pilot.pause()
    syn, syn_ack, ack = bench.lines()[1:4]
    assert "SYN seq=0 win=65483 len=0" in syn and "▶" in syn and "◀" not in syn
    assert "SYN-ACK seq=0 ack=1 " in syn_ack and "◀" in syn_ack and "▶" not in syn_ack
    assert "ACK seq=1 ack=1 " in ack and "▶" in ack
    assert "0.000" in syn and "0.021" in syn_ack  # Δt in ms since the SYN
    text = "\n".join(bench.lines())
    # The socket's own events sit between the packets, after the ACK they follow.
    assert text.index("SYN-ACK") < text.index("accept()") < text.index("PSH-ACK")
    assert text.index("FIN received") < text.index("close()")


async def test_selecting_the_syn_ack_explains_it(bench: Bench) -> None:
    bench.ladder.show_packets(CLIENT, SERVER, page_fetch(), page_fetch_events(), conn_id=1)
    await bench.pilot.pause()
    assert bench.ladder.cursor == 0
    await bench.pilot.press("down")
    assert bench.ladder.cursor == 1
    explanation = bench.text("#tcp-explain")
    assert "SYN-ACK" in explanation
    assert "ISN + 1" in explanation
    await bench.pilot.press("up")
    assert bench.text("#tcp-explain").startswith("SYN: the client asks")


async def test_the_selected_step_stays_on_screen_when_its_explanation_grows(
    demo: Path,
) -> None:
    app = NetbenchApp(AppConfig(open_path=demo))
    async with app.run_test(size=(100, 16)) as pilot:  # a short terminal: the ladder scrolls
        await pilot.pause()
        screen = LadderScreen()
        await app.push_screen(screen)
        ladder = screen.query_one(TcpLadder)
        ladder.focus()
        ladder.show_packets(CLIENT, SERVER, page_fetch(), page_fetch_events(), conn_id=1)
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        await pilot.pause()
        view = ladder.query_one(LadderLines)
        top, height = round(view.scroll_y), view.scrollable_content_region.height - 1
        assert ladder.cursor == len(ladder.rows) - 1
        assert top <= ladder.cursor < top + height, (top, height, ladder.cursor)


async def test_payload_bytes_are_escaped_and_marks_shown(bench: Bench) -> None:
    bench.ladder.show_packets(CLIENT, SERVER, escaped_echo(), conn_id=4)
    await bench.pilot.pause()
    lines = bench.lines()
    data = [line for line in lines if "PSH-ACK" in line]
    assert len(data) == 3
    assert all('"␛[31mred␛[0m␍␊"' in line for line in data)
    assert "retransmission" in data[1] and "retransmission" not in data[0]
    assert "RST" in lines[-1]
    assert not any("\x1b" in line or "\r" in line for line in lines)


async def test_a_click_selects_a_step_and_focuses_the_ladder(bench: Bench) -> None:
    bench.ladder.show_packets(CLIENT, SERVER, page_fetch(), page_fetch_events(), conn_id=1)
    bench.ladder.blur()
    await bench.pilot.pause()
    assert not bench.ladder.has_focus
    await bench.pilot.click(LadderLines, offset=(20, 3))  # line 0 is the header
    await bench.pilot.pause()
    assert bench.ladder.has_focus
    assert bench.ladder.cursor == 2
    assert bench.text("#tcp-explain").startswith("ACK: the client acknowledges the server's SYN")


async def test_data_steps_and_chunks_highlight_each_other(bench: Bench) -> None:
    ladder = bench.ladder
    ladder.show_packets(CLIENT, SERVER, page_fetch(), page_fetch_events(), conn_id=1)
    await bench.pilot.pause()
    request_row = next(i for i, line in enumerate(bench.lines()[1:]) if "GET /" in line)
    for _ in range(request_row):
        await bench.pilot.press("down")
    await bench.pilot.pause()
    [message] = bench.screen.selected
    assert (message.conn_id, message.direction) == (1, Direction.IN)
    assert message.stream_offset_range == range(len(REQUEST))
    # The Bytes tab selected the response chunk: its segment is highlighted and selected.
    assert ladder.highlight_offsets(Direction.OUT, 0, len(RESPONSE))
    assert "HTTP/1.1 200 OK" in bench.lines()[ladder.cursor + 1]
    assert ladder.highlighted == frozenset({ladder.cursor})
    # Selecting a chunk the selected segment carried does not move the selection.
    cursor = ladder.cursor
    assert ladder.highlight_offsets(Direction.OUT, 10, 20)
    assert ladder.cursor == cursor
    assert not ladder.highlight_offsets(Direction.IN, 10_000, 10_010)


async def test_a_client_connection_puts_netbench_on_the_left(bench: Bench) -> None:
    ladder = bench.ladder
    ladder.show_packets(CLIENT, SERVER, page_fetch(), role=Role.CLIENT, conn_id=7)
    await bench.pilot.pause()
    assert "netbench is the client" in bench.lines()[0]
    request_row = next(i for i, line in enumerate(bench.lines()[1:]) if "GET /" in line)
    ladder.select(request_row)
    await bench.pilot.pause()
    assert bench.screen.selected[-1].direction is Direction.OUT


async def test_without_packets_the_socket_events_are_inferred(bench: Bench) -> None:
    ladder = bench.ladder
    ladder.show(Selection(1))  # the demo session recorded no packets
    await bench.pilot.pause(0.3)
    assert ladder.inferred
    banner = bench.text("#tcp-banner")
    assert banner == f"{BANNER} The session holds none of its packets and no capture status."
    assert ladder.query_one("#tcp-banner").display
    lines = bench.lines()
    assert "inferred" in lines[0]
    body = "\n".join(lines[1:])
    assert "accept() · handshake done" in body and "data 195 B · chunk #0" in body
    assert "▶" not in body and "◀" not in body  # dashed, hollow: no packet drawn
    assert "SYN" not in body and "seq=" not in body  # never invented
    await bench.pilot.press("down")
    assert "no packet was captured" in bench.text("#tcp-explain")
    # An inferred data step still points at its bytes.
    assert bench.screen.selected[-1].stream_offset_range == range(195)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (CaptureStatus(False, MONO, str(no_privilege())), str(no_privilege())),
        (
            CaptureStatus(True, MONO, "in-process on lo", 12),
            "Capture runs (in-process on lo) but saw none of its packets;"
            " the kernel dropped 12 packets.",
        ),
    ],
)
async def test_the_banner_says_why_capture_saw_nothing(
    tmp_path: Path, status: CaptureStatus, reason: str
) -> None:
    session = write_capture_session(tmp_path / "s.sqlite", packets=False, status=status)
    async with opened(session) as bench:
        bench.ladder.show(Selection(1))
        await bench.pilot.pause(0.3)
        assert bench.ladder.inferred
        assert bench.text("#tcp-banner") == f"{BANNER} {reason}"


async def test_a_recorded_capture_is_drawn_from_the_session(tmp_path: Path) -> None:
    session = write_capture_session(tmp_path / "s.sqlite")
    async with opened(session) as bench:
        bench.ladder.show(Selection(1))
        await bench.pilot.pause(0.3)
        assert not bench.ladder.inferred
        assert not bench.ladder.query_one("#tcp-banner").display
        from_store = bench.lines()
        bench.ladder.show_packets(CLIENT, SERVER, page_fetch(), page_fetch_events(), conn_id=1)
        await bench.pilot.pause()
        assert from_store == bench.lines()
        assert len(from_store) == 1 + 10 + 3  # header, packets, socket events


async def test_headers_only_segments_show_their_bytes_from_the_session(tmp_path: Path) -> None:
    full = write_capture_session(tmp_path / "full.sqlite")
    bare = write_capture_session(tmp_path / "bare.sqlite", headers_only=True)
    drawn = []
    for session in (full, bare):
        async with opened(session) as bench:
            bench.ladder.show(Selection(1))
            await bench.pilot.pause(0.3)
            drawn.append(bench.lines())
    assert any('"GET / HTTP/1.1␍␊Host' in line for line in drawn[1])
    assert any('"HTTP/1.1 200 OK␍␊' in line for line in drawn[1])
    assert drawn[0] == drawn[1]


async def test_live_packets_refresh_the_ladder(tmp_path: Path) -> None:
    # The session grows under the open ladder: a recorder appends to the file
    # and the app's follower tells the ladder, which reloads when what it is
    # made of changed (and only then).
    session = write_capture_session(tmp_path / "live.sqlite", packets=False)
    async with opened(session) as bench:
        ladder = bench.ladder
        ladder.show(Selection(1))
        await bench.pilot.pause(0.3)
        assert ladder.inferred
        writer = SessionWriter(session, anchors=(MONO, WALL))
        writer.open()
        try:
            bench.app.follower.follow(writer)
            writer(CaptureStatus(True, MONO, "via capture agent"))
            await until(bench, lambda: "Capture runs (via capture agent)" in banner(bench))
            other = segment(0, True, "S", 0, 0)._replace(src=Endpoint("127.0.0.1", 1))
            told = bench.app.follower.notified
            writer(PacketCaptured(other))
            await until(bench, lambda: bench.app.follower.notified > told)
            await bench.pilot.pause(0.1)
            assert ladder.inferred  # not this connection's packet: no reload
            for packet in page_fetch()[:3]:
                writer(PacketCaptured(packet))
            await until(bench, lambda: not ladder.inferred)
        finally:
            writer.close()
        assert not ladder.query_one("#tcp-banner").display
        syn, syn_ack, ack = bench.lines()[1:4]
        assert "SYN seq=0" in syn and "SYN-ACK seq=0 ack=1" in syn_ack and "ACK seq=1" in ack


def banner(bench: Bench) -> str:
    return bench.text("#tcp-banner")


async def until(bench: Bench, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await bench.pilot.pause(0.05)


async def test_ten_thousand_packets_stay_responsive(bench: Bench) -> None:
    packets = page_fetch()[:3]
    for n in range(10_000):
        packets.append(segment(1 + n * 0.01, n % 2 == 0, "PA", 1 + 100 * (n // 2), 1, b"x" * 100))
    started = time.perf_counter()
    bench.ladder.show_packets(CLIENT, SERVER, packets, conn_id=1)
    await bench.pilot.pause()
    await bench.pilot.press("end")
    await bench.pilot.pause()
    assert time.perf_counter() - started < 2.0
    assert bench.ladder.cursor == len(bench.ladder.rows) - 1 >= 10_000
    assert bench.ladder.highlight_offsets(Direction.IN, 250_000, 250_001)
    assert "seq=250001 " in bench.lines()[bench.ladder.cursor + 1]


def test_bindings_have_ids_and_descriptions() -> None:
    for binding in TcpLadder.BINDINGS:
        assert not isinstance(binding, tuple)
        assert binding.id is not None and binding.id.startswith("tcp.")
        assert binding.description


def test_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[int]) -> None:
        screen = LadderScreen()
        await pilot.app.push_screen(screen)
        await pilot.pause()
        ladder = screen.query_one(TcpLadder)
        ladder.show(Selection(1))
        ladder.focus()
        await pilot.pause(0.3)
        await pilot.press("down")

    app = NetbenchApp(AppConfig(open_path=write_capture_session(tmp_path / "s.sqlite")))
    assert snap_compare(app, terminal_size=(110, 22), run_before=run_before)
