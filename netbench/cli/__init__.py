"""The `netbench` command: the one place that wires engine, store and output.

Exit codes: 0 ok, 1 a runtime failure explained in one line on stderr (port
in use, unreadable session...), 2 bad usage (argparse). A user mistake never
prints a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from netbench import __version__


def fail(message: str) -> int:
    """Print one clean error line and return exit code 1."""
    from netbench.protocol.textsafe import visible_text

    print(f"netbench: error: {visible_text(message)}", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    from netbench.cli import send, serve, session

    parser = argparse.ArgumentParser(
        prog="netbench",
        description=(
            "A network-debugging workstation: real servers and clients on raw sockets, "
            "every byte recorded to a SQLite session."
        ),
        epilog="Without a command, netbench serves the page server on 127.0.0.1:8000 "
        "(the next free port if taken).",
    )
    parser.add_argument("--version", action="version", version=f"netbench {__version__}")
    serve.add_default_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.add_parser(sub)
    send.add_parser(sub)
    session.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse (3.11) fills an optional positional as soon as it passes it, so
    # `send tcp HOST:PORT --hex "48 69"` would leave DATA over: take it back.
    send_data_left_over = args.command == "send" and args.send_kind == "tcp" and args.data == ""
    if send_data_left_over and len(extra) == 1 and not extra[0].startswith("-"):
        args.data, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
        from netbench.cli import serve

        return serve.run_default(args)
    except KeyboardInterrupt:
        return 130
