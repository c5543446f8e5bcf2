"""The new user's walk, with a real browser: load the page, read its bytes in
the UI, change the response in the editor, reload, see the new page."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from textual.widgets import TextArea
from uikit import Running

from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.respond import RespondPane
from netbench.ui.widgets.traffic import TrafficList

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium or chromium-browser binary on PATH"),
]


async def dump_dom(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-quic", f"--user-data-dir={profile}", "--dump-dom", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _err = await asyncio.wait_for(process.communicate(), 60)
    return out.decode()


async def test_browser_page_bytes_then_edited_response(running: Running, tmp_path: Path) -> None:
    assert running.app.page_server is not None
    url = running.app.page_server.url
    dom = await dump_dom(url, tmp_path / "profile-1")
    assert "Wow, Python Server" in dom

    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= 1)
    first = traffic.model.row_at(0, running.app.reader())
    assert first is not None and first.target == b"/"
    traffic.focus()
    await running.pilot.press("home", "enter", "b")
    view = running.app.screen.query_one(BytesView)

    def shown() -> str:
        return "\n".join(view.render_line(y).text for y in range(view.size.height))

    await running.until(lambda: "GET / HTTP/1.1␍" in shown())

    await running.pilot.press("r")
    await running.pilot.pause()
    editor = running.app.screen.query_one(RespondPane).query_one(TextArea)
    editor.text = "HTTP/1.1 200 OK\nContent-Type: text/html\n\n<h1>Changed in the editor</h1>\n"
    await running.pilot.press("ctrl+s")
    await running.pilot.pause()
    dom = await dump_dom(url, tmp_path / "profile-2")
    assert "Changed in the editor" in dom
