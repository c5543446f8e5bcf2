"""The servers `bench/run.py` measures, each started as its own process.

    python bench/peers.py bare        # the Python limit: asyncio.Protocol, fixed response
    python bench/peers.py tui SESSION # netbench's TUI, headless, serving and recording

Each prints one JSON line `{"port": N}` once it listens, then serves until
stdin closes (the runner holds it open while it measures).

The TUI peer also measures what a user feels during the load: every 0.25 s
it sends the key `f` (follow on/off in the traffic list) as the terminal
driver would and times how long until the screen shows the change; it prints `{"key_ms": [[unix time, ms], ...]}` when it stops.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.close = False

    def data_received(self, data: bytes) -> None:
        # One response per request head in the chunk (wrk pipelines nothing,
        # but a chunk may hold several heads under load).
        count = data.count(b"\r\n\r\n")
        self.transport.write(RESPONSE * count)
        if b"onnection: close" in data:
            self.transport.close()


async def _until_stdin_closes() -> None:
    await asyncio.to_thread(sys.stdin.read)


async def bare() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Bare, "127.0.0.1", 0, backlog=1024)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await _until_stdin_closes()
    server.close()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def tui(session: Path) -> None:
    from textual import events
    from textual.pilot import Pilot

    from netbench.ui.app import AppConfig, NetbenchApp
    from netbench.ui.widgets.traffic import TrafficList

    app = NetbenchApp(AppConfig(port=0, session=session, capture=False))
    latencies: list[tuple[float, float]] = []
    """(unix time of the press, ms until the screen showed it)."""

    async def drive(pilot: Pilot[int]) -> None:
        await pilot.pause()
        assert app.page_server is not None
        print(json.dumps({"port": app.page_server.address.port}), flush=True)
        traffic = app.screen.query_one(TrafficList)
        stdin_closed = asyncio.ensure_future(_until_stdin_closes())
        while not stdin_closed.done():
            await asyncio.sleep(0.25)
            before = traffic.follow
            pressed, at = time.perf_counter(), time.time()
            # What the terminal driver does when a key arrives (the pilot's
            # press would also wait for the app to go idle, which a busy
            # server never does): then time until the screen shows it.
            key = events.Key("f", "f")
            key.set_sender(app)
            assert app._driver is not None
            app._driver.send_message(key)
            while traffic.follow == before and time.perf_counter() - pressed < 5:  # noqa: ASYNC110 (the poll is the measurement)
                await asyncio.sleep(0.001)
            refreshed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            app.call_after_refresh(_resolve, refreshed)
            await asyncio.wait_for(refreshed, 5)
            latencies.append((at, (time.perf_counter() - pressed) * 1000))
        print(json.dumps({"key_ms": latencies}), flush=True)
        app.exit()

    app.run(headless=True, size=(160, 50), auto_pilot=drive)


if __name__ == "__main__":
    if sys.argv[1] == "bare":
        asyncio.run(bare())
    elif sys.argv[1] == "tui":
        tui(Path(sys.argv[2]))
    else:
        sys.exit(f"unknown peer {sys.argv[1]!r}")
