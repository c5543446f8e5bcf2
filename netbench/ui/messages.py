"""Messages between the engine side of the app and its widgets.

The engine never posts to widgets directly: the `EventHub` collects its
events and hands them out in batches (`EventsArrived`), a handful of times a
second, so a flood of traffic costs the UI the same as a trickle.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from netbench.events import Event


class EventsArrived(Message):
    """A batch of engine events, in the order they happened."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


@dataclass(frozen=True, slots=True)
class Selection:
    """What the inspector shows: one connection, or one HTTP exchange on it."""

    conn_id: int
    exchange_id: int | None = None


class SelectionChanged(Message):
    """The user selected a connection or exchange (bubbles to the screen)."""

    def __init__(self, selection: Selection | None) -> None:
        super().__init__()
        self.selection = selection
