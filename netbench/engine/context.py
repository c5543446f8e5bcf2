"""The state every server and client of one engine shares: ids, bus, tasks."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from typing import Protocol

from netbench.engine.bus import EventBus, Subscriber
from netbench.engine.tasks import TaskSet
from netbench.protocol.textsafe import visible_text


def _report(what: str, error: BaseException) -> None:
    # Last-resort reporting for engine bugs; user-facing errors never come here.
    # An exception may quote network bytes: the terminal gets them as symbols.
    print(visible_text(f"netbench: internal error in {what}: {error!r}"), file=sys.stderr)


class Pausable(Protocol):
    def set_reading(self, reading: bool) -> None: ...


SHARED_RECEIVE = 1 << 20
"""Receive buffers up to this size are shared by an engine's connections (receive_buffer)."""


class EngineContext:
    """Id counters, the event bus and the task set of one engine."""

    def __init__(
        self,
        *,
        first_ids: tuple[int, int, int] = (1, 1, 1),
        on_internal_error: Callable[[str, BaseException], None] = _report,
    ) -> None:
        server_id, conn_id, exchange_id = first_ids
        self._next_server_id = server_id
        self._conn_ids = itertools.count(conn_id)
        self._exchange_ids = itertools.count(exchange_id)
        self.bus = EventBus(on_error=self._subscriber_failed)
        self.tasks = TaskSet(on_error=on_internal_error)
        self._on_internal_error = on_internal_error
        self.publish = self.bus.publish
        self.streams: set[Pausable] = set()
        """Open TCP connections, which `pause_reading` stops reading."""
        self.reading_paused = False
        self._receive_buffers: dict[int, memoryview] = {}

    def receive_buffer(self, size: int) -> memoryview:
        """The buffer a connection reads into: up to SHARED_RECEIVE bytes, one per
        size for every connection of this engine.

        Shared, because reads on one loop never overlap (get_buffer, the read,
        buffer_updated, then the next connection's) and each read's bytes are
        copied out at once; a 64 KiB buffer allocated and zeroed per
        connection was a measurable part of a short connection's cost. A
        bigger one (a server's --recv-size, up to 16 MiB) is the connection's
        own, freed with it, rather than kept for the engine's life."""
        if size > SHARED_RECEIVE:
            return memoryview(bytearray(size))
        buffer = self._receive_buffers.get(size)
        if buffer is None:
            buffer = self._receive_buffers[size] = memoryview(bytearray(size))
        return buffer

    def pause_reading(self, paused: bool) -> None:
        """Stop (True) or resume reading every TCP connection, new ones included.

        The session writer's backpressure: while it is behind, bytes wait in
        the kernel and TCP's flow control slows the peers, instead of events
        piling up in memory. UDP servers are not paused: a datagram socket
        has no flow control to lean on (the kernel would drop instead).
        Call on the loop.
        """
        if paused == self.reading_paused:
            return
        self.reading_paused = paused
        for stream in list(self.streams):
            try:
                stream.set_reading(not paused)
            except Exception as error:  # one broken stream must not leave the rest paused
                self.internal_error(f"pausing or resuming {stream!r}", error)

    def _subscriber_failed(self, subscriber: Subscriber, error: BaseException) -> None:
        self._on_internal_error(f"event subscriber {subscriber!r}", error)

    def internal_error(self, what: str, error: BaseException) -> None:
        self._on_internal_error(what, error)

    def next_server_id(self) -> int:
        server_id = self._next_server_id
        self._next_server_id += 1
        return server_id

    def server_never_started(self, server_id: int) -> None:
        """Give back the id of a server that failed to start, if no other took one
        since: a taken port tried on the way to a free one leaves no gap (1, 2...)."""
        if server_id == self._next_server_id - 1:
            self._next_server_id = server_id

    def next_conn_id(self) -> int:
        return next(self._conn_ids)

    def next_exchange_id(self) -> int:
        return next(self._exchange_ids)
