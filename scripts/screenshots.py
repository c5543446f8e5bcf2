"""Write SVG screenshots of netbench's main screens into screenshots/.

    python scripts/screenshots.py            # or: make screenshots

It runs the real app headless (Textual's pilot) with real servers on free
ports and real traffic from http.client and a TCP client, then saves one SVG
per screen; then seed 004's picture (key 8: the WSGI app behind the proxy)
with a request's two legs; then the workshop's handshake lesson at its
connect step, at 100x30, as a terminal and as a projector shows it. The
README shows them; re-run after changing the UI.

Run it as root (or with CAP_NET_RAW, or with `netbench capture-agent`
running): the TCP tab's picture is of captured packets, and the script stops
with the reason rather than save the inferred fallback.
"""

from __future__ import annotations

import asyncio
import http.client
import sys
import tempfile
from pathlib import Path

from netbench.engine.clients import open_tcp
from netbench.engine.config import default_config
from netbench.store import SessionReader
from netbench.store.packets import capture_history
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.screens.workshop import WorkshopScreen
from netbench.ui.widgets.http_view import HttpView
from netbench.ui.widgets.tcp_ladder import TcpLadder
from netbench.ui.widgets.traffic import TrafficList
from netbench.ui.workshop_app import WorkshopApp
from netbench.workshop import find_scenario

SIZE = (160, 48)
WORKSHOP_SIZE = (100, 30)


def _request(port: int, method: str, path: str, body: bytes | None = None) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    conn.request(method, path, body=body, headers=headers)
    conn.getresponse().read()
    conn.close()


async def _wait_for_capture(session: Path) -> None:
    """Until the session records capture running; exit saying why if it does not start."""
    detail = "no capture status recorded"
    for _ in range(200):
        with SessionReader(session) as reader:
            history = capture_history(reader)
        if history and history[-1].running:
            return
        detail = history[-1].detail if history else detail
        await asyncio.sleep(0.05)
    raise SystemExit(f"screenshots: capture is not running ({detail}); run as root")


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        session = Path(tmp) / "demo.netbench.sqlite"
        app = NetbenchApp(AppConfig(port=0, session=session))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.3)
            assert app.engine is not None and app.page_server is not None
            await _wait_for_capture(session)
            port = app.page_server.address.port
            for method, path, body in (
                ("GET", "/", None),
                ("GET", "/test.jpg", None),
                ("GET", "/favicon.ico", None),
                ("POST", "/", b"firstname=Ann"),
            ):
                await asyncio.to_thread(_request, port, method, path, body)
            echo = await app.engine.start_server(default_config("echo", port=0))
            client = await open_tcp(app.engine.ctx, "127.0.0.1", echo.address.port)
            client.send(b"Hello\r\n")
            await client.recv()
            client.send(b"\x00\x01\x1b[31mred\x1b[0m\r\n")
            await client.recv()
            await client.close()
            await pilot.pause(0.5)

            traffic = app.screen.query_one(TrafficList)
            traffic.focus()
            await pilot.press("home", "down", "down", "down", "enter")  # the POST
            await pilot.pause(0.4)
            app.save_screenshot("main-bytes.svg", str(out))
            await pilot.press("h")
            await pilot.pause(0.3)
            app.save_screenshot("http.svg", str(out))
            await pilot.press("r")
            await pilot.pause(0.3)
            app.save_screenshot("respond.svg", str(out))
            await pilot.press("escape", "end", "enter", "b")  # the echo connection
            await pilot.pause(0.4)
            app.save_screenshot("echo-bytes.svg", str(out))
            await pilot.press("escape", "home", "enter", "p")  # the browser-like GET /
            await pilot.pause(0.5)
            await pilot.press("down")
            ladder = app.screen.query_one(TcpLadder)
            for _ in range(100):
                if not ladder.inferred:
                    break
                await pilot.pause(0.05)
            if ladder.inferred:
                raise SystemExit("screenshots: the TCP tab shows inferred steps, not packets")
            await pilot.pause(0.2)
            app.save_screenshot("tcp-ladder.svg", str(out))
            await pilot.press("f1")
            await pilot.pause(0.3)
            app.save_screenshot("help.svg", str(out))
            await pilot.press("escape")
            await app.shutdown()
    await proxy_legs(out / "proxy-legs.svg")
    for projector, name in ((False, "workshop.svg"), (True, "workshop-projector.svg")):
        await workshop(out / name, projector=projector)
    print(f"screenshots written to {out}")


async def proxy_legs(path: Path) -> None:
    """Key 8, a browser-like GET through the proxy, the client leg's HTTP tab."""
    with tempfile.TemporaryDirectory() as tmp:
        app = NetbenchApp(AppConfig(port=0, session=Path(tmp) / "proxy.netbench.sqlite"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.3)
            await pilot.press("S", "8", "enter")  # the preset's form: Enter starts it
            assert app.engine is not None
            engine = app.engine
            for _ in range(100):  # the app and the proxy in front of it (bounded: 5 s)
                if any(s.config.kind == "proxy" for s in engine.servers.values()):
                    break
                await pilot.pause(0.05)
            proxy = next(s for s in engine.servers.values() if s.config.kind == "proxy")
            await asyncio.to_thread(_request, proxy.address.port, "GET", "/")
            await pilot.pause(0.5)
            traffic = app.screen.query_one(TrafficList)
            traffic.focus()
            await pilot.press("home", "enter", "h")  # the client leg
            await pilot.pause(0.5)
            app.screen.query_one(HttpView).scroll_end(animate=False)  # its other leg
            await pilot.pause(0.3)
            app.save_screenshot(path.name, str(path.parent))
            await app.shutdown()


async def workshop(path: Path, *, projector: bool) -> None:
    """The handshake lesson after its second step, connect() (capture off: inferred packets)."""
    app = WorkshopApp(find_scenario("handshake"), projector=projector, capture=False)
    async with app.run_test(size=WORKSHOP_SIZE) as pilot:
        screen = app.screen
        for _ in range(200):
            if isinstance(screen, WorkshopScreen) and not screen.busy and screen.drawn:
                break
            await pilot.pause(0.05)
            screen = app.screen
        assert isinstance(screen, WorkshopScreen)
        for step in (1, 2):
            await pilot.press("space")
            for _ in range(200):
                if not screen.busy and screen.shown is not None and screen.shown.index + 1 == step:
                    break
                await pilot.pause(0.05)
        await pilot.pause(0.3)
        app.save_screenshot(path.name, str(path.parent))


if __name__ == "__main__":
    target = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "screenshots"
    )
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
