"""UDP echo (seed 002 names SOCK_DGRAM): every datagram is sent back.

UDP has no connection, so netbench records a *flow* per peer address as a
connection (transport "udp"): opened by its first datagram, each datagram a
chunk, ended by `timeout` after `idle_timeout` seconds of silence or by
`stopped` when the server stops. There is no FIN or RST to report.

An empty datagram is legal and echoed too. asyncio's `sendto` silently drops
zero-length data (CPython 3.11), so those go out through a duplicate of the
socket; an OUT chunk is recorded only for a datagram actually handed to the
kernel.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

from netbench.engine.context import EngineContext
from netbench.engine.stream import endpoint
from netbench.events import ChunkRecorded, ConnectionClosed, ConnectionOpened
from netbench.model import Direction, Endpoint, EndReason, Role, Transport


@dataclass(slots=True)
class _Flow:
    conn_id: int
    peer: Endpoint
    seq: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    last: float = 0.0


class UdpEchoProtocol(asyncio.DatagramProtocol):
    def __init__(self, ctx: EngineContext, *, server_id: int, idle_timeout: float) -> None:
        self.ctx = ctx
        self.server_id = server_id
        self.idle_timeout = idle_timeout
        self.transport: asyncio.DatagramTransport | None = None
        self.local = Endpoint("", 0)
        self.flows: dict[tuple[str, int], _Flow] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._raw: socket.socket | None = None
        """The same socket, for the empty datagrams asyncio will not send."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport.
        self.transport = transport  # type: ignore[assignment]
        self.local = endpoint(transport.get_extra_info("sockname"))
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._raw = sock.dup()
            self._raw.setblocking(False)
        if self.idle_timeout > 0:
            self._schedule_sweep()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.monotonic()
        key = (addr[0], addr[1])
        flow = self.flows.get(key)
        if flow is None:
            flow = self.flows[key] = _Flow(self.ctx.next_conn_id(), endpoint(addr))
            self.ctx.publish(
                ConnectionOpened(
                    flow.conn_id,
                    self.server_id,
                    Role.SERVER,
                    Transport.UDP,
                    self.local,
                    flow.peer,
                    now,
                )
            )
        flow.last = now
        self._record(flow, Direction.IN, data, now)
        if self.transport is None or self.transport.is_closing():
            return
        if data:
            self._record(flow, Direction.OUT, data, time.monotonic())
            self.transport.sendto(data, addr)
        elif self._raw is not None:
            try:
                self._raw.sendto(b"", addr)
            except OSError:
                return  # not sent (a full buffer, a gone peer): not recorded as sent
            self._record(flow, Direction.OUT, b"", time.monotonic())

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that went away: nothing to answer.
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        for key in list(self.flows):
            self._end(key, EndReason.STOPPED)

    def _record(self, flow: _Flow, direction: Direction, data: bytes, t: float) -> None:
        offset = flow.bytes_in if direction is Direction.IN else flow.bytes_out
        self.ctx.publish(ChunkRecorded(flow.conn_id, flow.seq, direction, offset, data, t))
        flow.seq += 1
        if direction is Direction.IN:
            flow.bytes_in += len(data)
        else:
            flow.bytes_out += len(data)

    def _end(self, key: tuple[str, int], reason: EndReason) -> None:
        flow = self.flows.pop(key)
        self.ctx.publish(
            ConnectionClosed(flow.conn_id, reason, time.monotonic(), flow.bytes_in, flow.bytes_out)
        )

    def _schedule_sweep(self) -> None:
        interval = min(max(self.idle_timeout / 4, 0.05), 5.0)
        self._sweeper = asyncio.get_running_loop().call_later(interval, self._sweep)

    def _sweep(self) -> None:
        deadline = time.monotonic() - self.idle_timeout
        for key, flow in list(self.flows.items()):
            if flow.last <= deadline:
                self._end(key, EndReason.TIMEOUT)
        self._schedule_sweep()
