"""The workshop's screens at 100x30, normal and `--projector`, as SVG snapshots.

A step's numbers (ports, times, TCP_INFO) change from run to run, so the step
snapshots show the handshake's connect step as the runner once reported it
(`workshopkit.FIXED_STEPS`), drawn by the real screen. Update them on purpose
with `pytest tests/ui/test_workshop_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from workshopkit import FIXED_STEPS, step_screen, until

from netbench.ui.screens.workshop import WorkshopPicker
from netbench.ui.workshop_app import WorkshopApp
from netbench.workshop import find_scenario

SIZE = (100, 30)
MODES = pytest.mark.parametrize("projector", [False, True], ids=["normal", "projector"])


@MODES
def test_connect_step(snap_compare, projector: bool) -> None:  # type: ignore[no-untyped-def]
    app = WorkshopApp(find_scenario("handshake"), projector=projector, capture=False)

    async def show_the_connect_step(pilot: Pilot[int]) -> None:
        screen = await step_screen(app)
        screen.show_result(FIXED_STEPS[1], FIXED_STEPS[0])
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=show_the_connect_step)


@MODES
def test_picker(snap_compare, projector: bool) -> None:  # type: ignore[no-untyped-def]
    app = WorkshopApp(None, projector=projector, capture=False)

    async def picker_up(pilot: Pilot[int]) -> None:
        await until(lambda: isinstance(app.screen, WorkshopPicker))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=picker_up)
