"""The workshop handout: one HTML file with every step's screen and its explanation.

`netbench workshop handout NAME OUT.html` runs the lesson headless through
the same step screen a class sees (a fixed terminal size), takes Textual's
own SVG export of the screen after each step, and writes one self-contained
page: the title and summary, then per step its title, the screen inline and
the explanation, then the takeaway. Students keep it; it opens offline.

Rules: every piece of text is HTML-escaped (the SVGs escape their own; the
bytes in them went through `textsafe` on screen); the SVGs' web-font URLs
are dropped, so opening the page fetches nothing; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Callable
from pathlib import Path

from netbench.protocol.textsafe import visible_text
from netbench.ui.screens.workshop import WorkshopScreen
from netbench.ui.workshop_app import WorkshopApp
from netbench.workshop.results import StepResult
from netbench.workshop.scenario import Scenario

SIZE = (100, 40)
"""The terminal the screens are taken at: the projector's 100 columns, tall enough for a step."""
STEP_WAIT = 90.0
"""Seconds a step may take before the handout gives up (a lesson's waits are bounded well below)."""

_WEB_FONT = re.compile(r',\s*url\("[^"]*"\)\s*format\("[^"]*"\)')

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · netbench workshop</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1260px; margin: 2em auto; padding: 0 1em;
       line-height: 1.5; color: #1d1d1d; }}
h1 {{ margin-bottom: .2em; }}
.lesson {{ color: #555; }}
.summary {{ font-size: 1.1em; }}
.step {{ margin: 2.5em 0; page-break-inside: avoid; }}
.step svg {{ width: 100%; height: auto; border-radius: 6px; }}
.side {{ font-size: .8em; padding: .1em .5em; border-radius: 4px; color: #fff; background: #555; }}
.side-client {{ background: #0b7c8f; }}
.side-server {{ background: #2a7a2a; }}
.takeaway {{ border-left: 5px solid #2a7a2a; background: #f1f8f1; padding: .6em 1em;
            font-size: 1.15em; font-weight: bold; }}
footer {{ color: #777; font-size: .85em; margin-top: 3em; }}
</style>
</head>
<body>
<p class="lesson">netbench workshop · {name}</p>
<h1>{title}</h1>
<p class="summary">{summary}</p>
{steps}
<h2>Takeaway</h2>
<p class="takeaway">{takeaway}</p>
<footer>Every step ran on real sockets; the screens are what netbench showed after each call.
Packets marked <em>inferred</em> were not captured: they are what the socket calls imply.</footer>
</body>
</html>
"""

STEP = """<section class="step" id="step-{number}">
<h2>Step {number} of {total} <span class="side side-{side}">{side}</span> {title}</h2>
{svg}
<p class="explanation">{explanation}</p>
</section>"""


def _text(value: str) -> str:
    """Untrusted or teacher-written text, made inert for a terminal and for HTML."""
    paragraphs = (" ".join(part.split()) for part in value.strip().split("\n\n"))
    return "</p>\n<p>".join(html.escape(visible_text(part)) for part in paragraphs if part)


def offline_svg(svg: str) -> str:
    """Textual's SVG export without its web-font URLs (the local font or monospace is used)."""
    return _WEB_FONT.sub("", svg)


def render_page(scenario: Scenario, steps: list[tuple[StepResult, str]]) -> str:
    """The handout's HTML for the lesson and its (result, screen SVG) pairs."""
    sections = [
        STEP.format(
            number=result.index + 1,
            total=result.total,
            side=html.escape(visible_text(result.side), quote=True),
            title=html.escape(visible_text(result.title)),
            svg=offline_svg(svg),
            explanation=_text(result.explanation),
        )
        for result, svg in steps
    ]
    return PAGE.format(
        name=html.escape(visible_text(scenario.name)),
        title=html.escape(visible_text(scenario.title)),
        summary=_text(scenario.summary),
        steps="\n".join(sections),
        takeaway=_text(scenario.takeaway),
    )


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workshop screen did not get there within {timeout:g} s")
        await asyncio.sleep(0.02)


async def take_screens(
    scenario: Scenario, *, capture: bool = False, size: tuple[int, int] = SIZE
) -> list[tuple[StepResult, str]]:
    """Run the lesson headless on the step screen; (result, SVG of the screen) per step."""
    app = WorkshopApp(scenario, capture=capture)
    taken: list[tuple[StepResult, str]] = []
    async with app.run_test(size=size) as pilot:
        await _until(lambda: isinstance(app.screen, WorkshopScreen), 10.0)
        screen = app.screen
        assert isinstance(screen, WorkshopScreen)
        await _until(lambda: not screen.busy and screen.drawn > 0, STEP_WAIT)
        while not screen.runner.done:
            drawn = screen.drawn
            screen.action_next()
            await _until(
                lambda: not screen.busy and (screen.drawn > drawn or screen.failed is not None),  # noqa: B023
                STEP_WAIT,
            )
            if screen.failed is not None:
                raise RuntimeError(f"step {len(taken) + 1} failed: {screen.failed}")
            await pilot.pause()
            assert screen.shown is not None
            title = f"{scenario.name} · step {screen.shown.index + 1} of {screen.shown.total}"
            taken.append((screen.shown, app.export_screenshot(title=visible_text(title))))
        app.exit(0)
    return taken


def write_handout(scenario: Scenario, out: Path, *, capture: bool = False) -> int:
    """Write the lesson's handout to `out` (one HTML file); the number of steps written.

    Runs the lesson for real, so it takes as long as the lesson's steps do
    (seconds). Raises OSError when `out` cannot be written.
    """
    steps = asyncio.run(take_screens(scenario, capture=capture))
    out.write_text(render_page(scenario, steps), encoding="utf-8")
    return len(steps)
