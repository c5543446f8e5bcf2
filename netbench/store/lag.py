"""Pause the engine while its recorder is behind, in events or in time.

Shared by the in-process `SessionWriter` and the `RecorderProcess`: both say
how far behind they are (`lag()`, seconds of completed traffic a kill would
lose now) and call `on_backlog(True/False)` when too many events wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio


class Recorder(Protocol):
    flush_interval: float
    """How far behind a recorder keeping up normally is: resume below it."""
    lag_limit: float
    """Pause past it."""
    on_backlog: Callable[[bool], None] | None

    @property
    def closed(self) -> bool: ...

    def lag(self) -> float: ...


def pause_while_behind(
    recorder: Recorder, loop: asyncio.AbstractEventLoop, pause: Callable[[bool], None]
) -> None:
    """While `recorder` is behind, call `pause(True)` on `loop`; `pause(False)` after.

    Behind in events (`on_backlog`, called from any thread) or in time: a
    timer on the loop checks `lag()` when it could reach `lag_limit` (lag
    grows one second per second at most), pauses past it, and then checks
    every `tick` until the lag is back under `flush_interval`. Call on the loop.
    """
    reasons: set[str] = set()
    tick = recorder.flush_interval / 10

    def behind(reason: str, now_behind: bool) -> None:
        was = bool(reasons)
        if now_behind:
            reasons.add(reason)
        else:
            reasons.discard(reason)
        if bool(reasons) != was:
            pause(bool(reasons))

    def on_backlog(now_behind: bool) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(behind, "backlog", now_behind)

    def watch() -> None:
        lag = recorder.lag()
        limit = recorder.flush_interval if "lag" in reasons else recorder.lag_limit
        behind("lag", lag > limit)
        if not recorder.closed:
            soonest = tick if "lag" in reasons else recorder.lag_limit - lag
            loop.call_later(max(tick, soonest), watch)

    recorder.on_backlog = on_backlog
    loop.call_later(tick, watch)
