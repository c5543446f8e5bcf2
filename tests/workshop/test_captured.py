"""Where capture is available (CI runs as root), the lessons' packets are the real ones.

The same built-in lessons, captured in-process on lo: every `captured`
check of every scenario must hold (one SYN, SYN-ACK, ACK per handshake; a
RST where the lesson says so), and no packet may be labelled inferred.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "capture"))
from capturekit import PRIVILEGED

from netbench.workshop import builtin_scenarios, find_scenario
from netbench.workshop.runner import WorkshopRunner

pytestmark = PRIVILEGED

WITH_PACKET_CHECKS = [
    s.name for s in builtin_scenarios() if any("captured" in step.expect for step in s.steps)
]


@pytest.mark.parametrize("name", WITH_PACKET_CHECKS)
async def test_captured_packets_match_the_lesson(name: str) -> None:
    runner = WorkshopRunner(find_scenario(name), capture=True)
    try:
        await runner.start()
        assert runner.capturing, runner.capture_detail
        results = await runner.run_all()
    finally:
        await runner.close()
    packet_checks = [c for r in results for c in r.checks if c.what == "captured packets"]
    assert packet_checks, "the lesson checks its packets"
    assert all(c.ok is True for c in packet_checks), [c for c in packet_checks if not c.ok]
    assert all(p.source == "captured" for r in results for p in r.packets)
    assert all(r.capture.startswith("captured") for r in results)


async def test_the_captured_handshake_is_one_syn_syn_ack_ack() -> None:
    runner = WorkshopRunner(find_scenario("handshake"), capture=True)
    try:
        await runner.start()
        await runner.next()
        connected = await runner.next()
    finally:
        await runner.close()
    assert connected is not None
    assert [(p.src, p.dst, p.flags) for p in connected.packets] == [
        ("client", "listener", "S"),
        ("listener", "client", "SA"),
        ("client", "listener", "A"),
    ]
    assert [(p.seq, p.ack) for p in connected.packets] == [(0, None), (0, 1), (1, 1)]


async def test_the_syn_retry_interval_said_is_the_captured_one() -> None:
    import re

    runner = WorkshopRunner(find_scenario("backlog-full"), capture=True)
    try:
        await runner.start()
        for _ in range(5):
            waited = await runner.next()
    finally:
        await runner.close()
    assert waited is not None and "SYN to be sent again" in waited.title
    found = re.search(r"(\d+) ms after the first \(captured\)", waited.explanation)
    assert found and 900 <= int(found.group(1)) <= 3100, waited.explanation


async def test_the_proxys_own_connection_to_the_app_is_named_on_the_ladder() -> None:
    """The proxy's end of its leg to the app was drawn as `:44704`, a port with no name."""
    runner = WorkshopRunner(find_scenario("proxy"), capture=True)
    try:
        await runner.start()
        for _ in range(4):  # app, proxy, the browser's connect, GET / through the proxy
            forwarded = await runner.next()
    finally:
        await runner.close()
    assert forwarded is not None and "through the proxy" in forwarded.title
    ends = {(p.src, p.dst) for p in forwarded.packets}
    [app_end] = [s.name for s in forwarded.sockets if s.name.startswith("app:")]
    assert ("proxy->app", app_end) in ends and (app_end, "proxy->app") in ends
    handshake = [p.flags for p in forwarded.packets if "proxy->app" in (p.src, p.dst)][:3]
    assert handshake == ["S", "SA", "A"]
    assert not [p for p in forwarded.packets if p.src.startswith(":") or p.dst.startswith(":")]
