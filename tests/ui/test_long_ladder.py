"""The TCP tab of a long connection: loaded when seen, drawn from its two ends.

A keep-alive connection of 20,000 exchanges (40,000 chunks) written through
`SessionWriter`, opened in the real app and selected in the traffic list as
a user does (Enter), with the TCP tab hidden and then shown.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from demo_packets import CLIENT, SERVER, T0, segment
from demo_session import MONO, WALL
from sessionkit import long_connection, long_request, long_response
from textual.pilot import Pilot
from textual.widgets import TabbedContent
from uikit import started

from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    PacketCaptured,
    ServerStarted,
)
from netbench.model import Direction, EndReason, Role, Transport
from netbench.store import SessionWriter
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.byte_layout import PAGE, REGION
from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.tcp_ladder import EDGE, LadderLines, TcpLadder
from netbench.ui.widgets.traffic import TrafficList

EXCHANGES = 20_000
CHUNKS = 2 * EXCHANGES
_GAP = re.compile(r"… ([\d,]+) (chunks|segments) not shown …")


def ladder_lines(ladder: TcpLadder) -> list[str]:
    """Every line of the ladder as text, header first."""
    view = ladder.query_one(LadderLines)
    view.scroll_to(y=0, animate=False, force=True)
    return [view.render_line(y).text for y in range(len(ladder.rows) + 1)]


async def until(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.05)


@asynccontextmanager
async def long_connection_selected(
    tmp_path: Path,
) -> AsyncIterator[tuple[NetbenchApp, Pilot[None]]]:
    """The real app on a closed connection of EXCHANGES exchanges, its traffic row
    selected with Enter as a user does (the inspector reacts; the TCP tab stays hidden)."""
    path = tmp_path / "long.netbench.sqlite"
    long_connection(path, EXCHANGES, closed=True)
    app = NetbenchApp(AppConfig(open_path=path))
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        await pilot.pause()
        traffic = app.screen.query_one(TrafficList)
        await until(pilot, lambda: len(traffic.model) == EXCHANGES)
        traffic.focus()
        await pilot.press("home", "enter")
        view = app.screen.query_one(BytesView)
        await until(pilot, lambda: view.selection is not None and view.chunk_count == CHUNKS)
        yield app, pilot


async def show_tcp_tab(pilot: Pilot[None], ladder: TcpLadder) -> list[str]:
    """`p`: the TCP tab shown; the ladder's lines under its header once it has loaded."""
    await pilot.press("p")
    await until(pilot, lambda: ladder.ladder is not None)
    return ladder_lines(ladder)[1:]


async def test_a_hidden_tcp_tab_reads_nothing_and_shows_both_ends_when_opened(
    tmp_path: Path,
) -> None:
    async with long_connection_selected(tmp_path) as (app, pilot):
        ladder = app.screen.query_one(TcpLadder)
        assert ladder.ladder is None  # the TCP tab is hidden: nothing read for it
        assert (ladder.loads, ladder.fetched) == (0, 0)

        lines = await show_tcp_tab(pilot, ladder)  # the ladder loads now
        assert ladder.loads == 1
        assert ladder.fetched <= 2 * EDGE  # its two ends, not the 40,000-chunk index
        assert "accept() · handshake done" in lines[0]
        assert "chunk #0" in lines[1] and "chunk #1" in lines[2]
        [gap] = [n for n, line in enumerate(lines) if _GAP.search(line)]
        found = _GAP.search(lines[gap])
        assert found is not None and found.groups() == (f"{CHUNKS - 2 * EDGE:,}", "chunks")
        assert f"chunk #{EDGE - 1}" in lines[gap - 1]
        assert f"chunk #{CHUNKS - EDGE}" in lines[gap + 1]
        assert "FIN received" in lines[-2] and "close()" in lines[-1]

        # The gap is a step of its own: selected, it says what it leaves out.
        ladder.select(gap)
        await pilot.pause()
        assert ladder.ladder is not None
        assert ladder.ladder.explanation(gap).startswith(f"{CHUNKS - 2 * EDGE:,} chunks between")


async def test_a_step_leads_to_its_chunk_in_the_bytes_tab_without_reading_the_index(
    tmp_path: Path,
) -> None:
    async with long_connection_selected(tmp_path) as (app, pilot):
        view = app.screen.query_one(BytesView)
        ladder = app.screen.query_one(TcpLadder)
        lines = await show_tcp_tab(pilot, ladder)
        for seq in (CHUNKS - 3, 5, CHUNKS - EDGE + 10):
            row = next(n for n, line in enumerate(lines) if f"chunk #{seq} " in line)
            ladder.select(row)
            await until(pilot, lambda seq=seq: view.selected_chunk == seq)  # type: ignore[misc]
        # Windows around the chunks shown, not a walk over the 40,000-chunk index.
        assert view.fetched_index <= 4 * (REGION + PAGE)

        app.screen.query_one("#inspector", TabbedContent).active = "bytes"
        await until(pilot, lambda: view.is_on_screen)
        await pilot.pause()
        assert f"── #{CHUNKS - EDGE + 10} " in view.render_line(0).text  # its header on top


async def test_a_long_capture_is_drawn_from_its_first_and_last_segments(tmp_path: Path) -> None:
    # 1,000 exchanges as packets captured headers only (as the capture agent
    # sends them): the data steps near either end show their bytes, read from
    # the chunks at that end.
    exchanges = 1_000
    path = tmp_path / "captured.netbench.sqlite"
    request, response = long_request(0), long_response(0)
    q, r = len(request), len(response)

    def mono(ms: float) -> float:
        return MONO + (T0 - WALL) + ms / 1000

    writer = SessionWriter(path, anchors=(MONO, WALL))
    writer.open()
    writer(ServerStarted(1, "http", Transport.TCP, SERVER, MONO))
    writer(ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, SERVER, CLIENT, mono(0.06)))
    packets = [segment(0, True, "S", 0, 0), segment(0.02, False, "SA", 0, 1)]
    packets.append(segment(0.04, True, "A", 1, 1))
    for n in range(exchanges):
        ms = 1 + n
        writer(ChunkRecorded(1, 2 * n, Direction.IN, n * q, long_request(n), mono(ms + 0.1)))
        writer(ChunkRecorded(1, 2 * n + 1, Direction.OUT, n * r, long_response(n), mono(ms + 0.3)))
        packets.append(segment(ms, True, "PA", 1 + n * q, 1 + n * r, long_request(n)))
        packets.append(segment(ms + 0.2, False, "PA", 1 + n * r, 1 + (n + 1) * q, long_response(n)))
    end = 1 + exchanges
    final = 1 + exchanges * q, 1 + exchanges * r
    packets.append(segment(end, True, "FA", final[0], final[1]))
    packets.append(segment(end + 0.1, False, "FA", final[1], final[0] + 1))
    packets.append(segment(end + 0.2, True, "A", final[0] + 1, final[1] + 1))
    for packet in packets:
        writer(PacketCaptured(packet._replace(payload_head=b"")))
    writer(ConnectionClosed(1, EndReason.FIN_PEER, mono(end + 0.3), exchanges * q, exchanges * r))
    writer.close()

    app = NetbenchApp(AppConfig(open_path=path))
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        await pilot.pause()
        app.screen.query_one("#inspector", TabbedContent).active = "tcp"
        ladder = app.screen.query_one(TcpLadder)
        await until(pilot, lambda: ladder.is_on_screen)
        traffic = app.screen.query_one(TrafficList)
        await until(pilot, lambda: len(traffic.model) == 1)
        traffic.focus()
        await pilot.press("home", "enter")
        await until(pilot, lambda: ladder.ladder is not None)
        lines = ladder_lines(ladder)[1:]
        assert "SYN seq=0" in lines[0] and "SYN-ACK seq=0 ack=1" in lines[1]
        [gap] = [line for line in lines if _GAP.search(line)]
        assert f"… {len(packets) - 2 * EDGE:,} segments not shown …" in gap
        last_request = long_request(exchanges - 1)[:12].decode()
        assert any(f'"{last_request}' in line for line in lines)  # its bytes, from the session
        assert "FIN-ACK" in lines[-3] and "ACK" in lines[-1]
