"""`netbench session show`: a session's servers and connections, or one connection's
bytes, from the shell; and the formatting `session list` shares with it.

Everything printed that came from the network (bytes, HTTP fields, details,
even file names) goes through `netbench.protocol.textsafe` first, so a
recorded escape sequence is shown, never executed.
"""

from __future__ import annotations

import heapq
import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from netbench.model import SocketEventKind, connected
from netbench.protocol.hexdump import hexdump_lines, looks_binary
from netbench.protocol.textsafe import visible, visible_latin1, visible_text
from netbench.store import ChunkRow, ConnectionRow, ExchangeRow, SessionReader, SocketEventRow

_ARROWS = {"in": "<-", "out": "->"}
_Keyed = tuple[float, int, int, ChunkRow | SocketEventRow]
_EARLY_EVENTS = frozenset({SocketEventKind.CONNECT, SocketEventKind.ACCEPT})


def error_line(message: str) -> int:
    """A failure's one line (its text may come from a file: made visible); exit code 1."""
    print(f"netbench: error: {visible_text(message)}", file=sys.stderr)
    return 1


# -- formatting helpers --------------------------------------------------------


def size_text(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def local_time(when: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return time.strftime(fmt, time.localtime(when))


def _clock(when: float) -> str:
    return f"{local_time(when, '%H:%M:%S')}.{int(when * 1000) % 1000:03d}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


UNCLEAN = "ended uncleanly"
"""What a server or connection left open by a killed recording shows (store/recordings.py)."""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "open"
    return _ms(seconds) if seconds < 1 else f"{seconds:.3f} s"


def shown_path(path: Path) -> str:
    # File names are chosen by whoever made the file: untrusted too.
    return visible_text(str(path))


def table_lines(rows: list[list[str]]) -> Iterator[str]:
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
        # As `serve` prints it: "???" for bytes that were no response, none: "no response".
        status = str(response.status) if response.status is not None else "???"
        if exchange.unanswered:
            status = "no response"
        text += f" -> {status} {visible_latin1(response.reason)}".rstrip()
        if response.error:
            text += f" [{visible_text(response.error)}]"
    return text


# -- show ----------------------------------------------------------------------


def show(path: Path) -> int:
    with SessionReader(path) as reader:
        info = reader.info()
        print(f"session   {shown_path(path)}")
        print(
            f"created   {local_time(info.created)}  (host {visible_text(info.hostname)},"
            f" netbench {visible_text(info.netbench_version)}, schema {info.schema_version})"
        )
        if info.argv:
            print(f"command   {visible_text(' '.join(info.argv))}")
        for recording in reader.recordings():
            if recording.ended_uncleanly:
                print(
                    f"recorded  {local_time(recording.started)}, pid {recording.pid}: {UNCLEAN}"
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
        size_text(conn.bytes_in),
        size_text(conn.bytes_out),
        "-" if conn.end_reason is None else conn.end_reason.value,
        http,
    ]


def _aligned(cells: list[str], widths: list[int]) -> str:
    padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=False)]
    return "  ".join([*padded, cells[-1]]).rstrip()


def show_connection(path: Path, conn_id: int) -> int:
    with SessionReader(path) as reader:
        conn = reader.connection(conn_id)
        if conn is None:
            return error_line(f"no connection {conn_id} in {path}")
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
        f"opened {local_time(conn.opened)}.{int(conn.opened * 1000) % 1000:03d}  {end}{reason}"
        f"  in {size_text(conn.bytes_in)}  out {size_text(conn.bytes_out)}"
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
