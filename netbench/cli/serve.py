"""`netbench serve KIND`: run one server headless, print its events, record them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from netbench.cli.printer import EventPrinter
from netbench.engine import registry
from netbench.engine.config import is_loopback_host
from netbench.engine.loop import LOOPS
from netbench.model import Transport


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


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run a server headless and print one line per event",
        description="Run one server and print one line per connection and HTTP exchange. "
        "The first line names the address it listens on.",
    )
    kinds = registry.names()
    usages = [registry.get(kind).usage for kind in kinds]
    parser.add_argument("kind", choices=kinds, metavar="KIND", help=", ".join(usages))
    # The word after KIND (wsgi's MODULE:APP). Hidden from the usage line, which
    # stays `serve [options] KIND`; the KIND help above says which kinds take it.
    parser.add_argument("argument", nargs="?", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, help="port; 0 picks a free one (default: the seed's port, http 8000)"
    )
    parser.add_argument(
        "--session", type=Path, metavar="PATH", help="session file (default: a new one)"
    )
    parser.add_argument("--no-record", action="store_true", help="do not record a session")
    capture = parser.add_mutually_exclusive_group()
    capture.add_argument(
        "--capture",
        dest="capture",
        action="store_true",
        default=None,
        help="capture the server's TCP packets; fail if that is not possible "
        "(default: capture when possible, else say why in one line)",
    )
    capture.add_argument(
        "--no-capture", dest="capture", action="store_false", help="do not capture packets"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines with stable keys")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print every chunk")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the listening line")
    parser.add_argument("--backlog", type=int, help="listen() backlog")
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        help="event loop (default: uvloop when installed, else asyncio)",
    )
    parser.add_argument("--recv-size", type=int, metavar="BYTES", help="bufsize of each recv()")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help="close after this much silence (0: never)",
    )
    add_kind_options(parser)
    add_limit_options(parser)


def add_kind_options(parser: argparse.ArgumentParser) -> None:
    """Each kind's own options, from the registry, once each, saying which kinds take them."""
    for option, kinds in registry.all_options():
        if option.shape == "positional":
            continue
        what = f"{', '.join(kinds)}: {option.help}"
        if option.shape == "switch":
            pair = parser.add_mutually_exclusive_group()
            pair.add_argument(
                option.flag, dest=option.name, action="store_true", default=None, help=what
            )
            pair.add_argument(
                option.off_flag,
                dest=option.name,
                action="store_false",
                help=f"the opposite of {option.flag}",
            )
        elif option.shape == "flag":
            parser.add_argument(
                option.flag, dest=option.name, action="store_true", default=None, help=what
            )
        else:
            parser.add_argument(
                option.flag,
                dest=option.name,
                type=_parser_of(option),
                metavar=option.metavar,
                default=None,
                help=what,
            )


def _parser_of(option: registry.KindOption) -> Any:
    """argparse's `type`: the option's parse, its ValueError a usage error naming the flag."""

    def parse(text: str) -> object:
        try:
            return option.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = option.name
    return parse


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


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """What a client may send; the refusal pages name these options (docs/security.md).

    Defaults are suppressed (readers use `getattr` with the default), so the
    `serve` subparser never overwrites a value given before the subcommand.
    """
    from netbench.protocol.limits import OPTION, HttpLimits

    defaults = HttpLimits()
    http = ", ".join(kind.name for kind in registry.kinds() if kind.http)
    group = parser.add_argument_group(f"limits ({http}; --max-connections: every TCP kind)")
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


def run(args: argparse.Namespace) -> int:
    from netbench.cli import fail
    from netbench.engine.config import default_config

    problem = check_numbers(args)
    if problem:
        print(f"netbench serve: error: {problem}", file=sys.stderr)
        return 2
    kind = registry.get(args.kind)
    own, problem, usage = kind_values(kind, args)
    if problem:
        if usage:
            print(f"netbench serve: error: {problem}", file=sys.stderr)
            return 2
        return fail(problem)
    port = args.port if args.port is not None else kind.port
    config = default_config(
        args.kind,
        host=args.host,
        port=port,
        backlog=args.backlog,
        recv_size=args.recv_size,
        idle_timeout=args.idle_timeout,
        limits=limits_from(args),
        **own,
    )
    return _serve(config, args, next_free=False)


def kind_values(
    kind: registry.ServerKind, args: argparse.Namespace
) -> tuple[dict[str, object], str | None, bool]:
    """The kind's options as given, or (_, the problem, whether it is a usage error)."""
    own: dict[str, object] = {}
    positional = kind.positional
    word = getattr(args, "argument", None)
    if positional is None:
        if word is not None:
            return own, f"{kind.name} takes no argument after KIND (got {word!r})", True
    else:
        choice = registry.parse_text(positional, word or "")
        if choice.error is not None:
            # Missing or malformed: how it was typed is wrong (exit 2); a value
            # that parses but fails its check (cannot import) is a runtime failure.
            malformed = word is None or choice.value is None
            return own, choice.error, malformed
        own[positional.name] = choice.value
    for option in kind.options:
        value = getattr(args, option.name, None)
        if value is None or option.shape == "positional":
            continue
        problem = option.check(value) if option.check is not None else None
        if problem:
            return own, f"{option.flag} {problem}", False
        own[option.name] = value
    return own, None, False


def _capture_plan(args: argparse.Namespace, config: Any) -> tuple[bool, Any, str | None]:
    """(capture or not, the backend when already chosen, an error for `--capture`)."""
    wanted = getattr(args, "capture", None)
    if wanted is False:
        return False, None, None
    if registry.transport_of(config.kind) is not Transport.TCP:
        # Capture shows TCP; a UDP server has no handshake to show.
        problem = f"--capture shows TCP packets; {config.kind} is UDP"
        return False, None, problem if wanted else None
    if wanted is None:
        return True, None, None  # decided off the loop once the server listens
    from netbench.capture import CaptureProblem, choose_backend

    backend = choose_backend()
    if isinstance(backend, CaptureProblem):
        return False, None, f"cannot capture: {backend}"
    return True, backend, None


def _serve(config: Any, args: argparse.Namespace, *, next_free: bool) -> int:
    from netbench.cli import fail
    from netbench.engine import loop
    from netbench.store import SessionWriter, StoreError, new_session_path

    capture, backend, problem = _capture_plan(args, config)
    if problem:
        return fail(problem)
    try:
        new_loop = loop.factory(getattr(args, "loop", None))[1]
    except loop.LoopUnavailable as error:
        return fail(str(error))

    session_path = None if args.no_record else (args.session or new_session_path())
    printer = EventPrinter(
        json_lines=args.json,
        verbose=args.verbose,
        session=str(session_path) if session_path else None,
    )
    writer = None
    if session_path is not None:
        writer = SessionWriter(
            session_path,
            argv=["netbench", *sys.argv[1:]],
            on_error=lambda message: printer.message(
                "recording-stopped", f"recording stopped: {message}; still serving", detail=message
            ),
        )
        try:
            writer.open()
        except StoreError as error:
            return fail(str(error))
    try:
        return loop.run(
            _main(config, args, writer, printer, next_free=next_free, capture=(capture, backend)),
            new_loop,
        )
    finally:
        if writer is not None:
            writer.close()


async def _main(
    config: Any,
    args: argparse.Namespace,
    writer: Any,
    printer: EventPrinter,
    *,
    next_free: bool,
    capture: tuple[bool, Any] = (False, None),
) -> int:
    from dataclasses import replace

    from netbench.cli import fail
    from netbench.engine.context import EngineContext
    from netbench.engine.engine import Engine, EngineError

    ctx = EngineContext(first_ids=writer.next_ids() if writer else (1, 1, 1))
    if writer is not None:
        ctx.bus.subscribe(writer)
        writer.pause_with(asyncio.get_running_loop(), ctx.pause_reading)
    if args.quiet:
        from netbench.events import ServerStarted

        ctx.bus.subscribe(printer, kinds=(ServerStarted,))
    else:
        ctx.bus.subscribe(printer)
    engine = Engine(ctx)
    # Before listening: a script may send SIGINT as soon as it reads the first line.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    attempts = 20 if next_free and config.port != 0 else 1
    server = None
    for attempt in range(attempts):
        try:
            server = await engine.start_server(
                replace(config, port=config.port + attempt if config.port else 0)
            )
            break
        except EngineError as error:
            if attempt == attempts - 1 or not error.port_in_use:
                return fail(str(error))
    if not is_loopback_host(config.host):
        printer.message(
            "warning",
            f"warning: listening on {config.host}, beyond loopback: other machines can connect",
            detail="beyond-loopback",
        )
    if config.value("allow_remote"):
        printer.message(
            "warning",
            "warning: --allow-remote: this proxy forwards to any host, for anyone who can reach it",
            detail="allow-remote",
        )
    handle = None
    if capture[0] and server is not None:
        from netbench.capture import start_capture

        # Only this server's port: other loopback traffic is none of its business.
        handle = start_capture(ctx, ports=(server.address.port,), backend=capture[1])
    await stop.wait()
    await engine.stop_all()
    if handle is not None:
        # The last FINs of the connections just closed are still on their way.
        await asyncio.sleep(0.1)
        handle.stop()
    return 0
