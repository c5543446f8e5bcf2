"""Which event loop runs the engine: uvloop when it is importable, else asyncio's own.

uvloop (libuv, in Cython) runs the same protocols with less Python per
callback; bench/run.py measures both (docs/performance.md). `--loop asyncio`
turns it off, and a missing or broken uvloop falls back to asyncio's loop
unless uvloop was asked for by name. The engine only uses asyncio's public
API, so either loop runs it (engine/stream.py notes the one difference that
mattered: when reading starts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

LoopName = Literal["uvloop", "asyncio"]
LOOPS: tuple[LoopName, ...] = ("uvloop", "asyncio")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]

T = TypeVar("T")


class LoopUnavailable(Exception):
    """The loop asked for by name cannot be used here (the message says why)."""


def factory(name: str | None = None) -> tuple[LoopName, LoopFactory]:
    """(the loop that will run, a factory of new loops of it).

    None means the default: uvloop if importable, else asyncio's. Asking for
    uvloop by name when it cannot be imported raises LoopUnavailable."""
    if name != "asyncio":
        try:
            import uvloop
        except ImportError as error:
            if name == "uvloop":
                raise LoopUnavailable(
                    f"--loop uvloop: uvloop cannot be imported ({error}); "
                    "install it, or use --loop asyncio"
                ) from None
        else:
            return "uvloop", uvloop.new_event_loop
    return "asyncio", asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], loop: str | LoopFactory | None = None) -> T:
    """`asyncio.run(main)` on the loop named (or made by `loop`); None: the default."""
    try:
        new_loop = loop if callable(loop) else factory(loop)[1]
    except LoopUnavailable:
        main.close()  # never started: no "never awaited" warning
        raise
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(main)


def running_name() -> str | None:
    """The running loop's kind ("uvloop", "asyncio", or its module); None off any loop."""
    try:
        module = type(asyncio.get_running_loop()).__module__
    except RuntimeError:
        return None
    if module.startswith("uvloop"):
        return "uvloop"
    if module.startswith("asyncio"):
        return "asyncio"
    return module
