"""How views follow the session file: told when rows are written, never polling.

Rules:
- the app owns one `StoreFollower`; `follow(writer)` (on the loop) makes the
  session writer call it after each commit that wrote rows;
- that call comes on the writer's thread: it only sets a flag and, when the
  flag was clear, hops to the loop with `call_soon_threadsafe`, in the
  app's context (Textual keeps the active app in a context variable);
- on the loop, notifications are coalesced to at most one per `frame`: a
  busy recording commits ~20 times a second, and a view refreshes once per
  notification, whatever was written;
- the flag is cleared before the subscribers run, so a commit made while
  they read the file is told again: nothing written is left unseen;
- a subscriber reads only what is new for it (the chunks after the last it
  indexed, its own exchange). A read-only session (`netbench open`) has no
  writer: nothing grows, and nobody is told.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from netbench.engine.engine import Engine
    from netbench.store import SessionReader, SessionWriter
    from netbench.store.har_import import ImportRow
    from netbench.store.recorder import RecorderProcess
    from netbench.ui.hub import EventHub

FRAME = 1 / 60
"""The shortest time between two notifications (one screen refresh)."""

Subscriber = Callable[[], None]


class StoreFollower:
    """Tells subscribed views, on the app's loop, that the session file has new rows."""

    def __init__(self, frame: float = FRAME) -> None:
        self.frame = frame
        self._subscribers: list[Subscriber] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context: contextvars.Context | None = None
        """The context `follow` was called in (the app's): views run in it, as
        in any Textual callback (`self.app`, timers), not in the writer's."""
        self._due = False
        """A notification is on its way to the loop (set on the writer's thread)."""
        self._last = 0.0
        self.notified = 0
        """Notifications delivered so far (tests and the bench read it)."""

    def follow(self, writer: SessionWriter | RecorderProcess) -> None:
        """Be told of `writer`'s commits (call on the loop the views run on)."""
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        writer.on_written = self.written

    def subscribe(self, subscriber: Subscriber) -> None:
        if subscriber not in self._subscribers:
            self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def written(self) -> None:
        """Rows were committed (any thread): tell the subscribers soon, once."""
        loop = self._loop
        if self._due or loop is None or loop.is_closed():
            return
        self._due = True
        try:
            loop.call_soon_threadsafe(self._arrived, context=self._context)
        except RuntimeError:  # the loop closed meanwhile: nobody is left to tell
            self._due = False

    def _arrived(self) -> None:
        wait = self._last + self.frame - time.monotonic()
        if wait > 0 and self._loop is not None:
            self._loop.call_later(wait, self._deliver, context=self._context)
        else:
            self._deliver()

    def _deliver(self) -> None:
        self._due = False
        self._last = time.monotonic()
        self.notified += 1
        for subscriber in list(self._subscribers):
            subscriber()


class SessionServices(Protocol):
    """What the views of the session use: the app provides them (`NetbenchApp`)."""

    follower: StoreFollower
    hub: EventHub
    engine: Engine | None
    imported: ImportRow | None
    """What a read-only session was imported from (a HAR file); None when recorded."""
    no_bytes: str
    """What the Bytes tab says of a connection without chunks."""
    session_path: Path | None

    @property
    def read_only(self) -> bool: ...

    def reader(self) -> SessionReader | None: ...


def session_services(node: DOMNode) -> SessionServices:
    """The one way a view reaches the reader, the follower and the hub: its app's."""
    return cast("SessionServices", node.app)
