"""`netbench serve KIND`: run one server headless, print its events, record them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from netbench.cli.options import add_limit_options, check_numbers, given_limits, limits_from
from netbench.cli.printer import EventPrinter
from netbench.engine import registry
from netbench.engine.config import is_loopback_host
from netbench.engine.loop import LOOPS
from netbench.model import Transport


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


def run(args: argparse.Namespace) -> int:
    from netbench.cli import fail, usage_error
    from netbench.engine.config import default_config

    problem = check_numbers(args) or not_for_kind(args.kind, args)
    if problem:
        return usage_error(args, problem)
    kind = registry.get(args.kind)
    own, problem, usage = kind_values(kind, args)
    if problem:
        return usage_error(args, problem) if usage else fail(problem)
    if own.get("allow_remote") and own.get("upstream"):
        # A reverse proxy reaches only its upstream: the flag would do nothing, and
        # who types it most likely wants other machines to connect (--host).
        return usage_error(
            args,
            "--allow-remote is for the forward proxy (without --upstream): a reverse "
            "proxy reaches only its upstream; --host 0.0.0.0 lets other machines connect",
        )
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
    return _serve(config, args)


def not_for_kind(kind: str, args: argparse.Namespace) -> str | None:
    """An option given that `kind` does not take ("--threads applies to wsgi only").

    Every option of every kind is on the one `serve` parser; one the kind
    never reads would otherwise be dropped without a word (`serve wsgi
    --upstream X` running a plain app server). Only options given count:
    their parser defaults are None, or absent for the limits.
    """
    for name, flag in _given(args):
        takers = registry.kinds_taking(name)
        if takers is None or kind in takers:
            continue
        if len(takers) > len(registry.names()) / 2:
            return f"{flag} does not apply to {kind}"
        listed = ", ".join(takers[:-1]) + " and " + takers[-1] if len(takers) > 1 else takers[0]
        return f"{flag} applies to {listed} only"
    return None


def _given(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(setting, the option as typed) of each kind, common or limit option given."""
    given = [
        (name, f"--{name.replace('_', '-')}")
        for name in registry.COMMON
        if getattr(args, name, None) is not None
    ]
    for option, _kinds in registry.all_options():
        value = getattr(args, option.name, None)
        if option.shape != "positional" and value is not None:
            off = option.shape == "switch" and value is False
            given.append((option.name, option.off_flag if off else option.flag))
    return given + given_limits(args)


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


def _serve(config: Any, args: argparse.Namespace) -> int:
    from netbench.cli import fail
    from netbench.engine import loop
    from netbench.runtime import Runtime
    from netbench.store import StoreError, new_session_path

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
    runtime = Runtime(
        session_path,
        argv=["netbench", *sys.argv[1:]],
        on_recording_error=lambda message: printer.message(
            "recording-stopped", f"recording stopped: {message}; still serving", detail=message
        ),
    )
    try:
        runtime.open()
    except StoreError as error:
        return fail(str(error))
    try:
        return loop.run(_main(config, args, runtime, printer, capture=(capture, backend)), new_loop)
    finally:
        runtime.close()


async def _main(
    config: Any,
    args: argparse.Namespace,
    runtime: Any,
    printer: EventPrinter,
    *,
    capture: tuple[bool, Any] = (False, None),
) -> int:
    from netbench.cli import fail
    from netbench.engine.engine import EngineError
    from netbench.events import ServerStarted

    runtime.start([(printer, (ServerStarted,) if args.quiet else None)])
    # Before listening: a script may send SIGINT as soon as it reads the first line.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        server = await runtime.start_server(config, next_free=False)
    except EngineError as error:
        await runtime.stop()
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
    if capture[0]:
        # Only this server's port: other loopback traffic is none of its business.
        runtime.capture_ports((server.address.port,), backend=capture[1])
    await stop.wait()
    await runtime.stop(last_packets=0.1)
    printer.flush()
    return 0
