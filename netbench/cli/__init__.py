"""The `netbench` command: the one place that wires engine, store and output.

Exit codes: 0 ok, 1 a runtime failure explained in one line on stderr (port
in use, unreadable session...), 2 bad usage (argparse). A user mistake never
prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from netbench import __version__


def fail(message: str) -> int:
    """Print one clean error line and return exit code 1."""
    from netbench.protocol.textsafe import visible_text

    print(f"netbench: error: {visible_text(message)}", file=sys.stderr)
    return 1


_PARSER = "_netbench_parser"
"""The namespace attribute holding the (sub)command's parser, for `usage_error`."""


def usage_error(args: argparse.Namespace, message: str) -> int:
    """A usage error found after parsing (a bad --to, an https URL): told as argparse
    tells its own, the command's usage line then `PROG: error: ...`; exit code 2."""
    from netbench.protocol.textsafe import visible_text

    parser = getattr(args, _PARSER, None)
    if not isinstance(parser, Parser):
        print(f"netbench: error: {visible_text(message)}", file=sys.stderr)
        return 2
    sys.stderr.write(parser.usage_and_error(visible_text(message)))
    return 2


class Parser(argparse.ArgumentParser):
    """argparse with a one-line usage before a usage error (exit 2 as ever).

    The full usage of `serve` wraps to a dozen lines of options and buries
    the one line that says what was wrong; `-h` still prints all of it.
    Subparsers are made of this class too (argparse uses the parent's type).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, self.usage_and_error(message))

    def usage_and_error(self, message: str) -> str:
        return f"{self.short_usage()}{self.prog}: error: {message}\n"

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extra = super().parse_known_args(args, namespace)
        # The innermost parser (the chosen subcommand's) returns first and is
        # kept, so that `usage_error` prints that command's usage line.
        if not hasattr(parsed, _PARSER):
            setattr(parsed, _PARSER, self)
        return parsed, extra

    def format_help(self) -> str:
        from netbench.cli.options import LATE_TITLE

        for group in self._action_groups:
            title = getattr(group, LATE_TITLE, None)
            if title is not None:
                group.title = title()
        return super().format_help()

    def short_usage(self) -> str:
        """`usage: netbench serve [-h] [options] KIND`: the positionals in full, options folded."""
        positionals = [action for action in self._actions if not action.option_strings]
        folded = " [-h]" if self.add_help else ""
        if any(action.option_strings and action.dest != "help" for action in self._actions):
            folded += " [options]"
        formatter = self._get_formatter()
        formatter.add_usage(None, positionals, [], prefix="")
        line = formatter.format_help().strip()  # "netbench serve KIND"
        return f"usage: {self.prog}{folded}{line[len(self.prog) :]}\n"


def has_terminal() -> bool:
    """A terminal to draw on, or a browser: `netbench web` runs the UI with Textual's
    web driver, over pipes."""
    import os

    if os.environ.get("TEXTUAL_DRIVER", "").endswith(":WebDriver"):
        return True
    return sys.stdout.isatty() and sys.stdin.isatty()


SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("netbench.cli.serve", "run a server headless and print one line per event"),
    "send": ("netbench.cli.send", "send bytes as a client and print the reply"),
    "session": ("netbench.cli.session", "list, show, export and replay recorded sessions"),
    "capture-agent": (
        "netbench.cli.capture_agent",
        "privileged helper: capture TCP handshakes on loopback for your netbench (sudo)",
    ),
    "workshop": (
        "netbench.cli.workshop",
        "guided TCP/HTTP lessons on real sockets, one socket call at a time",
    ),
    "completion": ("netbench.cli.completion", "print a shell completion script (bash, zsh, tcsh)"),
    "web": (
        "netbench.cli.web",
        "serve the terminal UI to a browser (textual-serve, behind a token)",
    ),
}
"""Each subcommand: the module whose `add_parser` defines it, and its line in
`netbench --help` (the same as the module's `help=`; a test compares them).

A module is imported when its command is chosen (or its help asked for):
`netbench` alone, the TUI, loads none of them, and no command loads another's
(`session` alone imports sqlite3; `serve` every server kind)."""


class LazyParser(Parser):
    """A subcommand's parser, filled in by its module's `add_parser` on first use.

    argparse hands a chosen subcommand its arguments through
    `parse_known_args`, and its `-h` or usage error comes from within.
    """

    module = ""
    """The module still to load; empty once loaded."""

    def load(self) -> LazyParser:
        if self.module:
            module, self.module = self.module, ""
            importlib.import_module(module).add_parser(_Into(self))
        return self

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        return super(LazyParser, self.load()).parse_known_args(args, namespace)

    def format_help(self) -> str:
        return super(LazyParser, self.load()).format_help()

    def format_usage(self) -> str:
        return super(LazyParser, self.load()).format_usage()


class _Into:
    """What a module's `add_parser(subparsers)` is given: the parser made for it."""

    def __init__(self, parser: LazyParser) -> None:
        self.parser = parser

    def add_parser(
        self, name: str, *, help: str, description: str | None = None, epilog: str | None = None
    ) -> LazyParser:
        self.parser.description, self.parser.epilog = description, epilog
        return self.parser


def build_parser(*, load_all: bool = False) -> argparse.ArgumentParser:
    """The `netbench` parser; `load_all` loads every subcommand's options (completion)."""
    from netbench.cli.options import add_default_options

    parser = Parser(
        prog="netbench",
        description=(
            "A network-debugging workstation: real servers and clients on raw sockets, "
            "every byte recorded to a SQLite session."
        ),
        epilog="Without a command, netbench serves the page server on 127.0.0.1:8000 "
        "(the next free port if taken).",
    )
    parser.add_argument("--version", action="version", version=f"netbench {__version__}")
    add_default_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=LazyParser)
    for name, (module, line) in SUBCOMMANDS.items():
        command = sub.add_parser(name, help=line)
        command.module = module
        if load_all:
            command.load()
    open_parser = sub.add_parser(
        "open",
        help="open a recorded session (or a HAR file) read-only in the terminal UI",
        description="Open a session file, or a HAR saved by a browser, read-only in the same screens.",
    )
    open_parser.add_argument(
        "path", type=Path, metavar="PATH", help="a session file or a .har file"
    )
    return parser


def run_tui(args: argparse.Namespace, *, open_path: Path | None) -> int:
    """The terminal UI; bare `netbench` also starts the page server on 8000."""
    from netbench.cli.options import check_numbers, limits_from

    problem = check_numbers(args)
    if problem:
        return usage_error(args, problem)
    if open_path is not None:
        from netbench.store import SessionReader, StoreError

        try:
            SessionReader(open_path).close()
        except StoreError as error:
            return fail(str(error))
    if not has_terminal():
        return fail("the terminal UI needs a terminal; for scripts use `netbench serve http`")
    from netbench.ui.app import AppConfig, NetbenchApp

    config = AppConfig(
        limits=limits_from(args),
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 8000),
        session=getattr(args, "session", None),
        open_path=open_path,
        capture=not getattr(args, "no_capture", False),
    )
    app = NetbenchApp(config)
    try:
        code = app.run()
    finally:
        app.close_session()  # whatever ended the app, the session ends cleanly
    if app.startup_error:
        return fail(app.startup_error)
    # A crash (Textual printed its traceback) is a failure, whatever `run` returned.
    return app.return_code or code or 0


def visible_crash(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    """`sys.excepthook`: a crash is a bug to report, traceback and all, but its
    message may quote a peer's or a file's bytes (urlsplit quotes a URL's host):
    printed with control bytes made visible, as everything netbench prints."""
    import traceback

    from netbench.protocol.textsafe import visible_text

    lines = "".join(traceback.format_exception(kind, error, tb)).split("\n")
    sys.stderr.write("\n".join(visible_text(line) for line in lines))
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    sys.excepthook = visible_crash
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse (3.11) fills an optional positional as soon as it passes it, so
    # `send tcp HOST:PORT --hex "48 69"` would leave DATA over: take it back.
    send_data_left_over = args.command == "send" and args.send_kind == "tcp" and args.data == ""
    if send_data_left_over and len(extra) == 1 and not extra[0].startswith("-"):
        args.data, extra = extra[0], []
    # The same for `serve wsgi --port 0 app:application`.
    serve_word_left_over = args.command == "serve" and args.argument is None
    if serve_word_left_over and len(extra) == 1 and not extra[0].startswith("-"):
        args.argument, extra = extra[0], []
    if extra:  # told by the command they were given to, as its other errors are
        return usage_error(args, f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "serve":
            from netbench.cli import serve

            return serve.run(args)
        if args.command == "send":
            from netbench.cli import send

            return send.run(args)
        if args.command == "session":
            from netbench.cli import session

            return session.run(args)
        if args.command == "capture-agent":
            from netbench.cli import capture_agent

            return capture_agent.run(args)
        if args.command == "workshop":
            from netbench.cli import workshop

            return workshop.run(args)
        if args.command == "completion":
            from netbench.cli import completion

            return completion.run(args)
        if args.command == "web":
            from netbench.cli import web

            return web.run(args)
        if args.command == "open":
            from netbench.cli.open_har import run_open

            return run_open(args)
        return run_tui(args, open_path=None)
    except KeyboardInterrupt:
        return 130
