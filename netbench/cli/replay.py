"""`netbench session replay PATH EXCHANGE [--to HOST:PORT]`: send a recorded request again.

The request goes out byte for byte as recorded (its bytes are read from the
session's chunks, not composed again from the parsed fields), to the server
it first went to or to `--to`, through the same client as `netbench send
http`: the new exchange is recorded (a new session, or `--session`) and the
response printed the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from netbench.protocol.textsafe import visible_text


def add_parser(commands: Any) -> None:
    """Register `session replay` on the `session` subcommands."""
    replay = commands.add_parser(
        "replay",
        help="send a recorded request again, byte for byte, and record the new exchange",
        description="Send exchange EXCHANGE's request again exactly as recorded and print "
        "the response (as `netbench send http` does).",
    )
    replay.add_argument("path", type=Path, metavar="PATH", help="a session file")
    replay.add_argument(
        "exchange", type=int, metavar="EXCHANGE", help="the exchange's id (session show lists them)"
    )
    replay.add_argument(
        "--to",
        metavar="HOST:PORT",
        help="send it to this server instead of the one it first went to",
    )
    replay.add_argument(
        "--session", type=Path, metavar="PATH", help="record into this file (default: a new one)"
    )
    replay.add_argument("--no-record", action="store_true", help="do not record a session")
    replay.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the response body to FILE"
    )
    replay.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="give up on a silent server after this long (default 10)",
    )


def _address(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    """Read the request, send it, print the response; the exit code."""
    from netbench.cli import fail, usage_error
    from netbench.store import SessionReader, SessionWriter, StoreError, new_session_path
    from netbench.store.exchange_bytes import find_exchange, request_bytes, server_of

    target = _address(args.to) if args.to is not None else None
    if args.to is not None and target is None:
        return usage_error(args, f"--to must be HOST:PORT, got {visible_text(args.to)!r}")
    try:
        with SessionReader(args.path) as reader:
            exchange, conn = find_exchange(reader, args.exchange)
            if exchange.request is None:
                return fail(f"exchange {args.exchange} has no recorded request")
            data = request_bytes(reader, conn, exchange)
            original = server_of(conn)
    except StoreError as error:
        return fail(str(error))
    host, port = target if target is not None else _address(original) or ("", 0)
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    print(
        f"netbench: replaying exchange {args.exchange} ({len(data)} bytes) to {where}",
        file=sys.stderr,
    )
    writer = None
    if not args.no_record:
        writer = SessionWriter(args.session or new_session_path(), argv=["netbench", *sys.argv[1:]])
        try:
            writer.open()
        except StoreError as error:
            return fail(str(error))
    try:
        return asyncio.run(_send(host, port, data, args, writer))
    finally:
        if writer is not None:
            writer.close()
            print(f"recorded to {writer.path}", file=sys.stderr)


async def _send(host: str, port: int, data: bytes, args: argparse.Namespace, writer: Any) -> int:
    from netbench.cli import fail
    from netbench.cli.send import _print_http
    from netbench.engine.clients import ConnectError, http_exchange
    from netbench.engine.context import EngineContext

    ctx = EngineContext(first_ids=writer.next_ids() if writer else (1, 1, 1))
    if writer is not None:
        ctx.bus.subscribe(writer)
        writer.pause_with(asyncio.get_running_loop(), ctx.pause_reading)
    head_only = data.split(b" ", 1)[0].upper() == b"HEAD"
    try:
        result = await http_exchange(
            ctx, host, port, data, head_only=head_only, timeout=args.timeout
        )
    except ConnectError as error:
        return fail(str(error))
    if writer is not None:
        print(f"netbench: the new exchange is {result.exchange_id}", file=sys.stderr)
    return _print_http(result, args.output, quiet=False)
