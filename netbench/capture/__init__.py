"""Packet capture: the only package that imports scapy, and only lazily.

`import netbench.capture` loads no scapy (tests/test_layers.py checks it):
scapy is imported on a worker thread when a capture actually opens.

`start_capture(ctx)` picks the way to capture, in this order:
1. in-process (`LoopbackCapture`), when this process may capture itself;
2. the capture agent (`AgentClient`), when its socket exists: the privileged
   helper `sudo $(command -v netbench) capture-agent` serves packet headers to this user;
3. none: one `CaptureStatus(running=False)` saying why and how to enable it.
Either way it returns at once with a handle whose `watch(ports)` says which
ports' young data segments to capture (netbench's servers, as they start and
stop) and whose `stop()` ends it; its progress and failures arrive on the bus
as `CaptureStatus` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Literal, Protocol

from netbench.capture.agent_client import AgentClient
from netbench.capture.preflight import CaptureProblem
from netbench.capture.sniffer import LoopbackCapture, Publisher
from netbench.events import CaptureStatus, Event, ServerStarted, ServerStopped
from netbench.model import Transport

__all__ = [
    "AgentClient",
    "CaptureHandle",
    "CaptureProblem",
    "LoopbackCapture",
    "ServerPorts",
    "choose_backend",
    "start_capture",
]

Backend = Literal["in-process", "agent"]


class CaptureHandle(Protocol):
    def watch(self, ports: Iterable[int]) -> None:
        """Capture the young data segments of these ports from now on (loop thread)."""

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
        data_ports: tuple[int, ...] | None,
        backend: Backend | CaptureProblem | None,
    ) -> None:
        self._ctx = ctx
        self._interface = interface
        self._ports = ports
        self._data_ports = data_ports
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
            if backend.kind == "no-interface" or self._interface != "lo":
                return
            # Not privileged here, and no agent yet: wait for one. The agent
            # client retries every few seconds, so `sudo ... capture-agent`
            # started after netbench needs no restart.
            backend = "agent"
        inner: LoopbackCapture | AgentClient
        if backend == "in-process":
            inner = LoopbackCapture(
                self._ctx, interface=self._interface, ports=self._ports, data_ports=self._data_ports
            )
        else:
            inner = AgentClient(self._ctx, ports=self._ports, data_ports=self._data_ports)
        self._inner = inner
        inner.start()

    def watch(self, ports: Iterable[int]) -> None:
        self._data_ports = tuple(ports)
        if self._inner is not None:
            self._inner.watch(self._data_ports)

    def stop(self, timeout: float = 2.0) -> None:
        # A preflight still running is not waited for: its answer is ignored.
        self._stopped = True
        if self._inner is not None:
            self._inner.stop(timeout)


def start_capture(
    ctx: Publisher,
    *,
    ports: Iterable[int] = (),
    data_ports: Iterable[int] | None = None,
    interface: str = "lo",
    backend: Backend | CaptureProblem | None = None,
) -> CaptureHandle:
    """Start capturing for the engine `ctx` (call on its loop); returns at once.

    `ports` restricts capture to netbench's server ports (empty: every TCP
    connection on the interface); the young data segments of `data_ports`
    (default: `ports`) are captured too, headers only through the agent.
    `backend`, from `choose_backend`, skips the decision when the caller
    already made it.
    """
    return _Starter(
        ctx,
        interface=interface,
        ports=tuple(ports),
        data_ports=None if data_ports is None else tuple(data_ports),
        backend=backend,
    )


class ServerPorts:
    """A bus subscriber telling a capture which TCP ports netbench serves, as they change.

    Those are the ports whose young connections' data segments are captured:
    the user's own servers, not every program on the machine.
    """

    FOLLOWS = (ServerStarted, ServerStopped)
    """The only events it needs (subscribe with `kinds=FOLLOWS`)."""

    def __init__(self, capture: CaptureHandle, serving: Mapping[int, int] | None = None) -> None:
        self._capture = capture
        self._ports: dict[int, int] = dict(serving or {})
        """Server id -> TCP port, starting with `serving` (servers started before it)."""

    def __call__(self, event: Event) -> None:
        kind = type(event)
        if kind is ServerStarted:
            assert isinstance(event, ServerStarted)
            if event.transport is Transport.TCP:
                self._ports[event.server_id] = event.address.port
                self._capture.watch(self._ports.values())
        elif kind is ServerStopped:
            assert isinstance(event, ServerStopped)
            if self._ports.pop(event.server_id, None) is not None:
                self._capture.watch(self._ports.values())
