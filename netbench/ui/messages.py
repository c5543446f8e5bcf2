"""Messages between the engine side of the app and its widgets.

The engine never posts to widgets directly: the `EventHub` collects its
events and hands them out in batches (`EventsArrived`), a handful of times a
second, so a flood of traffic costs the UI the same as a trickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from textual.message import Message

from netbench.events import Event

E = TypeVar("E")


class EventBatch:
    """One batch of engine events, shared by every widget that receives it.

    Widgets that care about a few kinds of event, or about one connection,
    ask for those: the index behind `of` and `of_conn` is built once per
    batch, on first use, instead of each widget looping over every chunk.
    """

    __slots__ = ("_by_conn", "_by_kind", "events")

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self._by_kind: dict[type, list[Event]] | None = None
        self._by_conn: dict[int, list[Event]] | None = None

    def of(self, kind: type[E]) -> list[E]:
        """This kind's events (exactly this type), in order."""
        if self._by_kind is None:
            index: dict[type, list[Event]] = {}
            for event in self.events:
                same = index.get(type(event))
                if same is None:
                    index[type(event)] = [event]
                else:
                    same.append(event)
            self._by_kind = index
        return self._by_kind.get(kind, [])  # type: ignore[return-value]

    def of_conn(self, conn_id: int) -> list[Event]:
        """The events of one connection (those that name one), in order."""
        if self._by_conn is None:
            index: dict[int, list[Event]] = {}
            for event in self.events:
                owner = getattr(event, "conn_id", None)
                if owner is not None:
                    same = index.get(owner)
                    if same is None:
                        index[owner] = [event]
                    else:
                        same.append(event)
            self._by_conn = index
        return self._by_conn.get(conn_id, [])


class EventsArrived(Message):
    """A batch of engine events, in the order they happened."""

    def __init__(self, events: list[Event] | EventBatch) -> None:
        super().__init__()
        self.batch = events if isinstance(events, EventBatch) else EventBatch(events)
        self.events = self.batch.events


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
