"""`netbench send tcp|http`: the clients, from the shell, recorded like the rest."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netbench.protocol.textsafe import visible

if TYPE_CHECKING:
    from netbench.engine.context import EngineContext
    from netbench.events import Event


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "send",
        help="send bytes as a client and print the reply",
        description="Connect, send, print what comes back (control bytes shown as symbols).",
    )
    kinds = parser.add_subparsers(dest="send_kind", metavar="{tcp,http}", required=True)
    tcp = kinds.add_parser("tcp", help="raw TCP: send DATA, print each reply chunk")
    tcp.add_argument("address", metavar="HOST:PORT")
    tcp.add_argument(
        "data", nargs="?", default="", metavar="DATA", help="text to send ('-' reads stdin)"
    )
    tcp.add_argument("--hex", action="store_true", help="DATA is hex (e.g. '47 45 54 0d 0a')")
    tcp.add_argument(
        "--eol",
        choices=("none", "lf", "crlf"),
        default="none",
        help="append a line end to DATA (default none, like the seeds)",
    )
    tcp.add_argument(
        "--half-close", action="store_true", help="shutdown(SHUT_WR) after sending: a FIN"
    )
    tcp.add_argument(
        "--wait",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="stop reading after this much silence (default 2)",
    )
    tcp.add_argument(
        "--recv-size",
        type=int,
        default=65536,
        metavar="BYTES",
        help="bufsize of each recv() (default 65536)",
    )
    http = kinds.add_parser("http", help="HTTP: send a request, print the raw response")
    http.add_argument("url", metavar="URL")
    http.add_argument(
        "-X",
        "--request",
        dest="method",
        default=None,
        metavar="METHOD",
        help="request method (default GET, POST with -d)",
    )
    http.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add a header (repeatable)",
    )
    # As curl: every -d, --data-binary and --data-raw adds a part, the parts
    # joined with `&` in the order given (`-d name=Ann -d lang=x`).
    http.add_argument(
        "-d",
        "--data",
        dest="data",
        action=_DataPart,
        const="data",
        metavar="DATA",
        help="body part, repeatable, joined with & (sets POST and a form content type); "
        "@FILE reads FILE without its CR and LF, @- stdin (as curl)",
    )
    http.add_argument(
        "--data-binary",
        dest="data",
        action=_DataPart,
        const="binary",
        metavar="DATA",
        help="as -d, but @FILE is sent byte for byte",
    )
    http.add_argument(
        "--data-raw",
        dest="data",
        action=_DataPart,
        const="raw",
        metavar="DATA",
        help="as -d, but a leading @ is sent as it is",
    )
    http.add_argument(
        "--raw",
        type=Path,
        metavar="FILE",
        help="send FILE's bytes exactly as the request ('-': stdin)",
    )
    http.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the response body to FILE"
    )
    http.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="give up on the response after this long (default 10)",
    )
    for sub in (tcp, http):
        sub.add_argument(
            "--session", type=Path, metavar="PATH", help="session file (default: a new one)"
        )
        sub.add_argument("--no-record", action="store_true", help="do not record a session")
        sub.add_argument(
            "--json",
            action="store_true",
            help="print JSON lines as `serve --json -v` does: open, chunk, exchange, close",
        )


class _DataPart(argparse.Action):
    """`-d`, `--data-binary`, `--data-raw`: one list of (how, text) parts, in order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        parts = list(getattr(namespace, self.dest, None) or [])
        parts.append((self.const, values))
        setattr(namespace, self.dest, parts)


def _seconds(text: str) -> float:
    """A wait that can end: `--timeout -1` (or nan, inf) was taken and never timed out."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1e6:  # also false for NaN
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from netbench.cli import fail, usage_error
    from netbench.store import SessionWriter, StoreError, new_session_path

    try:
        prepared = _prepare_tcp(args) if args.send_kind == "tcp" else _prepare_http(args)
    except ValueError as error:
        return usage_error(args, str(error))
    except OSError as error:  # -d @FILE that cannot be read: the file's fault, not usage
        return fail(f"cannot read {error.filename}: {error.strerror or error}")
    writer = None
    if not args.no_record:
        writer = SessionWriter(args.session or new_session_path(), argv=["netbench", *sys.argv[1:]])
        try:
            writer.open()
        except StoreError as error:
            return fail(str(error))
    try:
        return asyncio.run(_run(args, prepared, writer))
    finally:
        if writer is not None:
            writer.close()
            print(f"recorded to {writer.path}", file=sys.stderr)


def _prepare_tcp(args: argparse.Namespace) -> tuple[str, int, bytes]:
    host, sep, port_text = args.address.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise ValueError(f"address must be HOST:PORT, got {args.address!r}")
    host = host.strip("[]")
    text = sys.stdin.read() if args.data == "-" else args.data
    if args.hex:
        try:
            data = bytes.fromhex(text.replace(":", " "))
        except ValueError:
            raise ValueError(f"--hex data is not hex: {text!r}") from None
    else:
        data = text.encode("utf-8", "surrogateescape")
    data += {"none": b"", "lf": b"\n", "crlf": b"\r\n"}[args.eol]
    return host, int(port_text), data


def _prepare_http(args: argparse.Namespace) -> tuple[str, int, bytes]:
    from netbench.protocol.http_compose import UrlError, compose_request, parse_header, parse_url

    try:
        target = parse_url(args.url)
    except UrlError as error:
        raise ValueError(str(error)) from None
    if args.raw is not None:
        data = sys.stdin.buffer.read() if str(args.raw) == "-" else args.raw.read_bytes()
        return target.host, target.port, data
    headers = tuple(parse_header(h) for h in args.headers)
    body = _body(args.data) if args.data is not None else b""
    if args.data is not None and not any(name.lower() == b"content-type" for name, _ in headers):
        headers += ((b"Content-Type", b"application/x-www-form-urlencoded"),)
    method = args.method or ("POST" if args.data is not None else "GET")
    return target.host, target.port, compose_request(method.upper(), target, headers, body)


def _body(parts: list[tuple[str, str]]) -> bytes:
    """The body the data options make, as curl makes it (OSError: a file unread)."""
    pieces = []
    for how, text in parts:
        if how == "raw" or not text.startswith("@"):
            pieces.append(text.encode("utf-8", "surrogateescape"))
            continue
        name = text[1:]
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        # curl's -d @FILE drops every CR and LF (a file of one field per line
        # becomes one run); --data-binary keeps them.
        pieces.append(data if how == "binary" else data.replace(b"\r", b"").replace(b"\n", b""))
    return b"&".join(pieces)


async def _run(args: argparse.Namespace, prepared: tuple[str, int, bytes], writer: Any) -> int:
    from netbench.engine.context import EngineContext

    host, port, data = prepared
    ctx = EngineContext(first_ids=writer.next_ids() if writer else (1, 1, 1))
    if writer is not None:
        ctx.bus.subscribe(writer)
        writer.pause_with(asyncio.get_running_loop(), ctx.pause_reading)
    printer = _CloseLast() if args.json else None
    if printer is not None:
        ctx.bus.subscribe(printer)
    try:
        return await _exchange(args, ctx, host, port, data)
    finally:
        if printer is not None:
            printer.flush()


async def _exchange(
    args: argparse.Namespace, ctx: EngineContext, host: str, port: int, data: bytes
) -> int:
    from netbench.cli import fail
    from netbench.engine.clients import ConnectError, http_exchange, open_tcp

    try:
        if args.send_kind == "http":
            head_only = data.split(b" ", 1)[0].upper() == b"HEAD"
            result = await http_exchange(
                ctx, host, port, data, head_only=head_only, timeout=args.timeout
            )
            return _print_http(result, args.output, quiet=args.json)
        client = await open_tcp(ctx, host, port, recv_size=args.recv_size)
    except ConnectError as error:
        return fail(str(error))
    if data:
        client.send(data)
    if args.half_close:
        client.half_close()
    got_any = False
    try:
        while True:
            chunk = await client.recv(args.wait)
            if not chunk:
                break
            got_any = True
            if not args.json:
                sys.stdout.write(visible(chunk, keep_newlines=True))
                sys.stdout.flush()
    except TimeoutError:
        pass
    if got_any and not args.json:
        sys.stdout.write("\n")
    await client.close()
    return 0


def _print_http(result: Any, output: Path | None, *, quiet: bool) -> int:
    """Print the response (unless `quiet`: --json printed it); the exit code."""
    from netbench.cli import fail

    response = result.response
    if response is None:
        why = result.no_response or "no response"
        return fail(f"{why} (--timeout)" if result.timed_out else why)
    if output is not None:
        output.write_bytes(response.body)
    if not quiet:
        _write_response(result, output)
    if response.error and response.error.startswith("cut short"):
        # What arrived is printed above; a script must not take it for the whole.
        return fail(f"response {visible(response.error.encode())}")
    if response.error:
        print(f"netbench: warning: {visible(response.error.encode())}", file=sys.stderr)
    return 0


def _write_response(result: Any, output: Path | None) -> None:
    from netbench.protocol.bodies import decode_body
    from netbench.protocol.responses import split_head

    response = result.response
    head, separator, body_bytes = split_head(result.received)
    sys.stdout.write(visible(head + separator, keep_newlines=True))
    decoded = decode_body(response.header(b"content-type"), response.body)
    if output is not None:
        sys.stdout.write(f"[body: {response.body_len} bytes written to {output}]\n")
    elif decoded.kind in ("binary", "image"):
        what = (
            decoded.image.describe()
            if decoded.image
            else f"{response.body_len} bytes of binary data"
        )
        sys.stdout.write(f"[body: {what}; use -o FILE to save it]\n")
    elif body_bytes:
        sys.stdout.write(visible(body_bytes, keep_newlines=True) + "\n")


class _CloseLast:
    """`--json`: serve's printer (every chunk too), a connection's close after its exchange.

    The client learns that a response was cut short by a reset after the
    stream has published the close, so the exchange comes later; serve's
    order (exchange, then close) is kept by holding each close until the
    exchange is out, or until the end.
    """

    def __init__(self) -> None:
        from netbench.cli.printer import EventPrinter

        self._printer = EventPrinter(json_lines=True, verbose=True)
        self._held: list[Event] = []

    def __call__(self, event: Event) -> None:
        from netbench.events import ConnectionClosed, HttpResponseRecorded

        if isinstance(event, ConnectionClosed):
            self._held.append(event)
            return
        self._printer(event)
        if isinstance(event, HttpResponseRecorded):
            self.flush()

    def flush(self) -> None:
        held, self._held = self._held, []
        for event in held:
            self._printer(event)
