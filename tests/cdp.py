"""A small Chrome DevTools Protocol client: headless Chromium driven over its websocket.

Playwright is not available; aiohttp (which textual-serve brings) speaks
websockets. `Browser.launch` starts Chromium with `--remote-debugging-port=0`
and reads the port it chose from `DevToolsActivePort` in its profile;
`Page` is one tab attached in flat mode (commands carry its session id).
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
)


@dataclass
class Browser:
    process: asyncio.subprocess.Process
    http: aiohttp.ClientSession
    socket: aiohttp.ClientWebSocketResponse
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _waiting: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def launch(cls, profile: Path, timeout: float = 30.0) -> Browser:
        assert CHROMIUM is not None
        process = await asyncio.create_subprocess_exec(
            CHROMIUM,
            *FLAGS,
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        active = profile / "DevToolsActivePort"
        try:
            async with asyncio.timeout(timeout):
                while not (active.is_file() and len(active.read_text().splitlines()) >= 2):
                    if process.returncode is not None:
                        raise RuntimeError(f"chromium exited with {process.returncode}")
                    await asyncio.sleep(0.1)
            port, path = active.read_text().splitlines()[:2]
            http = aiohttp.ClientSession()
            socket = await http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        except BaseException:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)
            raise
        browser = cls(process, http, socket)
        browser._reader = asyncio.create_task(browser._read())
        return browser

    async def _read(self) -> None:
        async for message in self.socket:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            waiter = self._waiting.pop(data.get("id", -1), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(data)

    async def call(
        self, method: str, session: str | None = None, timeout: float = 15.0, **params: Any
    ) -> dict[str, Any]:
        """One CDP command; its `result` (raises on a protocol error)."""
        call_id = next(self._ids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = waiter
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.socket.send_str(json.dumps(message))
        async with asyncio.timeout(timeout):
            reply = await waiter
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def new_page(self) -> Page:
        target = await self.call("Target.createTarget", url="about:blank")
        attached = await self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        return Page(self, attached["sessionId"])

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, aiohttp.ClientError, ConnectionError):
            await self.call("Browser.close", timeout=5.0)
        if self._reader is not None:
            self._reader.cancel()
        await self.socket.close()
        await self.http.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)


@dataclass
class Page:
    browser: Browser
    session: str

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.call(method, self.session, **params)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able)."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll `expression` until it is truthy; its value (TimeoutError otherwise)."""
        async with asyncio.timeout(timeout):
            while True:
                value = await self.evaluate(expression)
                if value:
                    return value
                await asyncio.sleep(0.2)
