"""The TUI under the whole barrage: alive, answering keys, every payload shown literally.

The app runs as `netbench` does, with its page server on a real port; the
hostile requests of the server cases hit that server while the pilot
watches. After each one the server answers a normal request within 2 s and
the app is still running; at the end a key press still takes effect and the
traffic list shows the markup and escape payloads as text and symbols.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from payloads import (
    CLOSE,
    H2_PREFACE,
    HOST,
    HTTP09,
    OVERSIZED,
    PAYLOADS,
    REFUSED_WITH_400,
    carrying,
)
from rawclient import connect, reset, still_answers, talk
from textual.pilot import Pilot

from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.widgets.traffic import TrafficList

CONCURRENT = 200
RAW_CONTROLS = frozenset("\x1b\x07\x9b\x00\x7f\r")


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[NetbenchApp, Pilot[int]]]:
    app = NetbenchApp(AppConfig(port=0, session=tmp_path / "hostile.netbench.sqlite"))
    async with app.run_test(size=(160, 50)) as pilot:
        await asyncio.wait_for(app.started.wait(), 10)  # the engine starts after the first frame
        await pilot.pause()
        yield app, pilot


def reset_mid_request(port: int) -> None:
    sock = connect(port)
    sock.sendall(b"POST /reset HTTP/1.1\r\n" + HOST + b"Content-Length: 99\r\n\r\nab")
    reset(sock)


async def _concurrent(port: int) -> list[int]:
    async def one(index: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /c%d HTTP/1.1\r\n" % index + HOST + b"Connection: close\r\n\r\n")
        data = await reader.read()
        writer.close()
        return int(data.split(b" ", 2)[1])

    async with asyncio.timeout(30):
        return await asyncio.gather(*(one(n) for n in range(CONCURRENT)))


@pytest.mark.timeout(120)
async def test_the_tui_survives_the_barrage_and_shows_payloads_literally(app) -> None:  # type: ignore[no-untyped-def]
    netbench, pilot = app
    assert netbench.page_server is not None
    port = netbench.page_server.address.port
    barrage = [
        *REFUSED_WITH_400.values(),
        *OVERSIZED.values(),
        HTTP09,
        H2_PREFACE,
        *(carrying(path) for path in PAYLOADS.values()),
    ]
    for request in barrage:
        await asyncio.to_thread(talk, port, request)
        assert await asyncio.to_thread(still_answers, port, "/", 2.0) == 200
        assert netbench.is_running
    await asyncio.to_thread(reset_mid_request, port)
    statuses = await asyncio.to_thread(lambda: asyncio.run(_concurrent(port)))
    assert statuses == [404] * CONCURRENT
    for path in (PAYLOADS["markup"], PAYLOADS["osc-title-and-clipboard"]):
        await asyncio.to_thread(
            talk, port, b"GET /last-" + path[1:] + b" HTTP/1.1\r\n" + HOST + CLOSE
        )
    assert await asyncio.to_thread(still_answers, port, "/", 2.0) == 200

    traffic = netbench.screen.query_one(TrafficList)
    # Every request is listed, however it ended: each of the barrage and the
    # check after it, the reset one, the concurrent ones, the last two and a check.
    listed = len(barrage) * 2 + 1 + CONCURRENT + 2 + 1
    async with asyncio.timeout(10):
        while len(traffic.model) < listed:
            await pilot.pause(0.05)
    traffic.focus()
    await pilot.press("end")
    await pilot.pause(0.2)
    shown = [traffic.render_line(y).text for y in range(traffic.size.height)]
    # The rows are cut to the column: their starts show the payloads as sent.
    assert any("GET /last-[bold" in line for line in shown), shown
    assert any("GET /last-␛]0" in line for line in shown), shown
    assert not RAW_CONTROLS & set("".join(shown))

    following = traffic.follow
    await pilot.press("f")  # the keys still work
    async with asyncio.timeout(1):
        while traffic.follow == following:
            await pilot.pause(0.02)
    assert netbench.is_running
