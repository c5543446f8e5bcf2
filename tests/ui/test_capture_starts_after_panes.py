"""The TUI's own capture, for real: it starts after the page server and the
hidden panes, and still follows the page server from its first connection."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from uikit import Running, started

from netbench.store import SessionReader
from netbench.store.packets import all_packets, capture_history
from netbench.ui.app import AppConfig, NetbenchApp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "capture"))
from capturekit import PRIVILEGED

pytestmark = PRIVILEGED


@pytest.fixture
async def capturing(tmp_path: Path) -> AsyncIterator[Running]:
    app = NetbenchApp(AppConfig(port=0, session=tmp_path / "ui.netbench.sqlite"))
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        yield Running(app, pilot)


async def test_capture_started_after_the_page_server_follows_it(capturing: Running) -> None:
    assert capturing.app.session_path is not None
    with SessionReader(capturing.app.session_path) as reader:
        await capturing.until(lambda: any(row.running for row in capture_history(reader)), 15.0)
        status, _body = await capturing.get("/")
        assert status == 200
        port = capturing.port

        def page_packets() -> list[tuple[str, int]]:
            return [
                (packet.flags, packet.payload_len)
                for packet in all_packets(reader)
                if port in (packet.src.port, packet.dst.port)
            ]

        # The handshake, and the request's data segment (a server's young data).
        await capturing.until(
            lambda: (
                any("S" in flags for flags, _ in page_packets())
                and any(size for _, size in page_packets())
            ),
            10.0,
        )
