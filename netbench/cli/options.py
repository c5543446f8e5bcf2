"""The options of bare `netbench` (the TUI) and the HTTP limits `serve` shares.

Kept apart from `serve` so that `netbench` alone loads no server kind: the
limits group's title names the HTTP kinds, and is worked out only when the
help is shown (`LATE_TITLE`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_default_options(parser: argparse.ArgumentParser) -> None:
    """Options of bare `netbench` (the page server on 8000, next free port if taken)."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port (default 8000, next free if taken)"
    )
    parser.add_argument("--session", type=Path, metavar="PATH", help="session file to record to")
    parser.add_argument(
        "--no-capture", action="store_true", help="do not capture packets (the TCP view infers)"
    )
    add_limit_options(parser)


_NUMERIC_LIMITS: tuple[tuple[str, type, str, int, str], ...] = (
    # (HttpLimits field, type, metavar, smallest value, help)
    ("max_request_line", int, "BYTES", 1, "request target; longer gets 414"),
    ("max_header_bytes", int, "BYTES", 1, "all header fields; more gets 431"),
    ("max_header_fields", int, "N", 1, "header fields; more get 431"),
    ("max_body", int, "BYTES", 1, "request body; larger gets 413"),
    ("header_timeout", float, "SECONDS", 0, "to send a request head; slower gets 408 (0: none)"),
    ("max_connections", int, "N", 0, "open at once; one more gets 503 and is closed (0: none)"),
)
"""The numeric limits: their options, their checks and `limits_from` all read this."""


LATE_TITLE = "late_title"
"""An argument group's attribute: a function giving its title, called when
the help is shown (`Parser.format_help`), not when the parser is built."""


def _limits_title() -> str:
    from netbench.engine import registry

    http = ", ".join(kind.name for kind in registry.kinds() if kind.http)
    return f"limits ({http}; --max-connections: every TCP kind)"


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """What a client may send; the refusal pages name these options (docs/security.md).

    Defaults are suppressed (readers use `getattr` with the default), so the
    `serve` subparser never overwrites a value given before the subcommand.
    """
    from netbench.protocol.limits import OPTION, HttpLimits

    defaults = HttpLimits()
    group = parser.add_argument_group("limits")
    setattr(group, LATE_TITLE, _limits_title)
    for name, kind, metavar, _least, what in _NUMERIC_LIMITS:
        group.add_argument(
            OPTION[name],
            type=kind,
            metavar=metavar,
            default=argparse.SUPPRESS,
            help=f"{what} (default {getattr(defaults, name)})",
        )
    group.add_argument(
        OPTION["allowed_hosts"],
        dest="allow_host",
        action="append",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="also answer requests for this Host (repeatable; default: loopback names "
        "and the bound address, against DNS rebinding)",
    )
    group.add_argument(
        OPTION["any_host"],
        action="store_true",
        default=argparse.SUPPRESS,
        help="answer whatever Host a request names",
    )


def limits_from(args: argparse.Namespace) -> Any:
    """The HttpLimits the options ask for (defaults for those not given)."""
    from dataclasses import replace

    from netbench.protocol.limits import HttpLimits

    given = {row[0]: getattr(args, row[0]) for row in _NUMERIC_LIMITS if hasattr(args, row[0])}
    hosts = tuple(name.strip().lower().rstrip(".") for name in getattr(args, "allow_host", []))
    return replace(
        HttpLimits(), **given, allowed_hosts=hosts, any_host=getattr(args, "any_host", False)
    )


def given_limits(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(HttpLimits field, option) of each limit given on the command line."""
    from netbench.protocol.limits import OPTION

    dests = {name: name for name in OPTION} | {"allowed_hosts": "allow_host"}
    return [(name, OPTION[name]) for name, dest in dests.items() if hasattr(args, dest)]


def check_numbers(args: argparse.Namespace) -> str | None:
    if args.port is not None and not 0 <= args.port <= 65535:
        return f"--port must be 0-65535, got {args.port}"
    if getattr(args, "backlog", None) is not None and args.backlog < 0:
        return "--backlog must be >= 0"
    if getattr(args, "recv_size", None) is not None and not 1 <= args.recv_size <= 16 << 20:
        return "--recv-size must be between 1 and 16777216"
    if getattr(args, "idle_timeout", None) is not None and args.idle_timeout < 0:
        return "--idle-timeout must be >= 0"
    for name, _kind, _metavar, least, _what in _NUMERIC_LIMITS:
        value = getattr(args, name, None)
        if value is not None and value < least:
            return f"--{name.replace('_', '-')} must be >= {least}" + (
                " (0: no limit)" * (least == 0)
            )
    return None
