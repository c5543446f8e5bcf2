"""The bridge from engine events to widgets: collect cheaply, deliver in batches.

Rules:
- the engine calls the hub for every event on the shared asyncio loop: the
  call is one list append;
- every `interval` seconds the hub swaps its list out and posts one
  `EventsArrived` to each registered widget, and updates the live counters;
- widgets never see the engine's pace, so a flood of 80,000 requests per
  second costs the UI about ten small messages a second;
- under a flood (a batch of over `FLOOD` events) the next batch is held for
  `flood_interval`: every batch makes the widgets repaint, and a repaint of
  the main screen costs tens of milliseconds of the loop the servers share.
  Four updates a second still read as live, and keys stay responsive.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from textual.widget import Widget

from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    HttpRequestRecorded,
    ServerStarted,
    ServerStopped,
)
from netbench.model import Direction
from netbench.ui.messages import EventBatch, EventsArrived

_SERVER_EVENTS = (ServerStarted, ServerStopped)


@dataclass(slots=True)
class Counters:
    """Live totals for the status bar."""

    connections_open: int = 0
    connections_total: int = 0
    requests_total: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    requests_per_second: float = 0.0
    history: deque[float] = field(default_factory=lambda: deque([0.0] * 60, maxlen=60))
    """Requests per second, one value per second, the last minute."""


class EventHub:
    FLOOD = 500
    """Events in one batch past which the next batch waits `flood_interval`."""

    def __init__(self, interval: float = 0.1, flood_interval: float = 0.25) -> None:
        self.interval = interval
        self.flood_interval = flood_interval
        self._hold_until = 0.0
        self.counters = Counters()
        self._pending: list[Event] = []
        self._widgets: list[Widget] = []
        self._server_events: list[Event] = []
        self._second_started = time.monotonic()
        self._requests_this_second = 0

    def __call__(self, event: Event) -> None:
        """The engine subscriber: one append (two for the rare server events)."""
        self._pending.append(event)
        if type(event) in _SERVER_EVENTS:
            self._server_events.append(event)

    def register(self, widget: Widget) -> None:
        """Deliver batches to `widget`, starting with every server event so far.

        Servers start before most widgets mount; replaying their (few) start
        and stop events lets a late widget know every server's kind.
        """
        if widget not in self._widgets:
            self._widgets.append(widget)
            if self._server_events:
                widget.post_message(EventsArrived(list(self._server_events)))

    def unregister(self, widget: Widget) -> None:
        if widget in self._widgets:
            self._widgets.remove(widget)

    def flush(self, *, force: bool = False) -> None:
        """Hand the batch out (called by the app's timer; `force` ignores a flood's hold)."""
        now = time.monotonic()
        if now < self._hold_until and not force:
            self._tick()
            return
        batch, self._pending = self._pending, []
        self._hold_until = now + self.flood_interval if len(batch) > self.FLOOD else 0.0
        if batch:
            self._count(batch)
            shared = EventBatch(batch)
            for widget in list(self._widgets):
                if widget.is_attached:
                    widget.post_message(EventsArrived(shared))
        self._tick()

    def _count(self, batch: list[Event]) -> None:
        c = self.counters
        for event in batch:
            kind = type(event)
            if kind is ChunkRecorded:
                assert isinstance(event, ChunkRecorded)
                if event.direction is Direction.IN:
                    c.bytes_in += len(event.data)
                else:
                    c.bytes_out += len(event.data)
            elif kind is HttpRequestRecorded:
                c.requests_total += 1
                self._requests_this_second += 1
            elif kind is ConnectionOpened:
                c.connections_open += 1
                c.connections_total += 1
            elif kind is ConnectionClosed:
                c.connections_open -= 1

    def _tick(self) -> None:
        now = time.monotonic()
        elapsed = now - self._second_started
        if elapsed >= 1.0:
            rate = self._requests_this_second / elapsed
            self.counters.requests_per_second = rate
            self.counters.history.append(rate)
            self._requests_this_second = 0
            self._second_started = now
