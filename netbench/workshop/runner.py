"""Runs a scenario one step at a time on real sockets, and says what each step showed.

`WorkshopRunner` is the workshop's engine: `next()` makes the next step's
socket call through the engine's `SocketLab`, then gathers what it showed
(the packets it caused, captured when capture runs and inferred otherwise;
every socket's state and queues from the kernel; the bytes so far; the
checks). `back()` reruns the lesson from the start up to the step before,
`restart()` starts it over; both on fresh sockets, because a socket call
cannot be undone.

Rules: every call is bounded (the lab's step timeout, or the socket's own
`settimeout`); an unexpected failure is shown as the step's result, never
raised; capture is optional and its absence is said on every step.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from netbench.engine.errors import EngineError
from netbench.engine.lab import LabError, SocketLab, SocketReading
from netbench.protocol.http_parse import ResponseStream
from netbench.workshop.calls import (
    http_request_bytes,
    http_response_bytes,
    server_config,
    step_data,
)
from netbench.workshop.checks import Facts, evaluate
from netbench.workshop.inferred import Inferrer
from netbench.workshop.measured import measured
from netbench.workshop.results import ChunkRow, SocketRow, StepResult, WirePacket
from netbench.workshop.scenario import Scenario, Step
from netbench.workshop.wire import NO_PEER, Address, CapturedPackets

NO_CAPTURE = "inferred: nothing was captured (run as root, or start `sudo $(command -v netbench) capture-agent`, to see the real packets)"


SETTLE_QUIET = 0.05
"""Seconds the kernel's view must stay the same before a step is over (> a delayed ACK's 40 ms)."""


class _Performed:
    """What a call did, beyond its return value."""

    def __init__(self) -> None:
        self.returned: bytes | None = None
        self.sent = 0
        self.statuses: list[int] = []
        self.rounds_ms: list[float] = []
        self.rounds: list[tuple[int, list[int], float]] = []
        """http_rounds: each round's request length, response pieces and milliseconds."""


class WorkshopRunner:
    """One scenario, stepped through on real sockets. Use on one asyncio loop."""

    def __init__(self, scenario: Scenario, *, capture: bool = False, step_timeout: float = 5.0):
        self.scenario = scenario
        self.step_timeout = step_timeout
        self.want_capture = capture
        self.results: list[StepResult] = []
        self.wire = CapturedPackets()
        self.capture_detail = NO_CAPTURE
        self._capture: Any = None
        self._watched: tuple[int, ...] = ()
        self._marker: SocketLab | None = None
        self.lab = SocketLab(step_timeout=step_timeout)
        self._reset_lesson()

    def _reset_lesson(self) -> None:
        self.lab = SocketLab(step_timeout=self.step_timeout)
        self.wall0 = time.time()
        self.inferrer = Inferrer()
        self.results = []
        self.connected_to: dict[str, str] = {}
        self.streams: dict[str, ResponseStream] = {}
        self.wire.begin(self.wall0)

    @property
    def done(self) -> bool:
        return len(self.results) >= len(self.scenario.steps)

    @property
    def capturing(self) -> bool:
        return self._capture is not None and self.wire.running

    # -- capture ------------------------------------------------------------

    async def start(self, capture_wait: float = 6.0) -> None:
        """Start capture when asked for and possible (waits until it runs, bounded)."""
        if not self.want_capture or self._capture is not None:
            return
        from netbench.capture import start_capture

        self._marker = SocketLab()
        self._marker.bind_only("marker")
        self.wire.marker_port = self._marker.port_of("marker")
        self._capture = start_capture(self.wire, ports=())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wire.status_seen.wait(), capture_wait)
        if self.wire.running:
            self.capture_detail = f"captured ({self.wire.status})"
        else:
            self.capture_detail = f"{NO_CAPTURE}; capture: {self.wire.status or 'did not start'}"

    # -- stepping -----------------------------------------------------------

    async def next(self) -> StepResult | None:
        if self.done:
            return None
        index = len(self.results)
        result = await self._run(self.scenario.steps[index], index)
        self.results.append(result)
        return result

    async def back(self) -> StepResult | None:
        """Rerun from the start up to the step before the current one."""
        target = max(0, len(self.results) - 1)
        await self.restart()
        while len(self.results) < target:
            await self.next()
        return self.results[-1] if self.results else None

    async def restart(self) -> None:
        await self.lab.close_all()
        self._reset_lesson()

    async def run_all(self) -> list[StepResult]:
        while not self.done:
            await self.next()
        return self.results

    async def close(self) -> None:
        await self.lab.close_all()
        if self._marker is not None:
            await self._marker.close_all()
        if self._capture is not None:
            with contextlib.suppress(Exception):
                self._capture.stop()
            self._capture = None

    def _watch_ports(self) -> None:
        """Capture the data segments of the lesson's ports too (control packets come anyway)."""
        ports = tuple(sorted(self.lab.ports()))
        if self._capture is not None and ports != self._watched:
            self._watched = ports
            self._capture.watch(ports)

    # -- one step -----------------------------------------------------------

    async def _run(self, step: Step, index: int) -> StepResult:
        self._watch_ports()
        before = self._rows(self.lab.read_kernel())
        unread = before[step.socket].recv_queue or 0 if step.socket in before else 0
        start_t = self.lab.now()
        started = time.monotonic()
        performed = _Performed()
        error: str | None = None
        error_names: list[str] = []
        try:
            await self._perform(step, performed)
        except (OSError, TimeoutError, LabError, ValueError, EngineError) as exc:
            # EngineError: a `start_server` the engine refused (an asgi kind with no app).
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            error_names = [cls.__name__ for cls in type(exc).__mro__]
        elapsed = time.monotonic() - started
        self._watch_ports()
        if step.do == "connect" and not step.args.get("wait", True):
            await asyncio.sleep(0.05)  # the SYN-ACK, when it comes, comes within this
        after = await self._settled()
        if self.capturing:
            await self.wire.settle(lambda: self.lab.refused_syn(self.wire.marker_port))
        expected_error = step.expect_error
        unexpected = (error is not None and expected_error not in error_names) or (
            error is None and expected_error is not None
        )
        if unexpected and error is None:
            error = f"expected {expected_error}, but the call returned"
        packets = self._packets(step, start_t, error_names[0] if error_names else None,
                                performed.sent, before, after, unread, performed.returned,
                                performed.rounds)  # fmt: skip
        facts = Facts(
            after,
            returned=performed.returned,
            error=error_names[0] if error_names else None,
            elapsed=elapsed,
            statuses=performed.statuses,
            packets=packets,
            captured=self.capturing,
        )
        last = index == len(self.scenario.steps) - 1
        return StepResult(
            index=index,
            total=len(self.scenario.steps),
            title=step.title,
            side=step.side,
            action=step.do,
            explanation=_fill(
                step.explain,
                elapsed,
                performed,
                error_names,
                measured(
                    step.socket,
                    facts,
                    [p for r in self.results for p in r.packets],
                    before,
                    self._peer(step.socket),
                ),
            ),
            elapsed=elapsed,
            returned=performed.returned,
            error=error,
            unexpected=unexpected,
            packets=packets,
            sockets=list(after.values()),
            chunks=self._chunks(),
            checks=evaluate(step.expect, facts),
            capture=self.capture_detail,
            takeaway=self.scenario.takeaway if last else None,
        )

    def _packets(
        self,
        step: Step,
        start_t: float,
        error: str | None,
        sent: int,
        before: dict[str, SocketRow],
        after: dict[str, SocketRow],
        unread: int,
        returned: bytes | None,
        rounds: list[tuple[int, list[int], float]],
    ) -> list[WirePacket]:
        if self.capturing:
            return self.wire.take(self._names(after))
        peer = self._peer(step.socket)
        return self.inferrer.packets(
            step.do, step.socket, peer, start_t,
            error=error, sent=sent, before=before, after=after, unread_before=unread,
            received=len(returned or b""), peer_is_lesson_socket=peer in self.lab.sockets,
            peers={name: self._peer(name) for name in after}, rounds=rounds,
        )  # fmt: skip

    async def _perform(self, step: Step, done: _Performed) -> None:
        lab, args, name = self.lab, step.args, step.socket
        action = step.do
        if action == "listen":
            lab.listen(name, int(args.get("backlog", 128)), int(args.get("port", 0)))
        elif action == "bind":
            lab.bind_only(name, int(args.get("port", 0)))
        elif action == "start_server":
            upstream = args.get("upstream")
            port = lab.port_of(str(upstream)) if upstream is not None else None
            await lab.start_server(name, server_config(args, port))
        elif action == "connect":
            self.connected_to[name] = str(args["to"])
            await lab.connect(name, lab.port_of(str(args["to"])), wait=bool(args.get("wait", True)))
        elif action == "accept":
            listener = str(args.get("listener", "listener"))
            await lab.accept(listener, name)
            self.inferrer.next_seq[name] = self.inferrer.next_seq.get(listener, 1)
        elif action == "send":
            data = step_data(args)
            await lab.send(name, data)
            done.sent = len(data)
        elif action == "fill":
            done.sent = lab.send_until_full(name, step_data(args) or b"x" * 65536)
        elif action == "recv":
            done.returned = await lab.recv(name, int(args.get("size", 1024)))
        elif action == "recv_all":
            done.returned = await self._recv_all(name, int(args.get("size", 65536)))
        elif action == "shutdown":
            lab.shutdown_write(name)
        elif action in ("close", "abort"):
            lab.close(name, linger_zero=action == "abort")
        elif action == "nodelay":
            lab.set_nodelay(name, bool(args.get("on", True)))
        elif action == "rcvbuf":
            lab.set_recv_buffer(name, int(args["size"]))
        elif action == "settimeout":
            seconds = args.get("seconds")
            lab.set_timeout(name, None if seconds is None else float(seconds))
        elif action == "wait":
            await self._wait(args)
        elif action == "http_request":
            await self._http_request(name, args, done)
        elif action == "http_read":
            await self._http_read(name, int(args.get("count", 1)), done)
        elif action == "http_rounds":
            await self._http_rounds(name, args, done)
        elif action == "http_response":
            head, body = http_response_bytes(args)
            pieces = [head, body] if int(args.get("pieces", 1)) == 2 and body else [head + body]
            for piece in pieces:
                await lab.send(name, piece)
            done.sent = len(head) + len(body)

    async def _recv_all(self, name: str, size: int) -> bytes:
        parts: list[bytes] = []
        while True:
            data = await self.lab.recv(name, size)
            if not data:
                return b"".join(parts)
            parts.append(data)

    async def _wait(self, args: dict[str, Any]) -> None:
        until = args.get("until")
        if not until:
            await asyncio.sleep(float(args["seconds"]))
            return
        timeout = min(float(args.get("timeout", 5.0)), 30.0)
        deadline = time.monotonic() + timeout
        while True:
            rows = self._rows(self.lab.read_kernel())
            if all(check.ok for check in evaluate(until, Facts(rows))):
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the kernel did not get there within {timeout:g} s")
            await asyncio.sleep(0.01)

    async def _http_request(self, name: str, args: dict[str, Any], done: _Performed) -> None:
        port = self.lab.port_of(self.connected_to.get(name, "listener"))
        head, body = http_request_bytes(args, port)
        pieces = [head, body] if int(args.get("pieces", 1)) == 2 and body else [head + body]
        for piece in pieces:
            await self.lab.send(name, piece)
        done.sent = len(head) + len(body)
        if args.get("read", True):
            await self._http_read(name, 1, done)

    async def _http_read(self, name: str, count: int, done: _Performed) -> None:
        stream = self.streams.setdefault(name, ResponseStream())
        have = len(stream.responses)
        data = bytearray()
        while len(stream.responses) < have + count and stream.error is None:
            chunk = await self.lab.recv(name, 65536)
            if not chunk:
                break
            data += chunk
            stream.feed(chunk)
        done.returned = bytes(data)
        done.statuses = [r.status or 0 for r in stream.responses[have:]]
        if stream.error:
            raise ValueError(f"the response did not parse: {stream.error}")

    async def _http_rounds(self, name: str, args: dict[str, Any], done: _Performed) -> None:
        """Request/response rounds back to back, the server writing each response in `pieces`.

        Back to back matters: a connection idle for longer than its RTO goes
        back to quick-ACK mode, which would hide the delayed ACK this shows.
        """
        server = str(args.get("server", "conn"))
        port = self.lab.port_of(self.connected_to.get(name, "listener"))
        head, body = http_response_bytes(args)
        pieces = [head, body] if int(args.get("pieces", 1)) == 2 and body else [head + body]
        statuses: list[int] = []
        for number in range(int(args.get("rounds", 5))):
            started = time.monotonic()
            request, _ = http_request_bytes({"path": f"/round-{number + 1}"}, port)
            await self.lab.send(name, request)
            await self.lab.recv(server, 65536)
            for piece in pieces:
                await self.lab.send(server, piece)
            await self._http_read(name, 1, done)
            statuses += done.statuses
            elapsed_ms = (time.monotonic() - started) * 1000
            done.rounds_ms.append(elapsed_ms)
            done.rounds.append((len(request), [len(piece) for piece in pieces], elapsed_ms))
        done.statuses = statuses

    # -- what the step shows ------------------------------------------------

    async def _settled(self) -> dict[str, SocketRow]:
        """The kernel's view once the call's packets were all processed.

        Loopback delivers segments a few microseconds after the call returns,
        but a delayed ACK leaves up to ~40 ms later (Linux's minimum delayed-ACK
        time): read until two readings 50 ms apart agree on every state, queue
        and unacknowledged count (at most 0.4 s), so the step shows what the
        kernel did in answer to the call, delayed ACKs included.
        """
        rows = self._rows(self.lab.read_kernel())
        deadline = time.monotonic() + 0.4
        while time.monotonic() < deadline:
            await asyncio.sleep(SETTLE_QUIET)
            again = self._rows(self.lab.read_kernel())
            if _summary(again) == _summary(rows):
                return again
            rows = again
        return rows

    def _rows(self, readings: list[SocketReading]) -> dict[str, SocketRow]:
        return {
            r.name: SocketRow(
                r.name,
                r.role,
                r.state,
                _address(r.local),
                _address(r.remote),
                r.held,
                r.recv_queue,
                r.send_queue,
                r.accept_queue,
                r.info,
            )
            for r in readings
        }

    def _chunks(self) -> list[ChunkRow]:
        rows = [
            ChunkRow(s.name, c.t, c.direction, c.data)
            for s in self.lab.sockets.values()
            for c in s.chunks
        ]
        rows.sort(key=lambda row: row.t)
        return rows

    def _names(self, rows: dict[str, SocketRow]) -> dict[tuple[Address, Address], str]:
        """(local, remote) address -> the socket's name; (address, NO_PEER): a listener or server.

        The kernel's rows add the connections of the lesson's servers, which
        the lesson holds no socket for (`app:51234`).
        """
        names: dict[tuple[Address, Address], str] = {}
        for row in rows.values():
            local, remote = _endpoint(row.local), _endpoint(row.remote)
            if local[1]:
                names[(local, remote if row.role != "listener" else NO_PEER)] = row.name
        for s in self.lab.sockets.values():
            remote = s.remote if s.role not in ("listener", "bound") and s.remote[1] else NO_PEER
            names[(s.local, remote)] = s.name
        for server_name, server in self.lab.servers.items():
            names[((server.address.host, server.address.port), NO_PEER)] = server_name
        return names

    def _peer(self, name: str) -> str | None:
        me = self.lab.sockets.get(name)
        if me is None:
            return None
        for other in self.lab.sockets.values():
            if other is not me and other.local == me.remote and other.remote == me.local:
                return other.name
        return self.connected_to.get(name)


def _summary(rows: dict[str, SocketRow]) -> list[tuple[object, ...]]:
    return [
        (r.name, r.state, r.recv_queue, r.send_queue, r.accept_queue, r.info and r.info.unacked)
        for r in rows.values()
    ]


def _endpoint(text: str) -> Address:
    """A row's "127.0.0.1:5000" as an address ("" : no peer)."""
    host, _, port = text.rpartition(":")
    return (host, int(port)) if port.isdigit() else NO_PEER


def _address(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}" if address[1] else ""


def _fill(
    text: str, elapsed: float, done: _Performed, errors: list[str], measured: dict[str, str]
) -> str:
    """The paragraph with what this run measured put in (`{elapsed_ms}`, `{returned}`...)."""
    from netbench.protocol.textsafe import visible

    values = {
        **measured,
        "elapsed_ms": f"{elapsed * 1000:.1f}",
        "returned": "" if done.returned is None else visible(done.returned[:200]),
        "returned_len": "" if done.returned is None else str(len(done.returned)),
        "error": errors[0] if errors else "",
        "sent": str(done.sent),
        "rounds_ms": ", ".join(f"{ms:.1f}" for ms in done.rounds_ms),
    }
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text
