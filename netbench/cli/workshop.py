"""`netbench workshop`: TCP and HTTP taught one socket call at a time.

    netbench workshop                       the picker (terminal UI)
    netbench workshop NAME [--projector]    one lesson, stepped with the space bar
    netbench workshop list                  one built-in a line: its name, then its title
    netbench workshop run NAME --json [--auto SECONDS]
                                            headless: one JSON object per step
    netbench workshop handout NAME OUT.html every step's screen and explanation
    --file lesson.toml                      a teacher's own scenario instead of NAME

A scenario file that cannot run is one line naming the file, the line and
the problem, exit 2. `run` exits 1 when the kernel disagreed with any of the
scenario's checks (a lesson must never teach what this machine does not do).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from netbench.protocol.textsafe import visible_text

COMMANDS = ("list", "run", "handout")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "workshop",
        help="guided TCP/HTTP lessons on real sockets, one socket call at a time",
        description=(
            "Step through a lesson on real sockets: each step's packets, every socket's "
            "TCP state and queues read from the kernel, and what it means. No root needed."
        ),
        epilog="Commands: NAME (open it), list, run NAME [--json] [--auto S], "
        "handout NAME OUT.html. docs/workshop.md has the lesson plan and the file format.",
    )
    parser.add_argument(
        "words",
        nargs="*",
        metavar="NAME | list | run NAME | handout NAME OUT.html",
        help="what to do (no words: the picker)",
    )
    parser.add_argument("--file", type=Path, metavar="LESSON.toml", help="run a scenario file")
    parser.add_argument(
        "--projector", action="store_true", help="high contrast, large: for a projected room"
    )
    parser.add_argument("--json", action="store_true", help="run: one JSON object per step")
    parser.add_argument(
        "--auto",
        type=_seconds,
        metavar="SECONDS",
        help="run: pause this long between steps (0: straight through; "
        "default: wait for Enter on a terminal)",
    )
    capture = parser.add_mutually_exclusive_group()
    capture.add_argument(
        "--no-capture", action="store_true", help="do not capture packets (show them inferred)"
    )
    capture.add_argument(
        "--capture", action="store_true", help="capture packets (the default when possible)"
    )


AUTO_MOST = 3600.0
"""Seconds `--auto` may pause between steps."""


def _seconds(text: str) -> float:
    """`--auto`'s pause: -1 was taken and slept no time at all, silently."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not 0 <= seconds <= AUTO_MOST:  # NaN too
        raise argparse.ArgumentTypeError(
            f"seconds between steps must be between 0 and {AUTO_MOST:g}, not {text}"
        )
    return seconds


def run(args: argparse.Namespace) -> int:
    from netbench.cli import fail, has_terminal
    from netbench.workshop import ScenarioError

    words: list[str] = list(args.words)
    command = words[0] if words and words[0] in COMMANDS else None
    rest = words[1:] if command else words
    try:
        if command != "run":
            # Options of `run` alone: elsewhere they did nothing, silently.
            for option, given in (("--json", args.json), ("--auto SECONDS", args.auto is not None)):
                if given:
                    raise _Usage(
                        f"{option.split()[0]} is an option of `run`: "
                        f"`netbench workshop run NAME {option}`"
                    )
        if command is not None and args.projector:
            # The screen's look: `run`, `list` and `handout` print, and took it silently.
            raise _Usage(
                "--projector is for the lesson's screen: `netbench workshop NAME --projector`"
            )
        if command == "list":
            return _list(rest)
        scenario = _scenario(args, rest[:1])
        if command == "run":
            if scenario is None:
                return _usage("run needs a scenario: `netbench workshop run NAME` or `--file F`")
            _too_many(rest, 1)
            return _run(scenario, args)
        if command == "handout":
            if scenario is None or len(rest) < 2 - (args.file is not None):
                return _usage("handout needs a scenario and a file: `handout NAME OUT.html`")
            out = Path(rest[-1])
            _too_many(rest, 2 - (args.file is not None))
            return _handout(scenario, out, capture=not args.no_capture)
        _too_many(rest, 1)
    except ScenarioError as error:
        print(f"netbench: error: {visible_text(str(error))}", file=sys.stderr)
        return 2
    except _Usage as error:
        return _usage(str(error))
    if not has_terminal():
        return fail(
            "the workshop screen needs a terminal; for scripts use `netbench workshop run NAME --json`"
        )
    from netbench.ui.workshop_app import run_workshop_tui

    code: int = run_workshop_tui(scenario, projector=args.projector, capture=not args.no_capture)
    return code


class _Usage(Exception):
    pass


def _usage(message: str) -> int:
    print(
        "usage: netbench workshop [NAME | list | run NAME | handout NAME OUT.html]", file=sys.stderr
    )
    print(f"netbench workshop: error: {message}", file=sys.stderr)
    return 2


def _too_many(rest: list[str], allowed: int) -> None:
    if len(rest) > allowed:
        raise _Usage(f"unrecognized arguments: {visible_text(' '.join(rest[allowed:]))}")


def _scenario(args: argparse.Namespace, name: list[str]) -> Any:
    from netbench.workshop import find_scenario
    from netbench.workshop.scenario import load_scenario_file

    if args.file is not None:
        return load_scenario_file(args.file)
    if name:
        return find_scenario(name[0])
    return None


def _list(rest: list[str]) -> int:
    from netbench.workshop import builtin_scenarios

    _too_many(rest, 0)
    scenarios = builtin_scenarios()
    width = max(len(s.name) for s in scenarios)
    for scenario in scenarios:
        print(f"{scenario.name:<{width}}  {scenario.title}")
    return 0


def _run(scenario: Any, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run_steps(scenario, args))
    except KeyboardInterrupt:
        # The terminal echoed ^C after the prompt: end that line, so the shell's prompt
        # starts on its own (one line, no traceback).
        print(flush=True)
        return 130
    except BrokenPipeError:
        # `netbench workshop run NAME --json | head`: the reader left, nothing is wrong.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


async def _run_steps(scenario: Any, args: argparse.Namespace) -> int:
    from netbench.workshop.runner import WorkshopRunner

    runner = WorkshopRunner(scenario, capture=not args.no_capture)
    failed = 0
    interactive = args.auto is None and sys.stdin.isatty()
    try:
        await runner.start(capture_wait=6.0 if not args.no_capture else 0.0)
        while not runner.done:
            result = await runner.next()
            assert result is not None
            failed += not result.ok
            if args.json:
                # ASCII: a lesson file's C1 controls and bidi overrides stay escapes.
                print(json.dumps(result.as_json(), ensure_ascii=True), flush=True)
            else:
                _print_step(result)
            if runner.done:
                break
            if interactive and not await _enter_pressed("-- Enter: next step --"):
                interactive = False  # stdin closed (Ctrl-D): the rest runs straight through
            elif args.auto:
                await asyncio.sleep(args.auto)
    finally:
        await runner.close()
    if failed:
        print(
            f"netbench: error: {failed} step(s) did not go as the scenario says "
            "(the kernel disagreed: see their checks)",
            file=sys.stderr,
        )
        return 1
    return 0


async def _enter_pressed(prompt: str) -> bool:
    """Wait for a line on the terminal; False at end of input.

    Read on the loop, not with `input()` in a thread: Ctrl-C cancels this
    wait at once, where a thread blocked in `input()` held the exit until
    Enter (asyncio.run waits for its executor's threads).
    """
    import os

    print(prompt, end="", flush=True)
    loop = asyncio.get_running_loop()
    line: asyncio.Future[bytes] = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if (not data or b"\n" in data) and not line.done():
            line.set_result(data)

    loop.add_reader(fd, readable)
    try:
        return bool(await line)
    finally:
        loop.remove_reader(fd)


def _print_step(result: Any) -> None:
    """One step, readable. A lesson file is someone else's text: every line goes
    out with control bytes and bidi overrides made visible (an OSC 52 in a title
    wrote the clipboard)."""
    lines = [f"\n== step {result.index + 1}/{result.total}  {result.title}  "
             f"({result.elapsed * 1000:.1f} ms)"]  # fmt: skip
    if result.error:
        lines.append(f"   raised: {result.error}")
    for p in result.packets:
        seq = "" if p.seq is None else f" seq={p.seq}"
        ack = "" if p.ack is None else f" ack={p.ack}"
        win = "" if p.window is None else f" win={p.window}"
        note = f"  ({p.note})" if p.note else ""
        lines.append(
            f"   {p.src} -> {p.dst}  {p.flags}{seq}{ack} len={p.length}{win}  [{p.source}]{note}"
        )
    for s in result.sockets:
        queues = (
            f"accept-q={s.accept_queue}"
            if s.accept_queue is not None
            else f"recv-q={_n(s.recv_queue)} send-q={_n(s.send_queue)}"
        )
        lines.append(f"   {s.name:<10} {s.state:<12} {s.local:<21} {s.remote:<21} {queues}")
    lines.append(f"   {result.explanation}")
    for check in result.checks:
        mark = {True: "ok", False: "DIFFERENT", None: "skipped"}[check.ok]
        lines.append(
            f"   [{mark}] {check.what}: expected {check.expected}, {check.says} {check.actual}"
        )
    if result.takeaway:
        lines.append(f"\n   Takeaway: {result.takeaway}")
    for line in lines:
        print("\n".join(visible_text(part) for part in line.split("\n")))


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)


def _handout(scenario: Any, out: Path, *, capture: bool) -> int:
    from netbench.cli import fail
    from netbench.ui.handout import write_handout

    try:
        steps = write_handout(scenario, out, capture=capture)
    except OSError as error:
        return fail(f"cannot write {out}: {error.strerror or error}")
    print(f"wrote {out}: {steps} steps")
    return 0
