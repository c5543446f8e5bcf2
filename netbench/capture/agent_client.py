"""Packets from the capture agent, for a netbench that may not capture itself.

Runs as one task on the engine's loop (no thread): it checks that the
agent's Unix socket lies in this user's private directory, connects, checks
that root (or this user) is at the other end, reads
records, decodes them and publishes `PacketCaptured` / `CaptureStatus` like
`LoopbackCapture` does. If the agent is not there or goes away, it says so
once and tries again every `retry` seconds, so starting the agent later, or
restarting it, needs nothing on this side.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

from netbench.capture import sockdir, wire
from netbench.capture.frames import DEFAULT_SNAP
from netbench.capture.sniffer import Publisher
from netbench.events import CaptureStatus, PacketCaptured
from netbench.protocol.tcp_decode import decode

__all__ = ["AgentClient"]

_FIX = "start `sudo $(command -v netbench) capture-agent` in another terminal (netbench connects as soon as it runs)"


class AgentClient:
    """Receive TCP packet headers from `netbench capture-agent`.

    Control packets of every connection come unasked; the data segments of
    young connections to `data_ports` (default `ports`) come once the agent
    was told those ports, which happens at each (re)connection and whenever
    `watch` changes them. The agent sends headers only: the ladder takes the
    payload's first bytes from the session, which holds them anyway.
    """

    def __init__(
        self,
        ctx: Publisher,
        *,
        path: Path | None = None,
        ports: Iterable[int] = (),
        data_ports: Iterable[int] | None = None,
        retry: float = 2.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.path = wire.agent_socket_path() if path is None else path
        self.ports = frozenset(ports)
        self.data_ports = tuple(sorted(self.ports if data_ports is None else set(data_ports)))
        self.paused = ""
        """What the agent's capture has paused and why ("" when nothing)."""
        self._writer: asyncio.StreamWriter | None = None
        self.retry = retry
        self.connect_timeout = connect_timeout
        self.running = False
        self.dropped = 0
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None
        self._said: str | None = None

    @property
    def detail(self) -> str:
        what = "capturing TCP control packets"
        if self.data_ports:
            what += " and young data segments (headers) of port " + ", ".join(
                map(str, self.data_ports)
            )
        if self.paused:
            what += f" ({self.paused})"
        return f"{what} via the capture agent at {self.path}"

    def watch(self, ports: Iterable[int]) -> None:
        """Ask the agent for the young data segments of these ports (loop thread)."""
        self.data_ports = tuple(sorted(set(ports)))
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(wire.encode_watch(self.data_ports))
        # The status follows when the agent acknowledges.

    def start(self) -> None:
        """Start the client task on the running loop; returns at once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="netbench-capture-agent-client"
            )

    def stop(self, timeout: float = 2.0) -> None:
        """Stop reading (the task is cancelled); publishes the final status. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        if self.running:
            self.running = False
            self._ctx.publish(
                CaptureStatus(False, time.monotonic(), "capture stopped", self.dropped)
            )

    def _status(self, running: bool, detail: str) -> None:
        # Say each new state once: a retry loop must not print a line every 2 s.
        if running == self.running and detail == self._said:
            return
        self.running, self._said = running, detail
        self._ctx.publish(CaptureStatus(running, time.monotonic(), detail, self.dropped))

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, EOFError, ValueError, TimeoutError) as exc:
                self._status(False, self._why(exc))
            await asyncio.sleep(self.retry)

    def _why(self, exc: BaseException) -> str:
        if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
            return f"no capture agent at {self.path}: {_FIX}"
        if isinstance(exc, PermissionError):
            return f"not allowed to reach the capture agent at {self.path} (another user's?)"
        if isinstance(exc, asyncio.IncompleteReadError | EOFError):
            return f"the capture agent at {self.path} went away: {_FIX}"
        if isinstance(exc, TimeoutError):
            return f"the capture agent at {self.path} does not answer: restart it"
        return f"capture agent at {self.path}: {exc}"

    async def _session(self) -> None:
        # Before connecting: the socket and its directory must be this user's
        # own (or root's), so nobody else can have put them there.
        problem = sockdir.socket_problem(self.path, os.getuid())
        if problem is not None:
            raise ValueError(f"not trusted, {problem}")
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(self.path)), self.connect_timeout
        )
        try:
            uid = wire.peer_uid(writer.get_extra_info("socket"))
            if uid not in (0, os.getuid()):
                raise ValueError(f"{self.path} is served by uid {uid}, not root: refusing it")
            hello = await asyncio.wait_for(reader.readexactly(len(wire.HELLO)), 5.0)
            if hello != wire.HELLO:
                raise ValueError(f"{self.path} does not speak the capture agent's protocol")
            writer.write(wire.encode_watch(self.data_ports))
            self._writer = writer
            while True:
                # The agent sends a status at least every HEARTBEAT seconds.
                body = await asyncio.wait_for(self._read(reader), 3 * wire.HEARTBEAT)
                self._handle(wire.parse_record(body))
        finally:
            self._writer = None
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> bytes:
        length = wire.record_length(await reader.readexactly(4))
        return await reader.readexactly(length)

    def _handle(self, record: wire.Record | None) -> None:
        if record is None:
            return
        if record.kind == "watching":
            self._status(True, self.detail)
            return
        if record.kind == "status":
            paused = record.detail.partition(wire.PAUSED)[2]
            if record.dropped != self.dropped or paused != self.paused:
                self.dropped, self.paused = record.dropped, paused
                self._ctx.publish(CaptureStatus(True, time.monotonic(), self.detail, self.dropped))
            return
        packet = decode(record.frame, record.t, record.linktype, DEFAULT_SNAP)
        if packet is None:
            return
        if self.ports and packet.src.port not in self.ports and packet.dst.port not in self.ports:
            return
        self._ctx.publish(PacketCaptured(packet))
