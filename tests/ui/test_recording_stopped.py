"""When the session cannot be written any more, the TUI says so and keeps serving."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from httpkit import status_of
from uikit import started

from netbench.ui.app import AppConfig, NetbenchApp


@pytest.mark.timeout(30)
async def test_a_broken_session_is_shown_and_the_server_keeps_serving(tmp_path: Path) -> None:
    session = tmp_path / "broken.netbench.sqlite"
    app = NetbenchApp(AppConfig(port=0, session=session, capture=False))
    async with app.run_test(size=(160, 50)) as pilot:
        await started(app)
        assert app.page_server is not None
        port = app.page_server.address.port
        assert await asyncio.to_thread(status_of, port, "/") == 200
        # Someone breaks the file under the writer: the next batch fails for real.
        with closing(sqlite3.connect(session, isolation_level=None, timeout=5)) as other:
            other.execute("DROP TABLE chunk_blocks")
        assert await asyncio.to_thread(status_of, port, "/after") == 404

        def stopped() -> list[str]:
            return [
                str(n.message) for n in app._notifications if "Recording stopped" in str(n.message)
            ]

        async with asyncio.timeout(5):
            while not stopped():
                await pilot.pause(0.05)
        (message,) = stopped()
        assert str(session) in message and "Servers keep serving" in message
        assert await asyncio.to_thread(status_of, port, "/still") == 404  # still serving
        assert app.is_running
