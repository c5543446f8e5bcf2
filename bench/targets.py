"""The targets (issues 6, 16 and 18), each printed as met or how far, and why.

One line per target, `target NAME: MEASURED: met` or `...: missed (WHY)`;
the why is what docs/performance.md's profiles found, so a reader of a run
knows whether a miss is new or the known limit of this design.
"""

from __future__ import annotations

WHY = {
    "c": "CPU per request: the server and its recorder share the core wrk leaves; every"
    " exchange a SQLite row at ~28 us caps the recorder near 0.35x (docs/performance.md)",
    "c-p99": "the server waits for the core while its recorder runs; the unrecorded"
    " server's own p99 is ~3x (docs/performance.md, session 11)",
    "d": "capture's own work on the same cores",
    "e": "Textual's rendering (~58% of the interpreter under load) and the engine share"
    " one interpreter (docs/performance.md, docs/architecture.md)",
    "keys": "a frame of the busy screen",
    "startup": "Textual styling the first frame's widgets (docs/performance.md)",
    "wsgi": "the loop's Python per connection and the app's thread hop: ~290 us of server"
    " CPU a connection where gunicorn takes ~270; unrecorded 0.89-1.15x"
    " (docs/performance.md)",
    "proxy": "at saturation a p99 follows the rate: recording both legs costs ~95 us a"
    " request on two cores shared with the upstream and wrk; unrecorded 1.1-2.2x"
    " (docs/performance.md)",
    "proxy-paced": "the proxy's own Python per request, recording or not: ~145 us of CPU"
    " where a bare uvloop byte forwarder takes ~25 (docs/performance.md)",
}


def line(name: str, measured: str, met: bool, why: str) -> str:
    return f"target {name}: {measured}: " + ("met" if met else f"missed ({WHY[why]})")


def ratio_line(name: str, ours: float, peer: float, at_least: float, why: str) -> str:
    """A rate that must reach `at_least` times the peer's."""
    value = ours / peer if peer else 0.0
    return line(f"{name} >= {at_least:.2f}x", f"{value:.2f}x", value >= at_least, why)


def bound_line(name: str, ours: float, peer: float, at_most: float, why: str) -> str:
    """A latency or a time that must stay under `at_most` times the peer's."""
    value = ours / peer if peer else float("inf")
    return line(f"{name} <= {at_most:.2f}x", f"{value:.2f}x", value <= at_most, why)
