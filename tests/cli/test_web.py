"""`netbench web`: the terminal UI in a real headless Chromium, behind its token.

The page is loaded over the DevTools protocol (tests/cdp.py). A script run
before the page's own copies every byte the terminal's websocket receives
into `window.__netbenchBytes`: what xterm.js draws (on a canvas, so not in
the DOM) is exactly that stream.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from cdp import CHROMIUM, Browser

START_TIMEOUT = 20.0

RECORD_TERMINAL_BYTES = """
window.__netbenchBytes = "";
window.__netbenchSockets = 0;
const decoder = new TextDecoder();
const OriginalWebSocket = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const socket = new OriginalWebSocket(url, protocols);
  window.__netbenchSockets += 1;
  socket.addEventListener("message", (event) => {
    if (typeof event.data !== "string") {
      window.__netbenchBytes += decoder.decode(new Uint8Array(event.data), {stream: true});
    }
  });
  return socket;
};
window.WebSocket.prototype = OriginalWebSocket.prototype;
Object.assign(window.WebSocket, OriginalWebSocket);
"""

_ESCAPES = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


class WebProcess:
    """A `netbench web` child: its URL from the first line, stopped with SIGINT."""

    def __init__(self, *args: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "netbench", "web", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()
        try:
            first = self.lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            first = None
        if first is None or "open http://" not in first:
            self.stop()
            pytest.fail(f"netbench web printed {first!r}; stderr {''.join(self.stderr)!r}")
        self.url = first.split("open ", 1)[1].strip()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.stderr.append(line)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            return self.popen.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)  # its own group: the TUIs it started too
            return self.popen.wait(5)


@pytest.fixture
def web() -> Iterator[list[WebProcess]]:
    started: list[WebProcess] = []
    yield started
    for process in started:
        process.stop()


def status_of(url: str, path: str, headers: dict[str, str] | None = None) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        return conn.getresponse().status
    finally:
        conn.close()


def test_requests_without_the_token_get_403(web: list[WebProcess]) -> None:
    web.append(server := WebProcess("--port", "0"))
    token_path = urlsplit(server.url).path
    assert re.fullmatch(r"/[A-Za-z0-9_-]{43}/", token_path)
    assert status_of(server.url, token_path) == 200
    wrong = "/" + "A" * 43 + "/"
    for path in ("/", "/ws", "/static/js/textual.js", wrong, wrong + "ws", token_path[:-2] + "/"):
        assert status_of(server.url, path) == 403, path
    assert status_of(server.url, token_path + "static/js/textual.js") == 200


async def test_a_websocket_without_the_token_or_from_another_site_is_refused(
    web: list[WebProcess],
) -> None:
    web.append(server := WebProcess("--port", "0"))
    base = server.url.replace("http://", "ws://")
    root = base.split("/", 3)[:3]
    async with aiohttp.ClientSession() as session:
        for url, headers in [
            ("/".join(root) + "/ws", {}),
            (base + "ws", {"Origin": "http://evil.example"}),
        ]:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url, headers=headers)
            assert refused.value.status == 403


def test_beyond_loopback_is_warned_of(web: list[WebProcess]) -> None:
    web.append(server := WebProcess("--host", "0.0.0.0", "--port", "0"))
    deadline = time.monotonic() + 5
    while not any("beyond loopback" in line for line in server.stderr):
        assert time.monotonic() < deadline, server.stderr
        time.sleep(0.05)
    assert any(
        line.startswith("netbench web: warning: listening on 0.0.0.0") for line in server.stderr
    )


def test_bad_usage_exits_2(run_netbench) -> None:  # type: ignore[no-untyped-def]
    assert run_netbench("web", "--port", "70000").returncode == 2
    assert run_netbench("web", "--", "web").returncode == 2


def test_a_port_in_use_is_one_error_line(run_netbench) -> None:  # type: ignore[no-untyped-def]
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_netbench("web", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == (
        f"netbench: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def terminal_text(raw: str) -> str:
    """The characters the terminal was sent, escape sequences removed."""
    return _ESCAPES.sub("", raw)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium or chromium-browser binary on PATH")
async def test_chromium_shows_the_tui_and_a_live_request(
    web: list[WebProcess], tmp_path: Path
) -> None:
    # The TUI each page runs: its page server on a free port, no capture agent.
    web.append(server := WebProcess("--port", "0", "--", "--port", "0", "--no-capture"))
    browser = await Browser.launch(tmp_path / "profile")
    try:
        page = await browser.new_page()
        await page.call("Page.enable")
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_TERMINAL_BYTES)
        await page.call("Page.navigate", url=server.url)
        title = await page.wait_for("document.readyState === 'complete' && document.title")
        assert title == "netbench --port 0 --no-capture"  # the command each page runs
        assert await page.wait_for("window.__netbenchSockets") == 1
        # The header names netbench and the page server's URL once it listens.
        found = await page.wait_for(
            "(window.__netbenchBytes.match(/http:\\/\\/127\\.0\\.0\\.1:(\\d+)\\//) || [])[1]",
            timeout=30.0,
        )
        port = int(found)
        shown = terminal_text(await page.evaluate("window.__netbenchBytes"))
        assert "netbench" in shown
        assert await page.evaluate("document.body.classList.contains('-first-byte')")

        probe = f"/probe-{uuid.uuid4().hex[:6]}"
        assert status_of(f"http://127.0.0.1:{port}/", probe) == 404
        await page.wait_for(f"window.__netbenchBytes.includes({json.dumps(probe)})")
    finally:
        await browser.close()
    assert server.stop() == 0
