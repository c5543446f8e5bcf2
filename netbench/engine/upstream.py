"""A connection a server opens on behalf of one of its clients: a proxy's upstream leg.

Rules:
- it is a client connection recorded like any other, its `via` naming the
  connection whose request caused it (the session's `connections.via_conn_id`);
- what it receives waits in a queue read with `next_piece`; past `HIGH`
  unread bytes the socket is paused, so a slow client of the proxy slows the
  upstream instead of the proxy holding the body;
- a connect that fails is recorded as a connection opened and closed at once
  (with its `via`), and raised as `UpstreamFailed` with the reason;
- a `listener` takes what arrives instead of the queue (the proxy's one-piece
  answers: engine/proxy.py's ProxyDeferred), None at the end; what it took
  and did not use it gives back with `unread`, in order, before anything newer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable

from netbench.engine.clients import connect_failure, record_failed_connect
from netbench.engine.context import EngineContext
from netbench.engine.stream import RecordedStream
from netbench.model import EndReason, Role

HIGH = 1 << 20
"""Unread bytes past which the upstream socket is paused."""


class UpstreamFailed(Exception):
    """Connecting upstream failed; the message is one line, `reason` says how."""

    def __init__(self, message: str, reason: EndReason, conn_id: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.conn_id = conn_id


class UpstreamLeg(RecordedStream):
    role = Role.CLIENT

    def __init__(self, ctx: EngineContext, *, via: int, recv_size: int) -> None:
        super().__init__(ctx, server_id=None, recv_size=recv_size)
        self.via = via
        self.end_reason: EndReason | None = None
        self.requests = 0
        """Requests sent on it so far (the next one's position on the connection)."""
        self._pieces: deque[tuple[int, bytes]] = deque()
        self._buffered = 0
        self._ended = False
        self._paused = False
        self._ready = asyncio.Event()
        self.listener: Callable[[tuple[int, bytes] | None], None] | None = None
        """Takes each (seq, data) received, then None at the end, instead of the queue."""

    def on_data(self, data: bytes, seq: int, t: float) -> None:
        listener = self.listener
        if listener is not None:
            listener((seq, data))
            return
        self._pieces.append((seq, data))
        self._buffered += len(data)
        self._ready.set()
        if self._buffered > HIGH and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def on_peer_fin(self) -> bool:
        self._ended = True
        self._ready.set()
        if self.listener is not None:
            self.listener(None)
        return False  # the upstream is done: close our side too

    def on_closed(self, reason: EndReason) -> None:
        self.end_reason = reason
        self._ended = True
        self._ready.set()
        if self.listener is not None:
            self.listener(None)

    def unread(self, pieces: Iterable[tuple[int, bytes]]) -> None:
        """Give back pieces a listener took, to be read first by `next_piece`."""
        for seq, data in reversed(list(pieces)):
            self._pieces.appendleft((seq, data))
            self._buffered += len(data)
        self._ready.set()

    def set_reading(self, reading: bool) -> None:
        if reading and self._paused:
            return  # the proxy's client is behind: next_piece resumes
        super().set_reading(reading)

    @property
    def has_unread(self) -> bool:
        """Bytes arrived that no request asked for yet."""
        return bool(self._pieces)

    @property
    def reset(self) -> bool:
        return self.end_reason in (EndReason.RST_PEER, EndReason.RST_LOCAL)

    async def next_piece(self, timeout: float) -> tuple[int, bytes] | None:
        """(seq, data) of the next chunk received; None once it ended; TimeoutError
        after `timeout` seconds of silence (0: wait for ever)."""
        while not self._pieces:
            if self._ended:
                return None
            self._ready.clear()
            if timeout > 0:
                # Not wait_for: in 3.11 it wraps the wait in a task of its own, per piece.
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            else:
                await self._ready.wait()
        seq, data = self._pieces.popleft()
        self._buffered -= len(data)
        if self._paused and self._buffered <= HIGH // 2:
            self._paused = False
            if not self.ctx.reading_paused:
                super().set_reading(True)
        return seq, data


async def connect_upstream(
    ctx: EngineContext, host: str, port: int, *, via: int, recv_size: int, timeout: float
) -> UpstreamLeg:
    """Open the upstream leg of connection `via`; UpstreamFailed (recorded) if it fails."""
    loop = asyncio.get_running_loop()
    try:
        _transport, leg = await asyncio.wait_for(
            loop.create_connection(
                lambda: UpstreamLeg(ctx, via=via, recv_size=recv_size), host, port
            ),
            timeout if timeout > 0 else None,
        )
    except (OSError, TimeoutError) as error:
        reason, message = connect_failure(host, port, error)
        conn_id = record_failed_connect(ctx, host, port, reason, message, via=via)
        raise UpstreamFailed(message, reason, conn_id) from None
    return leg
