"""A recorded request's exact bytes, read back from its connection's chunks.

Replay and the copy-as exports send what the socket carried, not a
re-serialisation of the parsed request: header spelling, whitespace, order,
a wrong Content-Length and malformed bytes all stay as they were. The bytes
are found by `protocol.request_span` (pipelined requests share chunks).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from netbench.model import Direction, HttpRequest, Role
from netbench.protocol.copy_as import Format, export_request
from netbench.protocol.request_span import RequestSpan, find_request_span
from netbench.protocol.wire_request import Export, WireRequest, split_request
from netbench.store.errors import StoreError
from netbench.store.reader import ConnectionRow, ExchangeRow, SessionReader

__all__ = [
    "bodies_beside",
    "export_wire",
    "find_exchange",
    "read_wire",
    "rebuilt_wire",
    "request_bytes",
    "request_pieces",
    "request_span",
    "server_of",
]


def request_direction(conn: ConnectionRow) -> Direction:
    """Requests come in at a server, go out from a client."""
    return Direction.IN if conn.role is Role.SERVER else Direction.OUT


def server_of(conn: ConnectionRow) -> str:
    """`host:port` the request went to: netbench's end of a server connection."""
    return str(conn.local if conn.role is Role.SERVER else conn.peer)


def find_exchange(reader: SessionReader, exchange_id: int) -> tuple[ExchangeRow, ConnectionRow]:
    """Exchange `exchange_id` and its connection; StoreError saying why not."""
    row = reader._query("SELECT conn_id FROM exchanges WHERE id = ?", (exchange_id,)).fetchone()
    if row is None:
        raise StoreError(f"no exchange {exchange_id} in {reader.path}")
    exchange = next(e for e in reader.exchanges(row[0]) if e.id == exchange_id)
    conn = reader.connection(row[0])
    if conn is None:
        raise StoreError(f"exchange {exchange_id} has no connection in {reader.path}")
    return exchange, conn


def request_span(
    reader: SessionReader, conn: ConnectionRow, exchange: ExchangeRow
) -> RequestSpan | None:
    """Where the exchange's request lies in the connection's stream; None: not recorded."""
    first, last = exchange.req_first_chunk, exchange.req_last_chunk
    if exchange.request is None or first is None or last is None or first < 0:
        return None
    direction = request_direction(conn).value
    index = [
        (seq, offset)
        for seq, chunk_direction, _t, offset, _length in reader.chunk_tables.index(conn.id)
        if chunk_direction == direction and seq <= last
    ]

    def chunks() -> Iterator[tuple[int, int, bytes]]:
        # Read as fed: the reader keeps the last block, so this is one pass.
        for seq, offset in index:
            yield seq, offset, reader.chunk_tables.data(conn.id, seq) or b""

    return find_request_span(chunks(), exchange.index or 0, first, last)


def request_pieces(
    reader: SessionReader, conn: ConnectionRow, span: RequestSpan
) -> Iterator[bytes]:
    """The span's bytes, a chunk's worth at a time (a 100 MB upload is never held whole)."""
    direction = request_direction(conn).value
    for seq, chunk_direction, _t, offset, length in reader.chunk_tables.index(conn.id):
        if chunk_direction != direction or offset + length <= span.start:
            continue
        if offset >= span.end:
            break
        data = reader.chunk_tables.data(conn.id, seq) or b""
        yield data[max(span.start - offset, 0) : span.end - offset]


def request_bytes(reader: SessionReader, conn: ConnectionRow, exchange: ExchangeRow) -> bytes:
    """The exchange's request exactly as recorded; StoreError when it has none."""
    span = request_span(reader, conn, exchange)
    if span is None:
        raise StoreError(f"exchange {exchange.id} has no recorded request bytes")
    return b"".join(request_pieces(reader, conn, span))


def read_wire(reader: SessionReader, exchange_id: int) -> tuple[WireRequest, str]:
    """Exchange `exchange_id`'s request as recorded, split, and the `host:port` it went to."""
    exchange, conn = find_exchange(reader, exchange_id)
    return split_request(request_bytes(reader, conn, exchange)), server_of(conn)


def rebuilt_wire(reader: SessionReader, exchange_id: int) -> tuple[WireRequest, str] | None:
    """The request rebuilt from what the parser read, when its bytes were not recorded
    (a session written by another tool, chunks lost to damage); None when it cannot be
    (no request, a body cut at the recording limit, an unparsed request line)."""
    exchange, conn = find_exchange(reader, exchange_id)
    request = exchange.request
    if request is None or request.body_truncated or not request.version:
        return None
    return split_request(composed_request(request)), server_of(conn)


def composed_request(request: HttpRequest) -> bytes:
    """The parsed request written back as HTTP/1.x (headers in their recorded order)."""
    head = [request.method + b" " + request.target + b" HTTP/" + request.version.encode()]
    head += [name + b": " + value for name, value in request.headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + request.body


def export_wire(
    kind: Format, wire: WireRequest, server: str, body_file: Path
) -> tuple[Export, Path | None]:
    """`wire` as a `kind` command, and the body file it reads (written here), if any.

    A client that frames a chunked body itself (curl, HTTPie) reads the
    payload, not the framed bytes: that goes to `NAME.payload` beside.
    """
    export = export_request(kind, wire, server, str(body_file))
    if export.body is None:
        return export, None
    if export.body != wire.body:
        body_file = body_file.with_suffix(".payload")
        export = export_request(kind, wire, server, str(body_file))
    assert export.body is not None
    try:
        body_file.parent.mkdir(parents=True, exist_ok=True)
        body_file.write_bytes(export.body)
    except OSError as error:
        raise StoreError(f"cannot write {body_file}: {error.strerror or error}") from error
    return export, body_file


def bodies_beside(session: Path) -> Path:
    """Where the TUI writes the body files of its copied commands: beside the session."""
    return session.parent / f"{session.name.split('.')[0]}-bodies"
