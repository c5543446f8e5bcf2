"""A flood of requests: every one is listed, and keys still work meanwhile."""

from __future__ import annotations

import asyncio
import socket

from uikit import Running

from netbench.ui.widgets.traffic import TrafficList

REQUESTS = 2000


def flood(port: int) -> int:
    """Pipelined keep-alive GETs on a few connections; returns responses read."""
    answered = 0
    request = b"GET /flood HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    for _connection in range(4):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            batch = REQUESTS // 4
            sock.sendall(request * batch)
            data = b""
            while data.count(b"HTTP/1.1 404") < batch:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
            answered += data.count(b"HTTP/1.1 404")
    return answered


async def test_flood_is_listed_and_keys_still_work(running: Running) -> None:
    traffic = running.app.screen.query_one(TrafficList)
    traffic.focus()
    sender = asyncio.create_task(asyncio.to_thread(flood, running.port))
    await running.until(lambda: len(traffic.model) > 0, timeout=10)
    assert traffic.follow
    await running.pilot.press("f")  # during the flood
    await running.until(lambda: not traffic.follow, timeout=5)
    assert await asyncio.wait_for(sender, 60) == REQUESTS
    await running.until(lambda: len(traffic.model) == REQUESTS, timeout=15)
    await running.pilot.press("end", "enter")
    row = traffic.selected_row()
    assert row is not None and row.target == b"/flood"
