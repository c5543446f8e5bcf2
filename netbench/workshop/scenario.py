"""Workshop scenarios are data: a TOML file a teacher can write, checked before it runs.

A scenario is a name, a title, a summary, a takeaway and a list of
`[[step]]` tables. Each step is one call by one named socket (`do`), with
its arguments, a one-paragraph `explain` and optional `expect` checks of
the kernel's state after it (docs/workshop.md lists every action and
check). The built-ins in `netbench/workshop/scenarios/` are written in the
same format.

Rules: loading never runs anything; every problem is one `ScenarioError`
naming the file, the line and what is wrong, so a CLI prints one line and
exits 2. Line numbers of semantic problems are found by scanning the text
for the step's `[[step]]` header and the key's own line (tomllib keeps no
positions).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACTIONS: dict[str, frozenset[str]] = {
    # action -> the keys it accepts besides the common ones
    "listen": frozenset({"backlog", "port"}),
    "bind": frozenset({"port"}),
    "connect": frozenset({"to", "wait"}),
    "accept": frozenset({"listener"}),
    "send": frozenset({"data", "data_hex", "repeat"}),
    "fill": frozenset({"data", "repeat"}),
    "recv": frozenset({"size"}),
    "recv_all": frozenset({"size", "until_eof"}),
    "shutdown": frozenset(),
    "close": frozenset(),
    "abort": frozenset(),
    "nodelay": frozenset({"on"}),
    "rcvbuf": frozenset({"size"}),
    "settimeout": frozenset({"seconds"}),
    "wait": frozenset({"seconds", "until", "timeout"}),
    "http_request": frozenset({"method", "path", "headers", "body", "read", "pieces"}),
    "http_read": frozenset({"count", "method"}),
    "http_rounds": frozenset({"server", "rounds", "pieces", "status", "reason", "headers", "body"}),
    "http_response": frozenset({"status", "reason", "headers", "body", "pieces"}),
    "start_server": frozenset(
        {"kind", "backlog", "recv_size", "idle_timeout", "keep_alive", "text", "port", "upstream"}
    ),
}
"""Every action a step may take, with the arguments it accepts."""

ARGUMENT_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(
        ("backlog", "port", "size", "repeat", "count", "rounds", "pieces", "status", "recv_size"),
        (int,),
    ),
    **dict.fromkeys(("seconds", "timeout", "idle_timeout"), (int, float)),
    **dict.fromkeys(("wait", "read", "on", "keep_alive", "until_eof"), (bool,)),
    **dict.fromkeys(
        (
            "data",
            "data_hex",
            "to",
            "listener",
            "server",
            "method",
            "path",
            "body",
            "reason",
            "kind",
            "text",
            "upstream",
        ),
        (str,),
    ),
    "headers": (list,),
    "until": (dict,),
}
"""What each argument must be (TOML's own types), checked when the file is read."""

COMMON_KEYS = frozenset({"do", "socket", "side", "title", "explain", "expect", "expect_error"})

CHECKS = frozenset(
    {
        "state",
        "accept_queue",
        "recv_queue_min",
        "send_queue_min",
        "returns",
        "returns_len",
        "status",
        "error",
        "elapsed_min_ms",
        "elapsed_max_ms",
        "total_retrans_min",
        "probes_min",
        "peer_window",
        "captured",
    }
)
"""What `expect` (and `wait`'s `until`) may check; docs/workshop.md says what each means."""

SIDES = ("client", "server")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class ScenarioError(ValueError):
    """A scenario file that cannot run: the message names the line and the problem."""


@dataclass(frozen=True, slots=True)
class Step:
    """One socket call by one side, and what to say about it."""

    do: str
    socket: str
    side: str
    title: str
    explain: str
    args: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)
    expect_error: str | None = None
    """The exception this call must raise (`ConnectionRefusedError`...); the lesson goes on."""
    line: int = 0
    """Where the step starts in its file (for messages)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    summary: str
    takeaway: str
    steps: tuple[Step, ...]
    source: str = ""
    """The file it came from (or `built-in`)."""


def load_scenario_file(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(f"{path}: cannot read it: {error}") from None
    return parse_scenario(text, str(path))


ARGUMENT_RANGES: dict[str, tuple[int, int]] = {
    "port": (0, 65535),
    "backlog": (0, 4096),
    "size": (1, 1 << 24),
    "recv_size": (1, 1 << 24),
    "repeat": (1, 1 << 24),
    "count": (0, 100_000),
    "rounds": (0, 10_000),
    "pieces": (1, 100_000),
    "status": (100, 999),
    "seconds": (0, 30),
    "timeout": (0, 30),
    "idle_timeout": (0, 3600),
}
"""What a lesson's numbers may be: outside, the socket call raised OverflowError
or MemoryError (a traceback), or a `settimeout(1e300)` held a `recv` for ever."""
SENT_MOST = 1 << 24
"""Bytes one `send` or `fill` may make (`data` times `repeat`)."""


def parse_scenario(text: str, source: str) -> Scenario:
    """The scenario in `text` (TOML), or ScenarioError naming `source`, the line and the problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{source}: {error}") from None
    except RecursionError:  # tables nested thousands deep
        raise ScenarioError(f"{source}: tables nested too deep") from None
    lines = text.splitlines()
    where = _Where(source, lines)
    for key in ("name", "title", "summary", "takeaway"):
        value = data.get(key)
        if key not in data:  # no line to name: ":1" sent a teacher to the file's first line
            raise ScenarioError(f"{source}: `{key}` is missing (a non-empty string)")
        if not isinstance(value, str) or not value.strip():
            raise ScenarioError(f"{where.top(key)}: `{key}` must be a non-empty string")
    if not NAME.match(data["name"]):
        raise ScenarioError(
            f"{where.top('name')}: `name` must be lower-case letters, digits, - or _ "
            "(it is typed on the command line)"
        )
    unknown = set(data) - {"name", "title", "summary", "takeaway", "step"}
    if unknown:
        key = sorted(unknown)[0]
        raise ScenarioError(f"{where.top(key)}: unknown key `{key}`")
    raw_steps = data.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ScenarioError(f"{source}: a scenario needs at least one [[step]]")
    sides: dict[str, str] = {}
    steps = tuple(_step(raw, index, where, sides) for index, raw in enumerate(raw_steps))
    return Scenario(
        data["name"], data["title"].strip(), paragraphs(data["summary"]),
        data["takeaway"].strip(), steps, source,
    )  # fmt: skip


CREATES = {"listen": "server", "bind": "server", "accept": "server", "start_server": "server",
           "connect": "client"}  # fmt: skip
"""The actions that make a socket, and the side the socket is on."""


def _step(raw: dict[str, Any], index: int, where: _Where, sides: dict[str, str]) -> Step:
    def fail(key: str | None, problem: str) -> ScenarioError:
        return ScenarioError(f"{where.step(index, key)}: step {index + 1}: {problem}")

    do = raw.get("do")
    if do not in ACTIONS:
        known = ", ".join(sorted(ACTIONS))
        return_what = f"unknown action {do!r}" if do is not None else "`do` is missing"
        raise fail("do" if do is not None else None, f"{return_what} (one of: {known})")
    sock = raw.get("socket")
    if not isinstance(sock, str) or not NAME.match(sock):
        raise fail("socket", "`socket` must name the socket that acts (lower-case, e.g. client)")
    for key in raw:
        if key not in COMMON_KEYS and key not in ACTIONS[do]:
            accepted = ", ".join(sorted(ACTIONS[do])) or "none"
            raise fail(key, f"`{do}` takes no `{key}` (its arguments: {accepted})")
    for key in ("to", "listener", "server", "upstream"):
        target = raw.get(key)
        if isinstance(target, str) and target not in sides:
            raise fail(key, f"socket {target!r} is used before a step makes it")
    if do in CREATES:
        sides[sock] = str(raw.get("side", CREATES[do]))
    elif sock not in sides:
        raise fail("socket", f"socket {sock!r} is used before a step makes it")
    for key, value in raw.items():
        wanted = ARGUMENT_TYPES.get(key)
        bad_bool = isinstance(value, bool) and bool not in (wanted or ())
        if wanted is not None and (not isinstance(value, wanted) or bad_bool):
            names = (
                "number"
                if float in wanted
                else {
                    int: "whole number",
                    bool: "true or false",
                    str: "string",
                    list: "list",
                    dict: "table",
                }[wanted[0]]
            )
            raise fail(key, f"`{key}` must be a {names}")
    for key, (low, high) in ARGUMENT_RANGES.items():
        value = raw.get(key)
        if isinstance(value, (int, float)) and not low <= value <= high:  # NaN too
            raise fail(key, f"`{key}` must be between {low} and {high}")
    data = raw.get("data")
    repeat = raw.get("repeat", 1)
    if isinstance(data, str) and isinstance(repeat, int) and len(data) * repeat > SENT_MOST:
        raise fail("repeat", f"`data` times `repeat` must be at most {SENT_MOST} bytes")
    if "data_hex" in raw:
        try:
            bytes.fromhex(raw["data_hex"])
        except ValueError:
            raise fail("data_hex", '`data_hex` must be hex digits, e.g. "47 45 54 0d 0a"') from None
    side = raw.get("side", sides[sock])
    if side not in SIDES:
        raise fail("side", "`side` must be client or server")
    explain = raw.get("explain")
    if not isinstance(explain, str) or not explain.strip():
        raise fail("explain", "`explain` must say what happens, in a paragraph")
    expect = raw.get("expect", {})
    if not isinstance(expect, dict):
        raise fail("expect", "`expect` must be a table of checks")
    _check_expect(expect, lambda problem: fail("expect", problem))
    if do == "wait":
        until = raw.get("until", {})
        if not isinstance(until, dict):
            raise fail("until", "`until` must be a table of checks")
        _check_expect(until, lambda problem: fail("until", problem))
        seconds = raw.get("seconds")
        if not until and not isinstance(seconds, (int, float)):
            raise fail(None, "`wait` needs `seconds` or `until`")
        if isinstance(seconds, (int, float)) and not 0 <= seconds <= 30:
            raise fail("seconds", "`seconds` must be between 0 and 30")
    if do == "start_server" and not isinstance(raw.get("kind"), str):
        raise fail("kind", "`start_server` needs `kind` (reply, echo, prefix-echo, http, ...)")
    if do == "connect" and not isinstance(raw.get("to"), str):
        raise fail("to", "`connect` needs `to`: the listener or server to connect to")
    expect_error = raw.get("expect_error")
    if expect_error is not None and not isinstance(expect_error, str):
        raise fail("expect_error", "`expect_error` must name an exception")
    args = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
    title = raw.get("title") or f"{side}: {sock}.{do}()"
    return Step(
        do, sock, side, str(title), paragraphs(explain), args, expect, expect_error,
        where.step_line(index),
    )  # fmt: skip


def paragraphs(text: str) -> str:
    """TOML's wrapped lines joined: one line per paragraph (the screens wrap to their width)."""
    blocks = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(line.strip() for line in block.splitlines()) for block in blocks)


def _check_expect(expect: dict[str, Any], fail: Any) -> None:
    for key in expect:
        if key not in CHECKS:
            raise fail(f"unknown check `{key}` (one of: {', '.join(sorted(CHECKS))})")


class _Where:
    """Finds the line of a key, for messages (tomllib keeps no positions)."""

    def __init__(self, source: str, lines: list[str]) -> None:
        self.source = source
        self.lines = lines
        self.step_starts = [
            number for number, line in enumerate(lines, 1) if line.strip() == "[[step]]"
        ]

    def step_line(self, index: int) -> int:
        return self.step_starts[index] if index < len(self.step_starts) else 0

    def top(self, key: str) -> str:
        end = self.step_starts[0] if self.step_starts else len(self.lines) + 1
        return self._at(key, 1, end)

    def step(self, index: int, key: str | None) -> str:
        start = self.step_line(index) or 1
        later = [n for n in self.step_starts if n > start]
        end = later[0] if later else len(self.lines) + 1
        if key is None:
            return f"{self.source}:{start}"
        return self._at(key, start, end, fallback=start)

    def _at(self, key: str, start: int, end: int, fallback: int = 1) -> str:
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*[=.]")
        for number in range(start, min(end, len(self.lines) + 1)):
            if pattern.match(self.lines[number - 1]):
                return f"{self.source}:{number}"
        return f"{self.source}:{fallback}"
