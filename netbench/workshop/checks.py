"""A scenario's `expect` table, checked against what the kernel and the call said.

Every built-in scenario states its kernel facts as checks ("after connect
and before accept the accept queue holds one"); the suite runs each one
and requires every check to hold, so a lesson can never teach something
this kernel does not do. A check that needs packets is skipped (ok=None)
when nothing was captured: inferred packets prove nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from netbench.workshop.results import Check, SocketRow, WirePacket
from netbench.workshop.wire import ZERO_WINDOW_PROBE


class Facts:
    """What a step's checks look at."""

    def __init__(
        self,
        sockets: Mapping[str, SocketRow],
        *,
        returned: bytes | None = None,
        error: str | None = None,
        elapsed: float = 0.0,
        statuses: list[int] | None = None,
        packets: list[WirePacket] | None = None,
        captured: bool = False,
    ) -> None:
        self.sockets = sockets
        self.returned = returned
        self.error = error
        self.elapsed = elapsed
        self.statuses = statuses or []
        self.packets = packets or []
        self.captured = captured

    def state(self, name: str) -> str:
        row = self.sockets.get(name)
        return row.state if row is not None else "CLOSED"

    def info(self, name: str, field: str) -> int | None:
        row = self.sockets.get(name)
        if row is None or row.info is None:
            return None
        value = getattr(row.info, field)
        return value if isinstance(value, int) else None

    def zero_window_probes(self, name: str) -> int | None:
        """The zero-window probes `name` sent since its peer's window closed.

        Not `tcpi_probes` alone: it counts *unanswered* probes, and loopback
        answers each within microseconds, so it is back to 0 unless read at
        that instant (a lesson stepped every 2 s never saw it). While the
        window stays shut with nothing in flight, the probe timer's backoff
        (`tcpi_backoff`) grows by one per probe and only resets when the
        window opens. Captured probes count too, when they were captured.
        """
        row = self.sockets.get(name)
        info = row.info if row is not None else None
        if info is None or info.probes is None:
            return None
        count = info.probes
        if info.snd_wnd == 0 and not info.unacked and info.backoff is not None:
            count = max(count, info.backoff)
        if self.captured:
            seen = [p for p in self.packets if p.src == name and p.note == ZERO_WINDOW_PROBE]
            count = max(count, len(seen))
        return count


def evaluate(expect: Mapping[str, Any], facts: Facts) -> list[Check]:
    checks: list[Check] = []
    for key, expected in expect.items():
        checks.extend(_CHECKERS[key](expected, facts))
    return checks


def _per_socket(
    what: str, get: Callable[[Facts, str], object], test: Callable[[object, Any], bool]
) -> Callable[[Any, Facts], list[Check]]:
    def run(expected: Any, facts: Facts) -> list[Check]:
        checks = []
        for name, want in dict(expected).items():
            actual = get(facts, name)
            ok = actual is not None and test(actual, want)
            checks.append(Check(what.format(name=name), _show(want), _show(actual), ok))
        return checks

    return run


def _show(value: object) -> str:
    if isinstance(value, list):
        return " or ".join(str(v) for v in value)
    return "unknown" if value is None else str(value)


def _one_of(actual: object, want: Any) -> bool:
    return actual in want if isinstance(want, list) else actual == want


def _at_least(actual: object, want: Any) -> bool:
    return isinstance(actual, int) and actual >= int(want)


def _single(what: str, get: Callable[[Facts], object], test: Callable[[object, Any], bool]) -> Any:
    def run(expected: Any, facts: Facts) -> list[Check]:
        actual = get(facts)
        return [Check(what, _show(expected), _show(actual), test(actual, expected))]

    return run


def _returned(facts: Facts) -> str | None:
    return None if facts.returned is None else facts.returned.decode("utf-8", "replace")


def _statuses(expected: Any, facts: Facts) -> list[Check]:
    """The statuses the step read, in order: a list is a sequence here, not alternatives."""
    wanted = expected if isinstance(expected, list) else [expected]

    def sequence(statuses: list[int]) -> str:
        return ", then ".join(str(s) for s in statuses) if statuses else "no response"

    ok = facts.statuses == wanted
    return [Check("HTTP status", sequence(wanted), sequence(facts.statuses), ok, "server answered")]


def _captured(expected: Any, facts: Facts) -> list[Check]:
    wanted = [str(flags) for flags in expected]
    seen = [p.flags for p in facts.packets if p.source == "captured"]
    if not facts.captured:
        return [Check("captured packets", " ".join(wanted), "not captured here", None)]
    # In order, others allowed between them (an ACK may cross a data segment).
    position = 0
    for flags in seen:
        if position < len(wanted) and flags == wanted[position]:
            position += 1
    return [Check("captured packets", " ".join(wanted), " ".join(seen), position == len(wanted))]


_CHECKERS: dict[str, Callable[[Any, Facts], list[Check]]] = {
    "state": _per_socket("state of {name}", Facts.state, _one_of),
    "accept_queue": _per_socket(
        "accept queue of {name}",
        lambda f, n: f.sockets[n].accept_queue if n in f.sockets else None,
        _one_of,
    ),
    "recv_queue_min": _per_socket(
        "bytes {name} has not read yet (at least)",
        lambda f, n: f.sockets[n].recv_queue if n in f.sockets else None,
        _at_least,
    ),
    "send_queue_min": _per_socket(
        "bytes {name} has not had acknowledged (at least)",
        lambda f, n: f.sockets[n].send_queue if n in f.sockets else None,
        _at_least,
    ),
    "total_retrans_min": _per_socket(
        "retransmissions by {name} (at least)", lambda f, n: f.info(n, "total_retrans"), _at_least
    ),
    "probes_min": _per_socket(
        "zero-window probes by {name} (at least)", Facts.zero_window_probes, _at_least
    ),
    "peer_window": _per_socket(
        "window the peer advertised to {name}", lambda f, n: f.info(n, "snd_wnd"), _one_of
    ),
    "returns": _single("the call returned", _returned, lambda a, e: a == e),
    "returns_len": _single(
        "bytes returned",
        lambda f: None if f.returned is None else len(f.returned),
        lambda a, e: a == e,
    ),
    "status": _statuses,
    "error": _single("the call raised", lambda f: f.error, lambda a, e: a == e),
    "elapsed_min_ms": _single(
        "milliseconds the call took (at least)",
        lambda f: round(f.elapsed * 1000, 1),
        lambda a, e: isinstance(a, float) and a >= float(e),
    ),
    "elapsed_max_ms": _single(
        "milliseconds the call took (at most)",
        lambda f: round(f.elapsed * 1000, 1),
        lambda a, e: isinstance(a, float) and a <= float(e),
    ),
    "captured": _captured,
}
