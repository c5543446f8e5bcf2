"""Every built-in lesson runs on real sockets, unprivileged, and the kernel agrees with it.

Each scenario states its kernel facts as `expect` checks; a lesson passes
only when every check holds on this machine. The facts the issue names are
also asserted here directly, so a scenario cannot quietly drop them.
"""

from __future__ import annotations

import pytest

from netbench.workshop import builtin_scenarios, find_scenario
from netbench.workshop.results import StepResult
from netbench.workshop.runner import WorkshopRunner

SCENARIOS = builtin_scenarios()


_RUNS: dict[str, list[StepResult]] = {}
"""Each lesson runs once per test session; its results are plain data, shared by the tests."""


async def run(name: str) -> list[StepResult]:
    if name not in _RUNS:
        runner = WorkshopRunner(find_scenario(name), capture=False)
        try:
            _RUNS[name] = await runner.run_all()
        finally:
            await runner.close()
    return _RUNS[name]


def failures(results: list[StepResult]) -> list[str]:
    lines = []
    for result in results:
        if result.unexpected:
            lines.append(f"step {result.index + 1} ({result.title}): {result.error}")
        lines += [
            f"step {result.index + 1} ({result.title}): {check.what}: expected "
            f"{check.expected}, kernel says {check.actual}"
            for check in result.checks
            if check.ok is False
        ]
    return lines


def step(results: list[StepResult], title_part: str) -> StepResult:
    return next(r for r in results if title_part in r.title)


def test_there_are_at_least_fourteen_lessons_with_distinct_names() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) >= 14
    assert len(set(names)) == len(names)
    assert names[0] == "handshake"


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
async def test_every_lesson_runs_and_the_kernel_agrees(name: str) -> None:
    results = await run(name)
    assert len(results) == len(find_scenario(name).steps)
    assert failures(results) == []
    assert results[-1].takeaway
    assert all(r.capture.startswith("inferred") for r in results)
    # Without capture every packet shown is labelled inferred, never passed off as seen.
    assert all(p.source == "inferred" for r in results for p in r.packets)


async def test_handshake_connect_returns_before_accept() -> None:
    results = await run("handshake")
    connected = step(results, "connect()")
    sockets = {s.name: s for s in connected.sockets}
    assert sockets["client"].state == "ESTABLISHED"
    assert sockets["listener"].accept_queue == 1
    assert "conn" not in sockets  # accept() has not run yet
    assert [p.flags for p in connected.packets] == ["S", "SA", "A"]
    accepted = step(results, "accept()")
    assert {s.name: s for s in accepted.sockets}["listener"].accept_queue == 0
    assert accepted.packets == []  # accept() sends nothing


async def test_the_side_that_closes_first_ends_in_time_wait() -> None:
    results = await run("graceful-close")
    last = {s.name: s.state for s in results[-1].sockets}
    assert last["client"] == "TIME_WAIT"
    assert last["conn"] == "CLOSED"


async def test_a_refused_connect_raises_connection_refused() -> None:
    results = await run("refused")
    assert results[-1].error is not None
    assert results[-1].error.startswith("ConnectionRefusedError")
    assert not results[-1].unexpected
    assert [p.flags for p in results[-1].packets] == ["S", "RA"]


async def test_unread_data_at_close_resets_the_peer() -> None:
    results = await run("reset")
    raised = [r.error for r in results if r.error]
    assert raised and all(e.startswith("ConnectionResetError") for e in raised)
    assert "RA" in [p.flags for r in results for p in r.packets]


async def test_nagle_stalls_two_writes_and_nodelay_removes_the_stall() -> None:
    results = await run("nagle")
    rounds = [r for r in results if r.action == "http_rounds"]
    with_nagle, with_nodelay = rounds
    assert with_nagle.elapsed >= 0.030
    assert with_nodelay.elapsed < with_nagle.elapsed / 2


async def test_a_full_backlog_makes_the_client_retry_its_syn() -> None:
    results = await run("backlog-full")
    waited = step(results, "SYN to be sent again")
    client3 = {s.name: s for s in waited.sockets}["client3"]
    assert client3.state == "SYN_SENT"
    assert client3.info is not None and (client3.info.total_retrans or 0) >= 1
    assert {s.name: s.state for s in results[-1].sockets}["client3"] == "ESTABLISHED"


async def test_back_reruns_up_to_the_previous_step_and_restart_starts_over() -> None:
    runner = WorkshopRunner(find_scenario("handshake"))
    try:
        for _ in range(3):
            await runner.next()
        old_port = {s.name: s for s in runner.results[-1].sockets}["client"].local
        shown = await runner.back()
        assert shown is not None and shown.index == 1
        assert len(runner.results) == 2
        sockets = {s.name: s for s in shown.sockets}
        assert "conn" not in sockets  # accept() is undone: it was rerun on fresh sockets
        assert sockets["listener"].accept_queue == 1
        assert sockets["client"].local != old_port
        await runner.restart()
        assert runner.results == []
        first = await runner.next()
        assert first is not None and first.index == 0
    finally:
        await runner.close()


async def test_bytes_are_shown_chunk_by_chunk() -> None:
    results = await run("stream")
    chunks = results[-1].chunks
    received_by_client = [
        c.data for c in chunks if c.socket == "client" and c.direction == "received"
    ]
    assert received_by_client == [b"Hello worl", b"d, one str", b"eam"]
    sent_by_client = [c.data for c in chunks if c.socket == "client" and c.direction == "sent"]
    assert sent_by_client == [b"Hello", b" world, one stream"]


async def test_behind_the_proxy_the_request_rides_a_second_established_pair() -> None:
    results = await run("proxy")
    first = {s.name: s.state for s in step(results, "GET / through").sockets}
    second = {s.name: s.state for s in step(results, "GET / again").sockets}
    assert first["browser"] == second["browser"] == "ESTABLISHED"
    to_app = [name for name in second if name.startswith("app:")]
    assert len(to_app) == 1  # the proxy's connection to the app, kept for the second request
    assert first[to_app[0]] == second[to_app[0]] == "ESTABLISHED"
    # Both ends of it, the proxy's too: its end had no row and the ladder called it `:44704`.
    assert first["proxy->app"] == second["proxy->app"] == "ESTABLISHED"
    rows = {s.name: s for s in step(results, "GET / again").sockets}
    proxy_end, app_end = rows["proxy->app"], rows[to_app[0]]
    assert (proxy_end.local, proxy_end.remote) == (app_end.remote, app_end.local)
    assert to_app[0] == f"app:{proxy_end.local.rpartition(':')[2]}"
    names = [s.name for s in step(results, "GET / again").sockets]
    assert names.index("proxy->app") == names.index(to_app[0]) + 1  # read as a pair


async def test_zero_window_probes_are_seen_at_a_teachers_pace() -> None:
    """A teacher pausing 2 s before the wait: loopback had answered every probe by then."""
    import asyncio

    runner = WorkshopRunner(find_scenario("slow-reader"))
    try:
        for _ in range(4):  # listen, connect, accept, fill
            await runner.next()
        await asyncio.sleep(2.0)
        waited = await asyncio.wait_for(runner.next(), 10)
    finally:
        await runner.close()
    assert waited is not None and "zero-window" in waited.title
    assert failures([waited]) == []
    probes = [c for c in waited.checks if c.what.startswith("zero-window probes")]
    assert probes and int(probes[0].actual) >= 1
    assert f"since the window closed: {probes[0].actual}," in waited.explanation


async def test_the_syn_retry_schedule_said_is_this_kernels() -> None:
    """Linux >= 6.7 retries a SYN every 1 s at first: "twice as long" was false there."""
    from netbench.engine.lab import syn_linear_timeouts

    waited = step(await run("backlog-full"), "SYN to be sent again")
    linear = syn_linear_timeouts()
    if linear:
        assert f"every 1 s for the first {linear + 1} retries" in waited.explanation
        assert "twice as long" not in waited.explanation
    else:
        assert "twice as long" in waited.explanation
    assert "ms here" not in waited.explanation  # the wait's own time is not the retry's
    assert "capture would time it" in waited.explanation  # not measured without capture


async def test_slow_reader_says_where_the_bytes_wait_as_the_table_shows_it() -> None:
    """It said "most wait in the server's receive queue" beside a client Send-Q 33 times larger."""
    filled = step(await run("slow-reader"), "send() until")
    rows = {s.name: s for s in filled.sockets}
    waiting, unread = rows["client"].send_queue, rows["conn"].recv_queue
    assert waiting is not None and unread is not None
    assert f"Of them, {waiting} wait on the sending side" in filled.explanation
    assert f"and {unread} on the receiving side" in filled.explanation
    most = "most never left client" if waiting > unread else "most reached the kernel of conn"
    assert most in filled.explanation
    assert "Most wait in the server's receive queue" not in filled.explanation


async def test_slow_reader_says_what_one_read_let_through_and_the_window_after_it() -> None:
    """It said "the queued bytes flow again" beside a window of 0 after one recv(1 MiB)."""
    results = await run("slow-reader")
    read = step(results, "recv(1 MiB)")
    assert read.returned is not None
    assert f"recv(1 MiB) returned {len(read.returned)} bytes" in read.explanation
    client = {s.name: s for s in read.sockets}["client"]
    assert client.info is not None and client.send_queue is not None
    said = (f"{client.send_queue} now)", f"still {client.send_queue})")
    assert any(words in read.explanation for words in said)  # the table's Send-Q of client
    window = client.info.snd_wnd
    if window == 0:
        assert "the window client last heard is 0 again" in read.explanation
    else:
        assert f"The window client last heard is {window} bytes" in read.explanation
    assert "flow again" not in read.explanation
