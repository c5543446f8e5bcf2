"""The event bus: the engine publishes, any number of consumers subscribe.

A subscriber is a plain callable taking one event. It runs on the engine's
event loop for every event, including every chunk, so it must be cheap and
must not block: the session writer appends to a deque, the UI posts a message,
the CLI printer formats a line. A subscriber that raises is reported once to
stderr-free `on_error` and unsubscribed, so one broken consumer cannot stop
the engine or starve the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from netbench.events import Event

Subscriber = Callable[[Event], None]


class EventBus:
    __slots__ = ("_by_kind", "_on_error", "_subscribers")

    def __init__(self, on_error: Callable[[Subscriber, BaseException], None] | None = None) -> None:
        self._subscribers: tuple[Subscriber, ...] = ()
        self._by_kind: dict[type, tuple[Subscriber, ...]] = {}
        """Subscribers to some event types only: not even called for the others
        (a chunk is published tens of thousands of times a second)."""
        self._on_error = on_error

    def subscribe(
        self, subscriber: Subscriber, kinds: Iterable[type] | None = None
    ) -> Callable[[], None]:
        """Add a subscriber, to every event or to `kinds` only; returns its unsubscribe."""
        if kinds is None:
            self._subscribers = (*self._subscribers, subscriber)
        else:
            for kind in kinds:
                self._by_kind[kind] = (*self._by_kind.get(kind, ()), subscriber)
        return lambda: self.unsubscribe(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)
        self._by_kind = {
            kind: remaining
            for kind, subscribers in self._by_kind.items()
            if (remaining := tuple(s for s in subscribers if s is not subscriber))
        }

    def publish(self, event: Event) -> None:
        # Tuple snapshots: subscribing during a publish takes effect next time.
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception as error:
                self._failed(subscriber, error)
        if self._by_kind:
            for subscriber in self._by_kind.get(type(event), ()):
                try:
                    subscriber(event)
                except Exception as error:
                    self._failed(subscriber, error)

    def _failed(self, subscriber: Subscriber, error: Exception) -> None:
        self.unsubscribe(subscriber)
        if self._on_error is not None:
            self._on_error(subscriber, error)
