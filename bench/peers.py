"""The servers `bench/run.py` measures, each started as its own process.

    python bench/peers.py bare         # the Python limit: asyncio.Protocol, fixed response
    python bench/peers.py bare-uvloop  # the same Protocol on uvloop (the limit netbench on uvloop has)
    python bench/peers.py parse-uvloop # the floor of any server that reads HTTP: httptools'
                                      # parser, the fixed response, nothing recorded, on uvloop
    python bench/peers.py tui SESSION [LOOP]  # netbench's TUI, headless, serving and recording
                                      # (LOOP: uvloop or asyncio; default as `netbench` runs it)
    python bench/peers.py long SESSION # the same, for the memory and big-body rows

Each prints one JSON line `{"port": N}` once it listens, then serves until
stdin closes (the runner holds it open while it measures).

The TUI peer also measures what a user feels during the load: every 0.25 s
it sends the key `f` (follow on/off in the traffic list) as the terminal
driver would and times how long until the screen shows the change; it prints `{"key_ms": [[unix time, ms], ...]}` when it stops.

The long peer presses nothing while the runner loads it (the runner reads
its memory from /proc). A line `body N` on its stdin makes it serve an
N-byte file from a static server, fetch it with http.client, select the
exchange, open the Bytes tab and send `end` as the terminal driver would,
timing until the screen shows the stream's last line; it prints
`{"body": {...}}` (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App
    from textual.pilot import Pilot

    from netbench.ui.app import NetbenchApp

PAGE = (
    b"<html><head><title>WOW</title></head><body><p>Wow, Python Server</p>"
    b'<IMG src="test.jpg"/><form name="input" action="/" method="post">'
    b'First name:<input type="text" name="firstname"><br>'
    b'<input type="submit" value="Submit"></form></body></html>'
)
"""About the size of netbench's seed page, so both send the same bytes."""

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(PAGE) + PAGE
)


class Bare(asyncio.Protocol):
    """Answers every request-looking chunk with the fixed response: no parsing, no record."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] (uvloop's is not an asyncio.Transport)
        self.close = False

    def data_received(self, data: bytes) -> None:
        # One response per request head in the chunk (wrk pipelines nothing,
        # but a chunk may hold several heads under load).
        count = data.count(b"\r\n\r\n")
        self.transport.write(RESPONSE * count)
        if b"onnection: close" in data:
            self.transport.close()


class ParseOnly(asyncio.Protocol):
    """Parses every request with httptools (as netbench does) and answers the fixed
    response: what reading HTTP costs a Python server before it does anything else."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        import httptools

        self.transport = transport  # type: ignore[assignment] (uvloop's is not an asyncio.Transport)
        self.parser = httptools.HttpRequestParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_message_complete(self) -> None:
        self.transport.write(RESPONSE)
        self.headers = []
        if not self.parser.should_keep_alive():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)


async def _until_stdin_closes() -> None:
    await asyncio.to_thread(sys.stdin.read)


async def bare(protocol: type[asyncio.Protocol] = Bare) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol, "127.0.0.1", 0, backlog=1024)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await _until_stdin_closes()
    server.close()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _press(app: App[int], key: str, character: str | None = None) -> None:
    """What the terminal driver does when a key arrives (the pilot's press would
    also wait for the app to go idle, which a busy server never does)."""
    from textual import events

    event = events.Key(key, character)
    event.set_sender(app)
    assert app._driver is not None
    app._driver.send_message(event)


async def _after_refresh(app: App[int]) -> None:
    refreshed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    app.call_after_refresh(_resolve, refreshed)
    await asyncio.wait_for(refreshed, 5)


def tui(session: Path, loop: str | None = None) -> None:
    from netbench.ui.app import AppConfig, NetbenchApp
    from netbench.ui.widgets.traffic import TrafficList

    app = NetbenchApp(AppConfig(port=0, session=session, capture=False))
    latencies: list[tuple[float, float]] = []
    """(unix time of the press, ms until the screen showed it)."""

    async def drive(pilot: Pilot[int]) -> None:
        await asyncio.wait_for(app.started.wait(), 30)
        assert app.page_server is not None
        print(json.dumps({"port": app.page_server.address.port}), flush=True)
        traffic = app.screen.query_one(TrafficList)
        stdin_closed = asyncio.ensure_future(_until_stdin_closes())
        while not stdin_closed.done():
            await asyncio.sleep(0.25)
            before = traffic.follow
            pressed, at = time.perf_counter(), time.time()
            _press(app, "f", "f")
            while traffic.follow == before and time.perf_counter() - pressed < 5:  # noqa: ASYNC110 (the poll is the measurement)
                await asyncio.sleep(0.001)
            await _after_refresh(app)
            latencies.append((at, (time.perf_counter() - pressed) * 1000))
        print(json.dumps({"key_ms": latencies}), flush=True)
        app.exit()

    from netbench.engine.loop import run

    run(app.run_async(headless=True, size=(160, 50), auto_pilot=drive), loop)  # type: ignore[arg-type]


def long(session: Path) -> None:
    from netbench.ui.app import AppConfig, NetbenchApp

    app = NetbenchApp(AppConfig(port=0, session=session, capture=False))

    async def drive(pilot: Pilot[int]) -> None:
        await asyncio.wait_for(app.started.wait(), 30)
        assert app.page_server is not None
        print(json.dumps({"port": app.page_server.address.port}), flush=True)
        while line := await asyncio.to_thread(sys.stdin.readline):
            if line.startswith("body "):
                result = await big_body(app, pilot, int(line.split()[1]), session.parent)
                print(json.dumps({"body": result}), flush=True)
        app.exit()

    app.run(headless=True, size=(160, 50), auto_pilot=drive)


def _write_body(path: Path, size: int) -> None:
    """`size` bytes of a repeating 0..255 pattern: every line of the dump is known."""
    block = bytes(range(256)) * 4096  # 1 MiB
    with path.open("wb") as file:
        for start in range(0, size, len(block)):
            file.write(block[: size - start])


def _fetch(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        received = 0
        while piece := response.read(1 << 20):
            received += len(piece)
        return received
    finally:
        conn.close()


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        await asyncio.sleep(0.02)


async def big_body(app: NetbenchApp, pilot: Pilot[int], size: int, under: Path) -> dict[str, Any]:
    """Serve, fetch and record an N-byte body, then time the Bytes view's end key."""
    from netbench.engine.config import default_config
    from netbench.model import Direction
    from netbench.protocol.hexdump import hexdump_lines
    from netbench.store import TrafficRow, chunk_index
    from netbench.ui.widgets.bytes_view import BytesView
    from netbench.ui.widgets.traffic import TrafficList

    assert app.engine is not None
    site = Path(tempfile.mkdtemp(prefix="big-body-", dir=under))
    await asyncio.to_thread(_write_body, site / "big.bin", size)
    server = await app.engine.start_server(default_config("static", root=site, port=0))
    started = time.perf_counter()
    received = await asyncio.to_thread(_fetch, server.address.port, "/big.bin")
    fetched = time.perf_counter() - started
    if received != size:
        raise RuntimeError(f"fetched {received} of {size} bytes")

    traffic = app.screen.query_one(TrafficList)
    model = traffic.model

    def last_row() -> TrafficRow | None:
        return model.row_at(len(model) - 1, None)

    await _until(lambda: getattr(last_row(), "target", None) == b"/big.bin", 30, "the row")
    row = last_row()
    assert row is not None
    reader = app.reader()
    assert reader is not None

    def stored() -> int:
        return sum(
            m.length for m in chunk_index(reader, row.conn_id) if m.direction is Direction.OUT
        )

    await _until(lambda: stored() >= size, 60, "the body in the session")
    recorded = time.perf_counter() - started

    traffic.focus()
    traffic.cursor = len(model) - 1
    traffic.action_select()
    await pilot.press("b")  # the app is idle now: the pilot may wait for it
    view = app.screen.query_one(BytesView)
    await _until(lambda: sum(m.length for m in view.chunks) >= stored(), 10, "the chunk index")
    await pilot.pause(0.3)  # the view's own re-read of the index (REFRESH_DELAY)
    assert app.focused is view, app.focused
    # The stream's last dump line: the response head, then the 0..255 pattern.
    last = view.chunks[-1]
    end = last.offset + last.length
    start = last.offset + (last.length - 1) // 16 * 16
    head = end - size
    expected = next(hexdump_lines(bytes((o - head) % 256 for o in range(start, end)), start))

    jumps: list[float] = []
    for _ in range(6):  # the first from the top, cold; then home and end again, warm
        pressed = time.perf_counter()
        _press(app, "end")
        while round(view.scroll_y) < view.max_scroll_y and time.perf_counter() - pressed < 5:  # noqa: ASYNC110 (the poll is the measurement)
            await asyncio.sleep(0.001)
        await _after_refresh(app)
        jumps.append((time.perf_counter() - pressed) * 1000)
        bottom = view.render_line(view.scrollable_content_region.height - 1).text.rstrip()
        if bottom != expected.rstrip():
            raise RuntimeError(f"the last line on screen is {bottom!r}, not {expected!r}")
        await pilot.press("home")
    await app.engine.stop_server(server.server_id)
    return {
        "bytes": size,
        "chunks": len(view.chunks),
        "fetched_s": fetched,
        "recorded_s": recorded,
        "jump_ms": jumps[0],
        "warm_ms": jumps[1:],
    }


if __name__ == "__main__":
    if sys.argv[1] == "bare":
        asyncio.run(bare())
    elif sys.argv[1] == "bare-uvloop":
        import uvloop

        uvloop.run(bare())
    elif sys.argv[1] == "parse-uvloop":
        import uvloop

        uvloop.run(bare(ParseOnly))
    elif sys.argv[1] == "tui":
        tui(Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
    elif sys.argv[1] == "long":
        long(Path(sys.argv[2]))
    else:
        sys.exit(f"unknown peer {sys.argv[1]!r}")
