"""The Bytes and HTTP views of one long keep-alive connection: open and follow.

    python bench/views.py [--exchanges 1000000] [--json]

Writes a session file holding one connection with that many exchanges (a
request chunk and a response chunk each) straight through `SessionWriter`,
then opens the real app headless on it (`App.run_test()`) and times:

- opening the Bytes view on the connection (at its first exchange), its
  `end` key (the last chunk drawn), and the HTTP view of its last exchange
  and of the connection itself (its summary: the first exchanges and the
  count);
- the main screen's selection as a user makes it: Enter on the traffic
  list's first row, until every tab has reacted (the Bytes and HTTP views
  opened, the hidden TCP tab noting the connection), then `p`, the TCP tab
  shown until its ladder is drawn (from the connection's two ends);
- one refresh while the connection grows: a writer records one more
  exchange on the same connection, and the time from its commit to the
  Bytes view (following the end) holding the new last chunk is measured,
  with how many index entries it read (the view is told by the app's store
  follower, it does not poll).

The target: each view opens in under 100 ms, and a refresh reads only what
is new (the chunks read per refresh are printed). Timings belong here,
never in tests; docs/performance.md explains the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TARGET_MS = 100.0
REQUEST = b"GET /item/%07d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n%08d"


@dataclass
class ViewTimes:
    exchanges: int
    build_s: float
    bytes_open_ms: float
    bytes_end_ms: float
    http_exchange_ms: float
    http_connection_ms: float
    select_ms: float
    tcp_open_ms: float
    tcp_entries_read: int
    jump_ms: float
    """The ladder's last step selected, to its chunk selected in the Bytes view."""
    refresh_ms: float
    refresh_chunks_read: int


def write_exchanges(writer: object, start: int, count: int, t0: float) -> None:
    """Record exchanges [start, start + count) on connection 1 (two chunks each).

    Request n is `REQUEST % n`, its response `RESPONSE % n`: chunk 2n is the
    request, 2n + 1 the response. tests/sessionkit.py writes its long
    connection with this too, and its tests rely on that layout.
    """
    from netbench.events import ChunkRecorded, HttpRequestRecorded, HttpResponseRecorded
    from netbench.model import Direction, HttpRequest, HttpResponse

    assert callable(writer)
    headers = ((b"Host", b"127.0.0.1"),)
    for n in range(start, start + count):
        request, response = REQUEST % n, RESPONSE % n
        t = t0 + n * 1e-5
        writer(ChunkRecorded(1, 2 * n, Direction.IN, n * len(request), request, t))
        req = HttpRequest(b"GET", b"/item/%07d" % n, "1.1", headers, b"", 0)
        writer(HttpRequestRecorded(n + 1, 1, n, req, 2 * n, 2 * n, t, t))
        writer(ChunkRecorded(1, 2 * n + 1, Direction.OUT, n * len(response), response, t))
        resp = HttpResponse(200, b"OK", "1.1", ((b"Content-Length", b"8"),), b"%08d" % n, 8)
        writer(HttpResponseRecorded(n + 1, 1, resp, 2 * n + 1, 2 * n + 1, t, t))


def build(path: Path, exchanges: int) -> float:
    """A session with one server and one open connection of `exchanges` exchanges."""
    from netbench.events import ConnectionOpened, ServerStarted
    from netbench.model import Endpoint, Role, Transport
    from netbench.store import SessionWriter

    start = time.perf_counter()
    t0 = time.monotonic()
    local, peer = Endpoint("127.0.0.1", 8000), Endpoint("127.0.0.1", 50000)
    writer = SessionWriter(path, flush_interval=0.2, backlog_limit=10**9)
    writer.open()
    writer(ServerStarted(1, "http", Transport.TCP, local, t0))
    writer(ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, local, peer, t0))
    for part in range(0, exchanges, 50_000):
        write_exchanges(writer, part, min(50_000, exchanges - part), t0)
    writer.close()
    return time.perf_counter() - start


async def measure(path: Path, exchanges: int, build_s: float) -> ViewTimes:
    from textual import events

    from netbench.store import SessionWriter
    from netbench.ui.app import AppConfig, NetbenchApp
    from netbench.ui.messages import Selection
    from netbench.ui.widgets.bytes_view import BytesView
    from netbench.ui.widgets.tcp_ladder import TcpLadder
    from netbench.ui.widgets.traffic import TrafficList

    app = NetbenchApp(AppConfig(open_path=path))
    async with app.run_test(size=(160, 50)) as pilot:
        async with asyncio.timeout(30):
            await app.started.wait()
        await pilot.pause()
        screen = app.screen
        view = screen.query_one(BytesView)
        http = screen.hidden.http  # type: ignore[attr-defined]

        def timed(action: object) -> float:
            assert callable(action)
            start = time.perf_counter()
            action()
            return (time.perf_counter() - start) * 1000

        bytes_open = timed(lambda: view.show(Selection(1, 1)))
        bytes_end = timed(view.action_end)
        http_exchange = timed(lambda: http.show(Selection(1, exchanges)))
        http_connection = timed(lambda: http.show(Selection(1)))
        await pilot.pause()

        async def key(name: str, done: object, timeout: float = 120) -> float:
            """Milliseconds from a key reaching the app (as the terminal sends it)
            to `done()` holding (a pilot's press would add its waits for idle)."""
            assert callable(done)
            start = time.perf_counter()
            app.post_message(events.Key(name, None))
            await settled(done, timeout)
            return (time.perf_counter() - start) * 1000

        async def settled(done: object, timeout: float = 120) -> None:
            """Poll `done()` every millisecond (a pilot's pause is coarser)."""
            assert callable(done)
            async with asyncio.timeout(timeout):
                while True:
                    if done():
                        return
                    await asyncio.sleep(0.001)

        async def until(predicate: object, timeout: float = 120) -> None:
            assert callable(predicate)
            async with asyncio.timeout(timeout):
                while not predicate():
                    await pilot.pause(0.01)

        # The main screen, as a user selects: Enter on the traffic list.
        traffic = screen.query_one(TrafficList)
        await until(lambda: len(traffic.model) == exchanges)
        view.show(None)
        http.show(None)
        traffic.focus()
        await pilot.press("home")
        select = await key(
            "enter", lambda: http.exchange is not None and view.chunk_count == 2 * exchanges
        )
        ladder = screen.query_one(TcpLadder)
        read = ladder.fetched
        tcp_open = await key("p", lambda: ladder.ladder is not None)
        tcp_read = ladder.fetched - read
        start = time.perf_counter()
        ladder.select(len(ladder.rows) - 1)  # the last chunk's step
        await settled(lambda: view.selected_chunk == 2 * exchanges - 1)
        jump = (time.perf_counter() - start) * 1000
        await pilot.press("b")
        view.action_end()  # following the end again, for the refresh below
        await pilot.pause()

        # Grow the connection with a writer on the same file; the app follows it.
        writer = SessionWriter(path, flush_interval=0.05)
        writer.open()
        app.follower.follow(writer)
        before = view.fetched_index
        committed: list[float] = []
        shown = asyncio.Event()
        told = writer.on_written
        last = 2 * exchanges + 1

        def on_written() -> None:
            committed.append(time.perf_counter())
            if told is not None:
                told()

        def on_told() -> None:  # subscribed after the view: runs once it has refreshed
            if view.chunk_count > last:
                shown.set()

        writer.on_written = on_written
        app.follower.subscribe(on_told)
        write_exchanges(writer, exchanges, 1, time.monotonic())
        async with asyncio.timeout(10):
            await shown.wait()
        refresh = (time.perf_counter() - committed[0]) * 1000
        read = view.fetched_index - before
        writer.close()
        await app.shutdown()
    return ViewTimes(
        exchanges,
        build_s,
        bytes_open,
        bytes_end,
        http_exchange,
        http_connection,
        select,
        tcp_open,
        tcp_read,
        jump,
        refresh,
        read,
    )


def report(times: ViewTimes) -> list[str]:
    def mark(ms: float) -> str:
        return "ok" if ms < TARGET_MS else f"over the {TARGET_MS:.0f} ms target"

    return [
        f"views of one connection of {times.exchanges:,} exchanges"
        f" (session written in {times.build_s:.1f} s):",
        f"  Bytes view open {times.bytes_open_ms:7.1f} ms  {mark(times.bytes_open_ms)}",
        f"  Bytes view end  {times.bytes_end_ms:7.1f} ms  {mark(times.bytes_end_ms)}",
        f"  HTTP exchange   {times.http_exchange_ms:7.1f} ms  {mark(times.http_exchange_ms)}",
        f"  HTTP connection {times.http_connection_ms:7.1f} ms  {mark(times.http_connection_ms)}",
        f"  select (Enter)  {times.select_ms:7.1f} ms  {mark(times.select_ms)}"
        "  (the traffic list's row: every tab's reaction)",
        f"  TCP tab shown   {times.tcp_open_ms:7.1f} ms  {mark(times.tcp_open_ms)}"
        f"  ({times.tcp_entries_read} chunks and packets read)",
        f"  ladder to Bytes {times.jump_ms:7.1f} ms  {mark(times.jump_ms)}"
        "  (the last step's chunk found and selected)",
        f"  refresh while it grows: commit to the new chunk indexed {times.refresh_ms:.1f} ms,"
        f" {times.refresh_chunks_read} chunk(s) of the index read",
    ]


def views(exchanges: int, data_dir: str | Path) -> ViewTimes:
    path = Path(data_dir) / "long.netbench.sqlite"
    build_s = build(path, exchanges)
    return asyncio.run(measure(path, exchanges, build_s))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netbench-views-") as data_dir:
        times = views(args.exchanges, data_dir)
    if args.json:
        print(json.dumps(asdict(times)))
    else:
        print("\n".join(report(times)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
