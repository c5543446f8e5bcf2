"""A HAR saved by Chromium's own DevTools, from a headless Chromium.

Headless Chromium serves its DevTools front end at /devtools/inspector.html.
This opens a page and, in a second tab, the front end inspecting it; loads a
URL (and runs a script in the page: form posts); then asks the front end for
the HAR of everything its Network log holds, with the same function
DevTools' "Copy all as HAR" and "Save all as HAR" use
(`HAR.Writer.Writer.harStringForRequests`). The HAR is Chromium's, byte for
byte: nothing here builds or edits it.

The browser is driven over `--remote-debugging-pipe` (the DevTools protocol
as NUL-separated JSON on file descriptors 3 and 4), so no WebSocket library
is needed. Every wait is bounded.

    python tests/chromiumkit.py URL OUT.har   # what made tests/data/chromium-devtools.har
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

FORM_POSTS = """(async () => {
  const urls = ["/upload", "/form?lang=fr&q=caf%C3%A9"].map(path => new URL(path, location).href);
  const form = new FormData();
  form.append("note", "héllo wörld ✓");
  form.append("file", new Blob([new Uint8Array([0, 255, 1, 254])], {type: "application/octet-stream"}), "bytes.bin");
  await fetch(urls[0], {method: "POST", body: form});
  await fetch(urls[1], {method: "POST", body: new URLSearchParams({name: "Zoë"})});
  return urls;
})()"""
"""What the page does after loading: a multipart and a url-encoded POST, in UTF-8.
A page script returns the URLs it requested."""

_HAR_OF_THE_NETWORK_LOG = """(async () => {
  const Logs = await import("./models/logs/logs.js");
  const HAR = await import("./models/har/har.js");
  const progress = {
    setTotalWork() {}, setTitle() {}, setWorked() {}, incrementWorked() {}, done() {},
    isCanceled() { return false; }, createSubProgress() { return progress; },
  };
  const requests = Logs.NetworkLog.NetworkLog.instance().requests();
  return await HAR.Writer.Writer.harStringForRequests(requests, {sanitize: false}, progress);
})()"""

_FRONT_END_READY = """(async () => {
  const SDK = await import("./core/sdk/sdk.js");
  return SDK.TargetManager.TargetManager.instance().targets().length;
})()"""


class DevToolsPipe:
    """A headless Chromium and the DevTools protocol over its pipe."""

    def __init__(self, profile: Path, timeout: float = 30.0) -> None:
        assert CHROMIUM is not None, "no chromium on PATH"
        self.timeout = timeout
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def plug_fds() -> None:
            os.dup2(commands_read, 3)
            os.dup2(replies_write, 4)

        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "--remote-debugging-port=0",
            ],
            pass_fds=(3, 4),
            preexec_fn=plug_fds,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._last_id = 0
        self.port = self._port(profile)

    def _port(self, profile: Path) -> int:
        marker = profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not marker.exists() or not marker.read_text().strip():
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        return int(marker.read_text().split()[0])

    def send(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            data = os.read(self._replies, 1 << 16)
            if not data:
                raise EOFError("Chromium closed its pipe")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\0", 1)
        result: dict[str, Any] = json.loads(line)
        return result

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("exception", {}).get("description"))
        return result["result"].get("value")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        os.close(self._commands)
        os.close(self._replies)


@dataclass(frozen=True)
class DevTools:
    """A page, and DevTools' front end inspecting it, ready to evaluate in."""

    browser: DevToolsPipe
    front: str
    """The front end's session id."""
    page: str
    """The inspected page's session id."""
    deadline: float


@contextmanager
def devtools(timeout: float = 30.0) -> Iterator[DevTools]:
    """Headless Chromium with a blank page and its DevTools front end, attached."""
    profile = Path(tempfile.mkdtemp(prefix="netbench-chromium-"))
    browser = DevToolsPipe(profile, timeout)
    try:
        page = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        inspector = (
            f"http://127.0.0.1:{browser.port}/devtools/inspector.html"
            f"?ws=127.0.0.1:{browser.port}/devtools/page/{page}"
        )
        front = browser.send("Target.createTarget", {"url": inspector})["targetId"]
        front_session = browser.send("Target.attachToTarget", {"targetId": front, "flatten": True})
        page_session = browser.send("Target.attachToTarget", {"targetId": page, "flatten": True})
        tools = DevTools(
            browser,
            front_session["sessionId"],
            page_session["sessionId"],
            time.monotonic() + timeout,
        )
        while not _quietly(browser.evaluate, tools.front, _FRONT_END_READY):
            if time.monotonic() > tools.deadline:
                raise TimeoutError("DevTools did not attach to the page")
            time.sleep(0.1)
        yield tools
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


def devtools_har(url: str, page_script: str = FORM_POSTS, timeout: float = 30.0) -> str:
    """Load `url` in headless Chromium, run `page_script`, and return DevTools' HAR of it.

    Chromium's DevTools logs the page's own requests (the favicon's may come
    or not) and then the script's.
    """
    with devtools(timeout) as tools:
        browser, front_id, page_id = tools.browser, tools.front, tools.page
        # The front end may still be enabling its network domain when it says it is
        # attached: load the page again until its Network log holds the page itself
        # (a navigation starts the log afresh).
        loaded = "location.href !== 'about:blank' && document.readyState === 'complete'"
        while True:
            browser.send("Page.navigate", {"url": url}, page_id)
            while not _quietly(browser.evaluate, page_id, loaded):
                if time.monotonic() > tools.deadline:
                    raise TimeoutError(f"{url} did not load")
                time.sleep(0.1)
            if browser.evaluate(front_id, _logged([url])):
                break
            if time.monotonic() > tools.deadline:
                raise TimeoutError("DevTools did not log the page's requests")
        urls = browser.evaluate(page_id, page_script)
        # The front end hears of the page's requests over its own connection, later.
        while not browser.evaluate(front_id, _logged(urls)):
            if time.monotonic() > tools.deadline:
                raise TimeoutError("DevTools did not log the page script's requests")
            time.sleep(0.1)
        har: str = browser.evaluate(front_id, _HAR_OF_THE_NETWORK_LOG)
        return har


def devtools_import(har: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """What DevTools makes of a HAR file, as its Network panel's "Import HAR file" reads it.

    One dict per request DevTools built: url, method, status, the request's
    body text, the response body (text, or base64 when DevTools keeps it so).
    """
    with devtools(timeout) as tools:
        found: list[dict[str, Any]] = tools.browser.evaluate(tools.front, _import_script(har))
        return found


def _import_script(har: str) -> str:
    return f"""(async () => {{
  const HAR = await import("./models/har/har.js");
  const log = new HAR.HARFormat.HARRoot(JSON.parse({json.dumps(har)})).log;
  const requests = HAR.Importer.Importer.requestsFromHARLog(log);
  const out = [];
  for (const request of requests) {{
    const data = await request.requestContentData();
    out.push({{
      url: request.url(),
      method: request.requestMethod,
      status: request.statusCode,
      requestBody: await request.requestFormData(),
      error: data.error ?? null,
      body: data.error || !data.isTextContent ? null : data.text,
      base64: data.error || data.isTextContent ? null : data.base64,
    }});
  }}
  return out;
}})()"""


def _logged(urls: list[str]) -> str:
    """An expression for the front end: has its Network log finished all of `urls`?"""
    return (
        "(async () => { const requests = (await import('./models/logs/logs.js'))"
        ".NetworkLog.NetworkLog.instance().requests();"
        f" return {json.dumps(urls)}.every(u => requests.some(r => r.url() === u && r.finished));"
        " })()"
    )


def _quietly(evaluate: Any, session: str, expression: str) -> Any:
    """The value, or None while the page or front end is still loading."""
    try:
        return evaluate(session, expression)
    except RuntimeError:
        return None


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(devtools_har(sys.argv[1]), encoding="utf-8")
