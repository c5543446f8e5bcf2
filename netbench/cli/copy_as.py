"""`netbench session export --curl/--httpie/--python/--nc`: recorded requests as commands.

Each command is made from the request's bytes as recorded (the chunks, not
the parsed fields) by a pure module in `netbench.protocol`; a body longer
than `BODY_INLINE_LIMIT` is written to a file beside (`--bodies DIR`) and
the command reads it from there. What a format cannot send as recorded is
said on stderr (`# exchange 12: ...`), never mixed into the commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from netbench.protocol.copy_as import FORMATS, Format
from netbench.protocol.textsafe import visible_text
from netbench.store import SessionReader, StoreError
from netbench.store.exchange_bytes import export_wire, read_wire, rebuilt_wire

_FLAGS: dict[Format, str] = {
    "curl": "one curl command per recorded HTTP request (the bytes as recorded)",
    "httpie": "one HTTPie `http` command per request (same fields; HTTPie orders headers)",
    "python": "one Python program (http.client) per request",
    "nc": "one `printf ... | nc HOST PORT` line per request: the exact bytes, malformed too",
}


def add_arguments(export: Any) -> None:
    """The copy-as options of `session export`."""
    for kind, help_text in _FLAGS.items():
        export.add_argument(f"--{kind}", action="store_true", help=help_text)
    export.add_argument(
        "--exchange",
        type=int,
        metavar="N",
        help="only exchange N (the ids `session show` and the TUI print)",
    )
    export.add_argument(
        "--bodies",
        type=Path,
        metavar="DIR",
        help="where bodies over 4 KiB are written for the commands to read "
        "(default: ./SESSION-bodies)",
    )


def wanted(args: argparse.Namespace) -> list[Format]:
    """The formats asked for, in a fixed order."""
    return [kind for kind in FORMATS if getattr(args, kind, False)]


def run_export(reader: SessionReader, path: Path, args: argparse.Namespace) -> int:
    """Print the commands of every recorded request (or of `--exchange N`)."""
    kinds = wanted(args)
    bodies = args.bodies or Path.cwd() / f"{path.name.split('.')[0]}-bodies"
    written: list[Path] = []
    printed = 0
    for exchange in reader.exchanges(include_bodies=False):
        if args.exchange is not None and exchange.id != args.exchange:
            continue
        if exchange.request is None:
            continue
        try:
            wire, server = read_wire(reader, exchange.id)
        except StoreError as error:
            rebuilt = rebuilt_wire(reader, exchange.id)
            if rebuilt is None:
                print(f"# exchange {exchange.id}: {visible_text(str(error))}", file=sys.stderr)
                continue
            wire, server = rebuilt
            print(
                f"# exchange {exchange.id}: its bytes were not recorded: "
                "rebuilt from the parsed request (spelling and whitespace may differ)",
                file=sys.stderr,
            )
        body_file = (bodies / f"exchange-{exchange.id}.body").absolute()
        for kind in kinds:
            export, written_to = export_wire(kind, wire, server, body_file)
            for caveat in export.caveats:
                print(f"# exchange {exchange.id} ({kind}): {visible_text(caveat)}", file=sys.stderr)
            if written_to is not None and written_to not in written:
                written.append(written_to)
            if kind == "python":
                print(f"# exchange {exchange.id}")
            print(export.text.rstrip("\n"))
            if kind == "python":
                print()
        printed += 1
    if written:
        count = "1 body file" if len(written) == 1 else f"{len(written)} body files"
        print(f"netbench: wrote {count} to {visible_text(str(bodies))}", file=sys.stderr)
    if not printed:
        what = f"exchange {args.exchange}" if args.exchange is not None else "HTTP requests"
        raise StoreError(f"no {what} with a recorded request in {path}")
    return 0
