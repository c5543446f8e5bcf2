"""Workshop mode: the time from a key press to the step's screen being drawn.

    python bench/workshop.py [--scenario NAME ...] [--projector] [--size 100x30] [--json]

Runs each built-in lesson (or the named ones) headless in the workshop's own
app, capture off, pressing space for every step, and measures from the key
press to the frame that shows the step (the screen's `drawn_at`, taken after
the refresh that painted it). Per lesson it prints the median and maximum
of that time, and of the part netbench adds: the time minus the socket call
itself (some steps wait on purpose: a 1 s timeout, a SYN retried after 1 s,
six delayed-ACK rounds), and of the drawing: the time minus the runner's
whole step (the call and its kernel readings). The target is a step's screen within 200 ms of the
key; docs/performance.md explains the figures. Timings belong here, never
in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

TARGET_MS = 200.0
STEP_TIMEOUT = 60.0


@dataclass
class Lesson:
    name: str
    key_ms: list[float] = field(default_factory=list)
    """Key press to the step's screen drawn, per step."""
    call_ms: list[float] = field(default_factory=list)
    """The socket call itself (what the lesson waits for on purpose), per step."""
    draw_ms: list[float] = field(default_factory=list)
    """Key to screen minus the runner's whole step (the call and the kernel readings): the UI's part."""

    @property
    def overhead_ms(self) -> list[float]:
        return [key - call for key, call in zip(self.key_ms, self.call_ms, strict=True)]

    def line(self) -> str:
        key, extra = self.key_ms, self.overhead_ms
        return (
            f"{self.name:16} {len(key):3} steps   key to screen median {statistics.median(key):7.1f} ms"
            f" max {max(key):7.1f} ms   past the call median {statistics.median(extra):6.1f} ms"
            f" max {max(extra):6.1f} ms   drawing median {statistics.median(self.draw_ms):5.1f} ms"
            f" max {max(self.draw_ms):5.1f} ms"
        )


async def measure(name: str, *, projector: bool, size: tuple[int, int]) -> Lesson:
    from netbench.ui.screens.workshop import WorkshopScreen
    from netbench.ui.workshop_app import WorkshopApp
    from netbench.workshop import find_scenario

    lesson = Lesson(name)
    app = WorkshopApp(find_scenario(name), projector=projector, capture=False)
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        deadline = time.monotonic() + 10
        while not (isinstance(screen, WorkshopScreen) and not screen.busy and screen.drawn):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: the lesson's screen did not come up")
            await asyncio.sleep(0.01)
            screen = app.screen
        assert isinstance(screen, WorkshopScreen)
        while not screen.runner.done:
            drawn = screen.drawn
            pressed = time.perf_counter()
            await pilot.press("space")
            deadline = time.monotonic() + STEP_TIMEOUT
            while screen.busy or screen.drawn == drawn:
                if time.monotonic() > deadline or screen.failed:
                    raise RuntimeError(f"{name}: step {len(lesson.key_ms) + 1}: {screen.failed}")
                await asyncio.sleep(0.002)
            assert screen.shown is not None
            lesson.key_ms.append((screen.drawn_at - pressed) * 1000)
            lesson.call_ms.append(screen.shown.elapsed * 1000)
            lesson.draw_ms.append(lesson.key_ms[-1] - screen.call_ms)
            await pilot.pause(0.05)  # a presenter does not press faster than the screen paints
    return lesson


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", help="a built-in lesson (default: all)")
    parser.add_argument("--projector", action="store_true", help="the --projector layout")
    parser.add_argument("--size", default="100x30", help="terminal size (default 100x30)")
    parser.add_argument("--json", action="store_true", help="one JSON object, for bench/run.py")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    from netbench.workshop import builtin_scenarios

    names = args.scenario or [scenario.name for scenario in builtin_scenarios()]
    lessons = [
        asyncio.run(measure(name, projector=args.projector, size=(width, height))) for name in names
    ]
    every_key = [ms for lesson in lessons for ms in lesson.key_ms]
    every_extra = [ms for lesson in lessons for ms in lesson.overhead_ms]
    every_draw = [ms for lesson in lessons for ms in lesson.draw_ms]
    if args.json:
        print(json.dumps({"lessons": [asdict(lesson) for lesson in lessons]}))
        return 0
    print(
        f"workshop, headless {width}x{height}{' --projector' if args.projector else ''}, capture off"
    )
    for lesson in lessons:
        print(lesson.line())
    slow = sum(ms > TARGET_MS for ms in every_key)
    print(
        f"all {len(every_key)} steps: key to screen median {statistics.median(every_key):.1f} ms,"
        f" max {max(every_key):.1f} ms ({slow} over {TARGET_MS:.0f} ms);"
        f" past the socket call median {statistics.median(every_extra):.1f} ms,"
        f" max {max(every_extra):.1f} ms; drawing median {statistics.median(every_draw):.1f} ms,"
        f" max {max(every_draw):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
