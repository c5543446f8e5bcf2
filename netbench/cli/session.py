"""`netbench session list|show|export`: look at recorded sessions from the shell.

Everything printed that came from the network (bytes, HTTP fields, details,
even file names) goes through `netbench.protocol.textsafe` first, so a
recorded escape sequence is shown, never executed.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from netbench.cli import copy_as, replay
from netbench.model import SocketEventKind, connected
from netbench.protocol.hexdump import hexdump_lines, looks_binary
from netbench.protocol.textsafe import visible, visible_latin1, visible_text
from netbench.store import (
    ChunkRow,
    ConnectionRow,
    ExchangeRow,
    SessionReader,
    SocketEventRow,
    StoreError,
    default_session_dir,
    list_sessions,
)

_ARROWS = {"in": "<-", "out": "->"}
_Keyed = tuple[float, int, int, ChunkRow | SocketEventRow]
_EARLY_EVENTS = frozenset({SocketEventKind.CONNECT, SocketEventKind.ACCEPT})


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
            return _show_connection(args.path, args.conn)
        return _show(args.path)
    except StoreError as exc:
        return _error(str(exc))
    except BrokenPipeError:
        # The reader (`| head`) went away; stop quietly, as other tools do.
        _silence_stdout()
        return 1


def _error(message: str) -> int:
    print(f"netbench: error: {visible_text(message)}", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# -- formatting helpers --------------------------------------------------------


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _local(when: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return time.strftime(fmt, time.localtime(when))


def _clock(when: float) -> str:
    return f"{_local(when, '%H:%M:%S')}.{int(when * 1000) % 1000:03d}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


UNCLEAN = "ended uncleanly"
"""What a server or connection left open by a killed recording shows (store/recordings.py)."""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "open"
    return _ms(seconds) if seconds < 1 else f"{seconds:.3f} s"


def _path(path: Path) -> str:
    # File names are chosen by whoever made the file: untrusted too.
    return visible_text(str(path))


def _table(rows: list[list[str]]) -> Iterator[str]:
    # Rows may differ in length (a damaged session's row says so in fewer
    # cells); a row's last cell is never padded, so it sets no width.
    columns = max(len(row) for row in rows)
    widths = [
        max((len(row[i]) for row in rows if i < len(row) - 1), default=0) for i in range(columns)
    ]
    for row in rows:
        yield _aligned(row, widths)


def _request_line(exchange: ExchangeRow) -> str:
    request, response = exchange.request, exchange.response
    if request is None:
        text = "(no request)"
    else:
        parts = [visible_latin1(request.method), visible_latin1(request.target)]
        if request.version:
            parts.append(f"HTTP/{visible_text(request.version)}")
        text = " ".join(part for part in parts if part) or "(unparsed request)"
        if request.error:
            text += f" [{visible_text(request.error)}]"
    if response is not None:
        status = "???" if response.status is None else str(response.status)
        text += f" -> {status} {visible_latin1(response.reason)}".rstrip()
        if response.error:
            text += f" [{visible_text(response.error)}]"
    return text


# -- list ----------------------------------------------------------------------


def _list(directory: Path | None) -> int:
    if directory is not None and not directory.is_dir():
        return _error(f"not a directory: {directory}")
    where = default_session_dir() if directory is None else directory
    summaries = list_sessions(where)
    if not summaries:
        print(f"netbench: no sessions in {_path(where)}", file=sys.stderr)
        return 0
    rows = [
        [
            _path(summary.path),
            _local(summary.created),
            _size(summary.size),
            *(
                [
                    _plural(summary.connections, "connection"),
                    _plural(summary.exchanges, "exchange"),
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
    for line in _table(rows):
        print(line)
    return 0


# -- show ----------------------------------------------------------------------


def _show(path: Path) -> int:
    with SessionReader(path) as reader:
        info = reader.info()
        print(f"session   {_path(path)}")
        print(
            f"created   {_local(info.created)}  (host {visible_text(info.hostname)},"
            f" netbench {visible_text(info.netbench_version)}, schema {info.schema_version})"
        )
        if info.argv:
            print(f"command   {visible_text(' '.join(info.argv))}")
        for recording in reader.recordings():
            if recording.ended_uncleanly:
                print(
                    f"recorded  {_local(recording.started)}, pid {recording.pid}: {UNCLEAN}"
                    " (killed, crashed or power lost); what it left open is marked"
                )
        servers = reader.servers()
        print()
        print("servers" if servers else "servers   none")
        for server in servers:
            stopped = "running" if server.stopped is None else f"stopped {_clock(server.stopped)}"
            if server.ended_uncleanly:
                stopped = UNCLEAN
            options = json.dumps(server.options, sort_keys=True) if server.options else ""
            error = f"  error: {server.error}" if server.error else ""
            line = (
                f"  #{server.id}  {server.kind}  {server.transport.value}  {server.address}"
                f"  started {_clock(server.started)}  {stopped}  {options}{error}"
            )
            print(visible_text(line.rstrip()))

        print()
        _show_connections(reader)
    return 0


CONNECTION_COLUMNS = (
    "ID",
    "ROLE",
    "PEER -> LOCAL",
    "OPENED",
    "DURATION",
    "IN",
    "OUT",
    "END",
    "HTTP",
)
VIA_COLUMN = 2
"""Where a proxy's upstream legs name the connection whose request caused each."""


def _show_connections(reader: SessionReader) -> None:
    """The connections table, aligned, without holding it (a session may hold millions
    of connections): one pass measures the columns, a second prints the rows."""
    header = [*CONNECTION_COLUMNS[:VIA_COLUMN], "VIA", *CONNECTION_COLUMNS[VIA_COLUMN:]]
    widths = [len(title) for title in header[:-1]]  # the last column is never padded
    count = 0
    linked = False
    for conn in reader.each_connection():
        count += 1
        linked = linked or conn.via_conn_id is not None
        for i, cell in enumerate(_connection_cells(conn, "")[:-1]):
            widths[i] = max(widths[i], len(cell))
    if not count:
        print("connections   none")
        return
    if not linked:
        del header[VIA_COLUMN], widths[VIA_COLUMN]
    print("connections")
    print(f"  {_aligned(header, widths)}")
    firsts = reader.first_exchanges()
    first = next(firsts, None)
    for conn in reader.each_connection():
        while first is not None and first[0].conn_id < conn.id:  # a row of no connection
            first = next(firsts, None)
        http = ""
        if first is not None and first[0].conn_id == conn.id:
            exchange, carried = first
            http = _request_line(exchange) + (f" (+{carried - 1} more)" if carried > 1 else "")
            first = next(firsts, None)
        cells = _connection_cells(conn, http)
        if not linked:
            del cells[VIA_COLUMN]
        print(f"  {_aligned(cells, widths)}")


def _connection_cells(conn: ConnectionRow, http: str) -> list[str]:
    return [
        str(conn.id),
        conn.role.value,
        "" if conn.via_conn_id is None else f"#{conn.via_conn_id}",
        visible_text(connected(conn.role, conn.local, conn.peer)),
        _clock(conn.opened),
        UNCLEAN if conn.ended_uncleanly else _duration(conn.duration),
        _size(conn.bytes_in),
        _size(conn.bytes_out),
        "-" if conn.end_reason is None else conn.end_reason.value,
        http,
    ]


def _aligned(cells: list[str], widths: list[int]) -> str:
    padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=False)]
    return "  ".join([*padded, cells[-1]]).rstrip()


def _show_connection(path: Path, conn_id: int) -> int:
    with SessionReader(path) as reader:
        conn = reader.connection(conn_id)
        if conn is None:
            return _error(f"no connection {conn_id} in {path}")
        for line in _connection_header(conn):
            print(line)
        exchanges = list(reader.exchanges(conn_id, include_bodies=False))
        events = reader.socket_events(conn_id)
        for line in _timeline(conn, reader.chunks(conn_id), events, exchanges):
            print(line)
    return 0


def _connection_header(conn: ConnectionRow) -> Iterator[str]:
    server = "" if conn.server_id is None else f"  (server #{conn.server_id})"
    if conn.via_conn_id is not None:  # a proxy's upstream leg
        server += f"  (for #{conn.via_conn_id})"
    yield visible_text(
        f"connection {conn.id}  {conn.role.value} {conn.transport.value}"
        f"  {connected(conn.role, conn.local, conn.peer)}{server}"
    )
    end = "still open" if conn.closed is None else f"closed +{_ms(conn.closed - conn.opened)}"
    if conn.ended_uncleanly:
        end = f"{UNCLEAN} (the recording stopped before it closed)"
    reason = "" if conn.end_reason is None else f"  {conn.end_reason.value}"
    yield (
        f"opened {_local(conn.opened)}.{int(conn.opened * 1000) % 1000:03d}  {end}{reason}"
        f"  in {_size(conn.bytes_in)}  out {_size(conn.bytes_out)}"
    )
    if conn.detail:
        yield f"detail {visible_text(conn.detail)}"


def _timeline(
    conn: ConnectionRow,
    chunks: Iterable[ChunkRow],
    events: list[SocketEventRow],
    exchanges: list[ExchangeRow],
) -> Iterator[str]:
    # An exchange is announced right after the last chunk that carried each
    # half, which is how the store links HTTP to bytes (by chunk seq).
    after_chunk: dict[int, list[str]] = {}
    unlinked: list[str] = []
    for exchange in exchanges:
        label = f"   == exchange #{exchange.id}: {_request_line(exchange)}"
        last = max(
            (s for s in (exchange.req_last_chunk, exchange.resp_last_chunk) if s is not None),
            default=None,
        )
        (unlinked if last is None else after_chunk.setdefault(last, [])).append(label)

    # Chunks stream from the database; socket events are few. Merge by time,
    # and at equal times put connect/accept before the bytes, the rest after.
    keyed_chunks: Iterator[_Keyed] = (
        (chunk.t, 1, index, chunk) for index, chunk in enumerate(chunks)
    )
    keyed_events: Iterator[_Keyed] = (
        (event.t, 0 if event.kind in _EARLY_EVENTS else 2, index, event)
        for index, event in enumerate(events)
    )
    seen: set[int] = set()
    for _t, _rank, _index, item in heapq.merge(keyed_chunks, keyed_events):
        yield ""
        if isinstance(item, ChunkRow):
            yield from _chunk_lines(conn, item)
            seen.add(item.seq)
            yield from after_chunk.get(item.seq, [])
        else:
            detail = f"  {visible_text(item.detail)}" if item.detail else ""
            yield f"   +{_ms(item.t - conn.opened)}  socket: {item.kind.value}{detail}"
    leftovers = unlinked + [
        label for seq, labels in after_chunk.items() if seq not in seen for label in labels
    ]
    if leftovers:
        yield ""
        yield from leftovers


def _chunk_lines(conn: ConnectionRow, chunk: ChunkRow) -> Iterator[str]:
    arrow = _ARROWS[chunk.direction.value]
    yield (
        f"#{chunk.seq}  +{_ms(chunk.t - conn.opened)}  {arrow} {chunk.direction.value}"
        f"  {len(chunk.data)} bytes  offset {chunk.offset}"
    )
    for line in hexdump_lines(chunk.data, offset=chunk.offset):
        yield f"    {line}"
    if looks_binary(chunk.data):
        # Escaped binary is a wall of \xNN that says less than the dump above.
        yield "    | (binary: text view left out, see the hex dump)"
        return
    text = visible(chunk.data, keep_newlines=True)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        yield f"    | {line}"


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
        return _error(f"no packets were captured in {path}{why}; nothing written")
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
        return _error(f"cannot write {out}: {written}")
    count = packet_count(reader) - skipped
    note = f", {skipped} of another link type left out" if skipped else ""
    print(f"netbench: wrote {_plural(count, 'packet')} to {_path(out)}{note}", file=sys.stderr)
    return 0


def _export_har(reader: SessionReader, path: Path, out: Path) -> int:
    from netbench.store.har import HarExport

    if reader.counts().exchanges == 0:
        return _error(f"no HTTP exchanges were recorded in {path}; nothing written")
    export = HarExport(reader)
    written = _write_atomically(out, export)
    if written is not None:
        return _error(f"cannot write {out}: {written}")
    entries = f"{export.entries} {'entry' if export.entries == 1 else 'entries'}"
    pages = _plural(export.pages, "page")
    print(f"netbench: wrote {entries} ({pages}) to {_path(out)}", file=sys.stderr)
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
