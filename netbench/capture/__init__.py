"""Packet capture: the only package that imports scapy, and only lazily.

`import netbench.capture` loads no scapy (tests/test_layers.py checks it):
scapy is imported on a worker thread when a capture actually opens.

`start_capture(ctx)` picks the way to capture, in this order:
1. in-process (`LoopbackCapture`), when this process may capture itself;
2. the capture agent (`AgentClient`), when its socket exists: the privileged
   helper `sudo netbench capture-agent` serves control packets to this user;
3. none: one `CaptureStatus(running=False)` saying why and how to enable it.
Either way it returns at once with a handle whose `stop()` ends it; its
progress and failures arrive on the bus as `CaptureStatus` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable
from typing import Literal, Protocol

from netbench.capture.agent_client import AgentClient
from netbench.capture.preflight import CaptureProblem
from netbench.capture.sniffer import LoopbackCapture, Publisher
from netbench.events import CaptureStatus

__all__ = [
    "AgentClient",
    "CaptureHandle",
    "CaptureProblem",
    "LoopbackCapture",
    "choose_backend",
    "start_capture",
]

Backend = Literal["in-process", "agent"]


class CaptureHandle(Protocol):
    def stop(self, timeout: float = 2.0) -> None:
        """Stop capturing; bounded, idempotent, callable on the loop thread."""


def _agent_available() -> bool:
    from netbench.capture.wire import agent_socket_path

    path = agent_socket_path()
    try:
        return path.is_socket()
    except OSError:
        return False


def choose_backend(interface: str = "lo") -> Backend | CaptureProblem:
    """How this process can capture, or why it cannot. Blocking: may import scapy."""
    # Imported here: a package-level name `preflight` would hide the submodule.
    from netbench.capture.preflight import preflight

    problem = preflight(interface)
    if problem is None:
        return "in-process"
    if problem.kind != "no-interface" and interface == "lo" and _agent_available():
        return "agent"
    return problem


class _Starter:
    """Decides off the loop (preflight may import scapy), then starts the backend."""

    def __init__(
        self,
        ctx: Publisher,
        *,
        interface: str,
        ports: tuple[int, ...],
        capture_data: bool,
        backend: Backend | CaptureProblem | None,
    ) -> None:
        self._ctx = ctx
        self._interface = interface
        self._ports = ports
        self._capture_data = capture_data
        self._inner: CaptureHandle | None = None
        self._stopped = False
        self._loop = asyncio.get_running_loop()
        self._thread: threading.Thread | None = None
        if backend is not None:
            self._begin(backend)
        else:
            self._thread = threading.Thread(
                target=self._decide, name="netbench-capture-preflight", daemon=True
            )
            self._thread.start()

    def _decide(self) -> None:
        backend = choose_backend(self._interface)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to capture for
            self._loop.call_soon_threadsafe(self._begin, backend)

    def _begin(self, backend: Backend | CaptureProblem) -> None:
        if self._stopped:
            return
        if isinstance(backend, CaptureProblem):
            self._ctx.publish(CaptureStatus(False, time.monotonic(), str(backend)))
            return
        inner: LoopbackCapture | AgentClient
        if backend == "in-process":
            inner = LoopbackCapture(
                self._ctx,
                interface=self._interface,
                ports=self._ports,
                capture_data=self._capture_data,
            )
        else:
            inner = AgentClient(self._ctx, ports=self._ports)
        self._inner = inner
        inner.start()

    def stop(self, timeout: float = 2.0) -> None:
        # A preflight still running is not waited for: its answer is ignored.
        self._stopped = True
        if self._inner is not None:
            self._inner.stop(timeout)


def start_capture(
    ctx: Publisher,
    *,
    ports: Iterable[int] = (),
    capture_data: bool = False,
    interface: str = "lo",
    backend: Backend | CaptureProblem | None = None,
) -> CaptureHandle:
    """Start capturing for the engine `ctx` (call on its loop); returns at once.

    `ports` restricts capture to netbench's server ports (empty: every TCP
    connection on the interface); `capture_data` adds their data segments
    (in-process only: the agent forwards control packets only). `backend`, from
    `choose_backend`, skips the decision when the caller already made it.
    """
    return _Starter(
        ctx,
        interface=interface,
        ports=tuple(ports),
        capture_data=capture_data,
        backend=backend,
    )
