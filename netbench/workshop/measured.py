"""What a step's paragraph says it measured: its `{probes}`, `{syn_retry}`, `{syn_schedule}`.

A paragraph must not contradict the screen beside it: these come from the
kernel and the capture after the step, and say so when they were not measured.
"""

from __future__ import annotations

from collections.abc import Sequence

from netbench.engine.lab import syn_linear_timeouts
from netbench.workshop.checks import Facts
from netbench.workshop.results import WirePacket


def measured(socket: str, facts: Facts, earlier: Sequence[WirePacket]) -> dict[str, str]:
    """The placeholders' values for a step of `socket`; `earlier`: the lesson's packets before it."""
    probes = facts.zero_window_probes(socket)
    syns = [
        p.t
        for p in [*earlier, *facts.packets]
        if p.src == socket and p.flags == "S" and p.source == "captured"
    ]
    if len(syns) >= 2:
        retry = f"{(syns[1] - syns[0]) * 1000:.0f} ms after the first (captured)"
    else:
        retry = "after its retransmission timeout (1 s; capture would time it)"
    linear = syn_linear_timeouts()
    if linear:
        # Linux >= 6.7: the first `linear` retries keep the initial 1 s, then it doubles.
        schedule = (
            f"This kernel retries a SYN every 1 s for the first {linear + 1} retries "
            f"(tcp_syn_linear_timeouts = {linear}); only then does each wait double."
        )
    else:
        schedule = "Each next try waits twice as long: 1 s, 2 s, 4 s..."
    return {
        "probes": "an unknown number of" if probes is None else str(probes),
        "syn_retry": retry,
        "syn_schedule": schedule,
    }
