"""The traffic filter over a big session: the right rows and count, to the last match, live,
and memory that does not grow with the number of matches (issue 18)."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from uikit import Running

from netbench.events import (
    ConnectionClosed,
    ConnectionOpened,
    HttpRequestRecorded,
    HttpResponseRecorded,
    ServerStarted,
)
from netbench.model import Endpoint, EndReason, HttpRequest, HttpResponse, Role, Transport
from netbench.store import SessionReader, SessionWriter
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.traffic_model import TrafficModel
from netbench.ui.widgets.traffic import TrafficList

EXCHANGES = 50_000
RARE_EVERY = 1000
"""One target in a thousand is `/rare/N`, the others `/item/N`."""
LOCAL = Endpoint("127.0.0.1", 8000)


@pytest.fixture(scope="module")
def big_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recorded session of 50,000 exchanges, 500 to a keep-alive connection."""
    path = tmp_path_factory.mktemp("filter") / "big.netbench.sqlite"
    response = HttpResponse(200, b"OK", "1.1", (), b"ok", 2)
    with SessionWriter(path, anchors=(0.0, 1_700_000_000.0), backlog_limit=10**9) as writer:
        writer(ServerStarted(1, "http", Transport.TCP, LOCAL, 0.0))
        for exchange_id in range(1, EXCHANGES + 1):
            conn_id, t = (exchange_id - 1) // 500 + 1, exchange_id / 1000
            if (exchange_id - 1) % 500 == 0:
                peer = Endpoint("127.0.0.1", 40000 + conn_id)
                writer(ConnectionOpened(conn_id, 1, Role.SERVER, Transport.TCP, LOCAL, peer, t))
            kind = "rare" if exchange_id % RARE_EVERY == 0 else "item"
            request = HttpRequest(b"GET", f"/{kind}/{exchange_id}".encode(), "1.1", (), b"", 0)
            writer(HttpRequestRecorded(exchange_id, conn_id, exchange_id, request, 0, 0, t, t))
            writer(HttpResponseRecorded(exchange_id, conn_id, response, 0, 0, t, t))
            if exchange_id % 500 == 0:
                writer(ConnectionClosed(conn_id, EndReason.FIN_PEER, t, 0, 0))
    return path


async def _until(pilot: object, predicate: object, timeout: float = 30.0) -> None:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot) and callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


def _targets(traffic: TrafficList, indices: range) -> list[bytes]:
    rows = [traffic.model.row_at(i, traffic.app.reader()) for i in indices]  # type: ignore[attr-defined]
    return [row.target or b"" for row in rows if row is not None]


async def test_a_filter_over_a_big_session_shows_every_match_to_the_last(big_session: Path) -> None:
    app = NetbenchApp(AppConfig(open_path=big_session))
    async with app.run_test(size=(160, 50)) as pilot:
        traffic = app.screen.query_one(TrafficList)
        await _until(pilot, lambda: len(traffic.model) == EXCHANGES)

        await pilot.press("slash", *"rare")
        await _until(pilot, lambda: traffic.model.search is None)
        await pilot.pause()
        rare = EXCHANGES // RARE_EVERY
        assert len(traffic.model) == rare
        assert str(traffic.border_subtitle) == f"{rare} of {EXCHANGES:,} match"
        assert _targets(traffic, range(rare)) == [
            f"/rare/{n}".encode() for n in range(RARE_EVERY, EXCHANGES + 1, RARE_EVERY)
        ]
        # The screen shows them: the first line is the first match.
        assert "GET /rare/1000 -> 200" in traffic.render_line(0).text

        await pilot.press("enter", "end")
        assert traffic.cursor == rare - 1
        assert _targets(traffic, range(traffic.cursor, traffic.cursor + 1)) == [b"/rare/50000"]

        # Most rows: the count, and the last match, a scroll away.
        app.screen.query_one("#filter").focus()
        await pilot.press(*["backspace"] * 4, *"item")
        await _until(pilot, lambda: traffic.model.search is None)
        most = EXCHANGES - rare
        assert len(traffic.model) == most
        assert _targets(traffic, range(most - 2, most)) == [b"/item/49998", b"/item/49999"]
        traffic.focus()
        await pilot.press("end")
        await pilot.pause()
        assert traffic.cursor == most - 1
        line = traffic.cursor - round(traffic.scroll_offset.y)
        assert "GET /item/49999 -> 200" in traffic.render_line(line).text

        # Clearing the filter brings every row back.
        app.screen.query_one("#filter").focus()
        await pilot.press(*["backspace"] * 4)
        await _until(pilot, lambda: len(traffic.model) == EXCHANGES)
        assert traffic.model.filtered is None and not str(traffic.border_subtitle)


async def test_new_matching_rows_appear_in_a_filtered_list_live(running: Running) -> None:
    for path in ("/alpha", "/beta"):
        await running.get(path)
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= 2)
    await running.pilot.press("slash", *"alpha", "enter")
    await running.until(lambda: len(traffic.model) == 1)

    for path in ("/gamma", "/alphabet", "/delta", "/alpha/2"):
        await running.get(path)
    await running.until(lambda: len(traffic.model.keys) >= 6)
    await running.until(lambda: len(traffic.model) == 3)
    reader = running.app.reader()
    targets = [traffic.model.row_at(i, reader).target for i in range(3)]  # type: ignore[union-attr]
    assert targets == [b"/alpha", b"/alphabet", b"/alpha/2"]  # in the order they came


def _filter_peak(session: Path, text: str) -> tuple[int, int]:
    """(matches, bytes the filter's Python side took at its peak) for `text` over `session`."""
    with SessionReader(session) as reader:
        model = TrafficModel()
        model.load(reader)
        tracemalloc.start()
        try:
            model.set_filter(text, reader)
            while not model.search_step():
                pass
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return len(model), peak


def test_a_filter_takes_no_more_memory_for_more_matches(big_session: Path) -> None:
    few, few_peak = _filter_peak(big_session, "rare")
    most, most_peak = _filter_peak(big_session, "item")
    assert (few, most) == (50, 49_950)
    # A set and a list of 50,000 keys took some 3 MB; a bit per row and a
    # count per 1,024 rows take the same few KB whatever matches.
    assert most_peak - few_peak < 64 * 1024, (few_peak, most_peak)
