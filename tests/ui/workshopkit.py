"""Helpers for the workshop's screens: bounded waits on steps, the screen as text, fixed steps.

A real lesson's ports, times and TCP_INFO numbers change from run to run:
the snapshots show `FIXED_STEPS`, the handshake's first two steps as the
runner reported them once, with the varying numbers written down.
"""

from __future__ import annotations

import asyncio
import io
import time

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

from netbench.protocol.tcp_info import TcpInfo
from netbench.ui.screens.workshop import WorkshopScreen
from netbench.workshop.results import Check, SocketRow, StepResult, WirePacket

NO_CAPTURE = (
    "inferred: nothing was captured (run as root, or start `sudo $(command -v netbench)"
    " capture-agent`, to see the real packets)"
)


def screen_text(app: App[object]) -> str:
    """What the terminal shows now, as plain text (what a user reads)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


async def until(condition: object, timeout: float = 10.0) -> None:
    """Let the app run until `condition()` holds (bounded)."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the workshop screen did not get there in time")
        await asyncio.sleep(0.02)


async def step_screen(app: App[object], timeout: float = 10.0) -> WorkshopScreen:
    """The lesson's screen once it is up and idle (its introduction drawn)."""
    await until(lambda: isinstance(app.screen, WorkshopScreen), timeout)
    screen = app.screen
    assert isinstance(screen, WorkshopScreen)
    await until(lambda: not screen.busy and screen.drawn > 0, timeout)
    return screen


async def press_and_wait(
    pilot: Pilot[object], screen: WorkshopScreen, key: str, timeout: float = 20.0
) -> str:
    """Press `key`, wait for the step it asked for to be drawn; the screen's text."""
    drawn = screen.drawn
    await pilot.press(key)
    await until(lambda: not screen.busy and screen.drawn > drawn, timeout)
    await pilot.pause()
    return screen_text(pilot.app)


def _info(state: str, rtt: int, snd: int, rcv: int) -> TcpInfo:
    return TcpInfo(state=state, unacked=0, total_retrans=0, rtt_us=rtt, snd_wnd=snd, rcv_wnd=rcv)


def _inferred(
    src: str, dst: str, flags: str, seq: int, ack: int | None, window: int | None, note: str
) -> WirePacket:
    return WirePacket(0.4, src, dst, flags, seq, ack, 0, window, "inferred", note)


LISTENER = SocketRow(
    "listener", "listener", "LISTEN", "127.0.0.1:40845", "", True, None, None, 0,
    TcpInfo(state="LISTEN"),
)  # fmt: skip
CLIENT = SocketRow(
    "client", "client", "ESTABLISHED", "127.0.0.1:39556", "127.0.0.1:40845", True, 0, 0, None,
    _info("ESTABLISHED", 31, 65483, 65536),
)  # fmt: skip

FIXED_STEPS = [
    StepResult(
        index=0,
        total=5,
        title="server: socket(), bind(), listen(5)",
        side="server",
        action="listen",
        explanation=(
            "The server makes a socket, binds it to 127.0.0.1 and calls listen(5). Nothing\n"
            "goes on the wire: listen() only tells the kernel to answer SYNs on this port\n"
            "and to keep up to 5 finished handshakes waiting for accept(). Look at the\n"
            "sockets table: one socket in LISTEN, its accept queue empty."
        ),
        elapsed=0.0002,
        sockets=[LISTENER],
        checks=[
            Check("state of listener", "LISTEN", "LISTEN", True),
            Check("accept queue of listener", "0", "0", True),
        ],
        capture=NO_CAPTURE,
    ),
    StepResult(
        index=1,
        total=5,
        title="client: connect()",
        side="client",
        action="connect",
        explanation=(
            "The client calls connect(). Its kernel sends a SYN, the server's kernel answers\n"
            "SYN-ACK, the client's kernel sends the final ACK, and connect() returns after\n"
            "3.5 ms. The server program has not run a single line: the client is\n"
            "already ESTABLISHED, and the finished connection waits in the listener's accept\n"
            "queue (look: it holds one)."
        ),
        elapsed=0.0035,
        packets=[
            _inferred("client", "listener", "S", 0, None, None, "connect() sends a SYN"),
            _inferred(
                "listener",
                "client",
                "SA",
                0,
                1,
                65483,
                "the listener's kernel answers SYN-ACK (no accept() needed)",
            ),
            _inferred(
                "client", "listener", "A", 1, 1, None, "connect() returns once this ACK leaves"
            ),
        ],
        sockets=[LISTENER._replace(accept_queue=1), CLIENT],
        checks=[
            Check("state of client", "ESTABLISHED", "ESTABLISHED", True),
            Check("state of listener", "LISTEN", "LISTEN", True),
            Check("accept queue of listener", "1", "1", True),
            Check("captured packets", "S SA A", "not captured here", None),
        ],
        capture=NO_CAPTURE,
    ),
]
