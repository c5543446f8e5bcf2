"""The views follow the session file by being told, and open long connections by windows."""

from __future__ import annotations

import asyncio
import http.client
import re
from pathlib import Path

from sessionkit import long_connection, long_request, long_response
from textual.widgets import TabbedContent
from uikit import Running

from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.byte_layout import PAGE, REGION
from netbench.ui.messages import Selection
from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.http_view import HttpView
from netbench.ui.widgets.tcp_ladder import TcpLadder
from netbench.ui.widgets.traffic import TrafficList

_HEADER = re.compile(r"── #(\d+) ")
_HEX = re.compile(r"^([0-9a-f]{8,})  ((?:[0-9a-f]{2} {1,2})+)")


def screen_lines(view: BytesView) -> list[str]:
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]


def chunks_on_screen(view: BytesView, *, whole: bool = False) -> list[tuple[int, bytes]]:
    """Each chunk seen on screen (`whole`: in the whole stream, as if scrolled
    through): its seq and the bytes its hex lines spell there."""
    seen: list[tuple[int, bytes]] = []
    top = round(view.scroll_y)
    shown = (
        [view.render_line(y - top).text for y in range(view.line_count)]
        if whole
        else screen_lines(view)
    )
    for line in shown:
        header = _HEADER.search(line)
        hex_line = _HEX.match(line)
        if header:
            seen.append((int(header[1]), b""))
        elif hex_line and seen:
            seen[-1] = (seen[-1][0], seen[-1][1] + bytes.fromhex(hex_line[2]))
    return seen


def expected(seq: int) -> bytes:
    """Chunk `seq` of `long_connection`: request seq // 2, or its response."""
    return long_request(seq // 2) if seq % 2 == 0 else long_response(seq // 2)


async def test_views_show_rows_written_after_they_opened_without_timers(
    running: Running,
) -> None:
    app = running.app
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)

    def get(path: str) -> None:
        conn.request("GET", path)
        conn.getresponse().read()

    screen = app.screen
    bytes_view = screen.query_one(BytesView)
    http_view = screen.query_one(HttpView)
    ladder = screen.query_one(TcpLadder)
    views = (bytes_view, http_view, ladder)
    timers: list[str] = []

    def settled(predicate: bool) -> bool:
        timers.extend(f"{type(view).__name__}: {t.name}" for view in views for t in view._timers)
        return predicate

    try:
        await asyncio.to_thread(get, "/one")
        traffic = screen.query_one(TrafficList)
        await running.until(lambda: len(traffic.model) >= 1)
        row = traffic.model.row_at(0, app.reader())
        assert row is not None
        screen.query_one("#inspector", TabbedContent).active = "tcp"  # the ladder loads when seen
        await running.until(lambda: ladder.is_on_screen)
        bytes_view.show(Selection(row.conn_id, row.exchange_id))
        http_view.show(Selection(row.conn_id))  # the connection: its exchanges listed
        ladder.show(Selection(row.conn_id))
        await running.until(lambda: settled(bytes_view.chunk_count == 2))
        await running.until(lambda: settled("Exchanges (1)" in http_view.document.plain))
        told = app.follower.notified

        await asyncio.to_thread(get, "/two")  # written after every view opened
        await running.until(lambda: settled(bytes_view.chunk_count == 4))
        # The request and its response may reach the file in two commits: the
        # view is told of each, and shows the response once it is there.
        await running.until(lambda: settled("GET /two -> 404" in http_view.document.plain))
        await running.until(lambda: settled(len(ladder.rows) > 0))
    finally:
        conn.close()
    assert re.search(r"GET /one -> 404.*\n.*GET /two -> 404", http_view.document.plain)
    assert app.follower.notified > told  # told by the writer, through the app's follower
    assert timers == []  # no view polled the store on a timer meanwhile
    screen.query_one("#inspector", TabbedContent).active = "bytes"
    await running.until(lambda: bytes_view.is_on_screen)
    assert [seq for seq, _data in chunks_on_screen(bytes_view, whole=True)] == [0, 1, 2, 3]


async def test_a_read_only_session_opens_without_a_writer_to_follow(tmp_path: Path) -> None:
    path = tmp_path / "short.netbench.sqlite"
    long_connection(path, 100)
    app = NetbenchApp(AppConfig(open_path=path))
    async with app.run_test(size=(160, 50)) as pilot:
        await app.started.wait()
        view = app.screen.query_one(BytesView)
        view.show(Selection(1, 51))  # exchange 51: its request (chunk 100) on top
        await pilot.pause()
        assert chunks_on_screen(view)[:3] == [(seq, expected(seq)) for seq in (100, 101, 102)]
        assert app.follower.notified == 0  # nothing grows: nobody is told


async def test_a_long_connection_opens_at_either_end_and_scrolls_to_the_right_bytes(
    tmp_path: Path,
) -> None:
    exchanges = 20_000
    path = tmp_path / "long.netbench.sqlite"
    long_connection(path, exchanges)
    app = NetbenchApp(AppConfig(open_path=path))
    async with app.run_test(size=(160, 50)) as pilot:
        await app.started.wait()
        await pilot.pause()
        view = app.screen.query_one(BytesView)
        view.show(Selection(1, 1))
        await pilot.pause()
        top = chunks_on_screen(view)
        assert [seq for seq, _ in top][:3] == [0, 1, 2]
        assert all(data == expected(seq) for seq, data in top[:-1])  # the last may be cut
        assert view.chunk_count == 2 * exchanges
        assert view.fetched_index <= REGION + PAGE  # a window, not the 40,000-chunk index

        view.focus()
        await pilot.press("end")
        bottom = chunks_on_screen(view)
        assert bottom[-1] == (2 * exchanges - 1, expected(2 * exchanges - 1))
        assert all(data == expected(seq) for seq, data in bottom[1:])

        # Into the middle, where lines were only estimated: the chunks there,
        # in order, each with its own bytes; then down a page and up again.
        view.scroll_to(y=view.line_count // 2, animate=False, force=True)
        await pilot.pause()
        middle = chunks_on_screen(view)
        seqs = [seq for seq, _ in middle]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert 0.4 * 2 * exchanges < seqs[0] < 0.6 * 2 * exchanges
        assert all(data == expected(seq) for seq, data in middle[1:-1])
        await pilot.press("pagedown")
        below = chunks_on_screen(view)
        assert seqs[-1] <= below[0][0] <= seqs[-1] + 1
        await pilot.press("pageup")
        assert chunks_on_screen(view)[0][0] == seqs[0]
        assert view.fetched_index <= 4 * (REGION + PAGE)

        http = app.screen.hidden.http  # type: ignore[attr-defined]
        http.show(Selection(1))
        document = http.document.plain
        assert f"Exchanges ({exchanges})" in document
        assert f"… {exchanges - 500} more" in document
        http.show(Selection(1, exchanges))
        assert "GET /item/0019999" in http.document.plain
