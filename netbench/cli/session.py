"""`netbench session list|show|export`: look at recorded sessions from the shell.

Everything printed that came from the network (bytes, HTTP fields, details,
even file names) goes through `netbench.protocol.textsafe` first, so a
recorded escape sequence is shown, never executed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from netbench.cli import copy_as, replay
from netbench.cli.session_show import (
    UNCLEAN,
    error_line,
    local_time,
    plural,
    show,
    show_connection,
    shown_path,
    size_text,
    table_lines,
)
from netbench.protocol.textsafe import visible_text
from netbench.store import (
    SessionReader,
    StoreError,
    default_session_dir,
    list_sessions,
)


def add_parser(subparsers: Any) -> None:
    """Register `session` on the main parser's subparsers."""
    parser = subparsers.add_parser(
        "session",
        help="list, show, export and replay recorded sessions",
        description="Recorded sessions: list them, show one, export its packets or requests.",
    )
    commands = parser.add_subparsers(
        dest="session_command", metavar="{list,show,export,replay}", required=True
    )
    list_parser = commands.add_parser("list", help="one line per session in a directory")
    list_parser.add_argument(
        "dir", nargs="?", type=Path, metavar="DIR", help="default: netbench's session directory"
    )
    show = commands.add_parser("show", help="servers and connections, or one connection's bytes")
    show.add_argument("path", type=Path, metavar="PATH", help="a session file")
    show.add_argument(
        "--conn", type=int, metavar="N", help="show connection N: every chunk, hex and text"
    )
    export = commands.add_parser(
        "export", help="HTTP exchanges as HAR, captured packets as pcap, requests as commands"
    )
    export.add_argument("path", type=Path, metavar="PATH", help="a session file")
    export.add_argument(
        "--har", type=Path, metavar="OUT", help="write the HTTP exchanges as HAR 1.2 (- for stdout)"
    )
    export.add_argument(
        "--pcap", type=Path, metavar="OUT", help="write the captured packets to OUT (- for stdout)"
    )
    copy_as.add_arguments(export)
    replay.add_parser(commands)


def run(args: argparse.Namespace) -> int:
    """Run `session list`, `show` or `export`; the exit code (0 ok, 1 failure)."""
    try:
        if args.session_command == "list":
            return _list(args.dir)
        if args.session_command == "export":
            return _export(args)
        if args.session_command == "replay":
            return replay.run(args)
        if args.conn is not None:
            return show_connection(args.path, args.conn)
        return show(args.path)
    except StoreError as exc:
        return error_line(str(exc))
    except BrokenPipeError:
        # The reader (`| head`) went away; stop quietly, as other tools do.
        _silence_stdout()
        return 1


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# -- list ----------------------------------------------------------------------


def _list(directory: Path | None) -> int:
    if directory is not None and not directory.is_dir():
        return error_line(f"not a directory: {directory}")
    where = default_session_dir() if directory is None else directory
    summaries = list_sessions(where)
    if not summaries:
        print(f"netbench: no sessions in {shown_path(where)}", file=sys.stderr)
        return 0
    rows = [
        [
            shown_path(summary.path),
            local_time(summary.created),
            size_text(summary.size),
            *(
                [
                    plural(summary.connections, "connection"),
                    plural(summary.exchanges, "exchange"),
                    "recording"
                    if summary.recording
                    else UNCLEAN
                    if summary.ended_uncleanly
                    else "",
                ]
                if summary.damaged is None
                else ["damaged:", visible_text(summary.damaged)]
            ),
        ]
        for summary in summaries
    ]
    for line in table_lines(rows):
        print(line)
    return 0


# -- export --------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    if args.pcap is None and args.har is None and not copy_as.wanted(args):
        from netbench.cli import usage_error

        return usage_error(args, "give --har OUT, --pcap OUT, --curl, --httpie, --python or --nc")
    with SessionReader(args.path) as reader:
        if args.har is not None and (code := _export_har(reader, args.path, args.har)):
            return code
        if args.pcap is not None and (code := _export_pcap(reader, args.path, args.pcap)):
            return code
        if copy_as.wanted(args):
            return copy_as.run_export(reader, args.path, args)
    return 0


def _export_pcap(reader: SessionReader, path: Path, out: Path) -> int:
    from netbench.protocol.pcap import PcapRecord, pcap_stream
    from netbench.protocol.tcp_decode import original_length
    from netbench.store.packets import all_packets, capture_history, packet_count

    if packet_count(reader) == 0:
        failures = [row.detail for row in capture_history(reader) if not row.running]
        why = f" (capture: {failures[-1]})" if failures else " (capture was off)"
        return error_line(f"no packets were captured in {path}{why}; nothing written")
    first = next(all_packets(reader))
    skipped = 0

    def records() -> Iterator[PcapRecord]:
        nonlocal skipped
        for packet in all_packets(reader):
            if packet.linktype != first.linktype:
                skipped += 1  # classic pcap holds one link type per file
                continue
            yield PcapRecord(packet.t, packet.frame, original_length(packet.frame, packet.linktype))

    written = _write_atomically(out, pcap_stream(records(), first.linktype))
    if written is not None:
        return error_line(f"cannot write {out}: {written}")
    count = packet_count(reader) - skipped
    note = f", {skipped} of another link type left out" if skipped else ""
    print(f"netbench: wrote {plural(count, 'packet')} to {shown_path(out)}{note}", file=sys.stderr)
    return 0


def _export_har(reader: SessionReader, path: Path, out: Path) -> int:
    from netbench.store.har import HarExport

    if reader.counts().exchanges == 0:
        return error_line(f"no HTTP exchanges were recorded in {path}; nothing written")
    export = HarExport(reader)
    written = _write_atomically(out, export)
    if written is not None:
        return error_line(f"cannot write {out}: {written}")
    entries = f"{export.entries} {'entry' if export.entries == 1 else 'entries'}"
    pages = plural(export.pages, "page")
    print(f"netbench: wrote {entries} ({pages}) to {shown_path(out)}", file=sys.stderr)
    return 0


def _write_atomically(out: Path, pieces: Iterable[bytes]) -> str | None:
    """Write to OUT through a temporary file (a failure leaves no half file); the error."""
    if str(out) == "-":
        for piece in pieces:
            sys.stdout.buffer.write(piece)
        sys.stdout.buffer.flush()
        return None
    partial = out.with_name(f".{out.name}.partial")
    try:
        with partial.open("wb") as file:
            for piece in pieces:
                file.write(piece)
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        return exc.strerror or str(exc)
    except BaseException:
        partial.unlink(missing_ok=True)  # the session could not be read to the end
        raise
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the `session` command alone: `python -m netbench.cli.session list`."""
    from netbench.cli import Parser

    parser = Parser(prog="netbench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["session", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
