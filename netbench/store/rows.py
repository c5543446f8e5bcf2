"""Engine events as session rows: the SQL of each table and the tuples it takes.

Rules:
- times are stored as unix wall-clock seconds derived from the monotonic `t`
  with the anchors the writer took at `open()` (`wall`): differences stay
  exact and never go backwards, even when the system clock is stepped;
- captured packets keep the kernel's unix timestamp (`TcpPacket.t`) as is;
- the request and response rows run for every exchange: fields are unpacked
  as tuples (a NamedTuple's attribute is a descriptor call) and times are
  converted inline; header JSON is remembered (`HeadersText`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from netbench.events import (
    CaptureStatus,
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    HttpRequestRecorded,
    HttpResponseRecorded,
    PacketCaptured,
    ServerStarted,
    ServerStopped,
    SocketEventRecorded,
)
from netbench.model import Headers
from netbench.store.chunk_blocks import INSERT_BLOCK, pack_blocks

Row = tuple[Any, ...]


def _headers_json(headers: Headers) -> str:
    # latin-1 maps every byte to one code point, so the JSON text is lossless.
    return json.dumps(
        [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers]
    )


class HeadersText:
    """`_headers_json`, remembered: a client sends the same headers on every
    request and a server its same few responses, and encoding is ~3 µs."""

    __slots__ = ("_known",)
    LIMIT = 1024

    def __init__(self) -> None:
        self._known: dict[Headers, str] = {}

    def __call__(self, headers: Headers) -> str:
        text = self._known.get(headers)
        if text is None:
            if len(self._known) >= self.LIMIT:
                self._known.clear()  # bounded: a flood of unique headers costs no memory
            text = self._known[headers] = _headers_json(headers)
        return text


def storable(text: str | None) -> str | None:
    """Text SQLite can store. An error's text can hold a lone surrogate (an OSError
    naming a file whose name is not UTF-8: Python decodes it with surrogateescape),
    which the driver refuses to encode: one such detail failed the whole recording.
    Such a character is kept as its escape (\\udcff)."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _packet_row(e: PacketCaptured) -> Row:
    # The kernel stamped it in unix time already: no anchor to apply. After
    # the endpoints, TcpPacket's fields are in the columns' order (flags...linktype).
    p = e.packet
    return (p.t, p.src.host, p.src.port, p.dst.host, p.dst.port, *p[3:])


class EventRows:
    """The row of each event type, with the session's clock anchors."""

    def __init__(self, mono_anchor: float, wall_anchor: float) -> None:
        self.mono_anchor = mono_anchor
        self.wall_anchor = wall_anchor
        self.headers_text = HeadersText()
        self.sql: dict[type, tuple[str, Callable[[Any], Row]]] = {
            ServerStarted: (_INSERT_SERVER, self.server_row),
            ServerStopped: (_STOP_SERVER, self.server_stopped_row),
            ConnectionOpened: (_INSERT_CONNECTION, self.connection_row),
            ChunkRecorded: (INSERT_BLOCK, self.chunk_row),
            SocketEventRecorded: (_INSERT_SOCKET_EVENT, self.socket_event_row),
            ConnectionClosed: (_CLOSE_CONNECTION, self.closed_row),
            HttpRequestRecorded: (UPSERT_REQUEST, self.request_row),
            HttpResponseRecorded: (UPSERT_RESPONSE, self.response_row),
            PacketCaptured: (_INSERT_PACKET, _packet_row),
            CaptureStatus: (_INSERT_CAPTURE, self.capture_row),
        }
        """Event type -> (SQL, its row), one row at a time."""

    def chunk_blocks(self, chunks: list[ChunkRecorded]) -> list[Row]:
        return pack_blocks(chunks, self.mono_anchor, self.wall_anchor)

    def wall(self, t: float) -> float:
        return self.wall_anchor + (t - self.mono_anchor)

    def server_row(self, e: ServerStarted) -> Row:
        options = json.dumps(e.options, default=str)
        return (
            e.server_id,
            e.kind,
            e.transport.value,
            e.address.host,
            e.address.port,
            options,
            self.wall(e.t),
        )

    def server_stopped_row(self, e: ServerStopped) -> Row:
        return (self.wall(e.t), storable(e.error), e.server_id)

    def connection_row(self, e: ConnectionOpened) -> Row:
        return (
            e.conn_id,
            e.server_id,
            e.role.value,
            e.transport.value,
            e.local.host,
            e.local.port,
            e.peer.host,
            e.peer.port,
            self.wall(e.t),
            e.via,
        )

    def chunk_row(self, e: ChunkRecorded) -> Row:
        # One by one (after a constraint error): a block of one chunk.
        return pack_blocks([e], self.mono_anchor, self.wall_anchor)[0]

    def socket_event_row(self, e: SocketEventRecorded) -> Row:
        return (e.conn_id, self.wall(e.t), e.kind.value, storable(e.detail))

    def closed_row(self, e: ConnectionClosed) -> Row:
        detail = storable(e.detail)
        return (self.wall(e.t), e.reason.value, detail, e.bytes_in, e.bytes_out, e.conn_id)

    def capture_row(self, e: CaptureStatus) -> Row:
        return (self.wall(e.t), int(e.running), storable(e.detail), e.dropped)

    def request_row(self, e: HttpRequestRecorded) -> Row:
        exchange_id, conn_id, position, request, first, last, t_start, t_end = e
        method, target, version, headers, body, body_len, truncated, keep_alive, error = request
        wall, mono = self.wall_anchor, self.mono_anchor
        return (
            exchange_id,
            conn_id,
            position,
            method.decode("latin-1"),
            target.decode("latin-1"),
            version,
            self.headers_text(headers),
            body,
            body_len,
            int(truncated),
            int(keep_alive),
            error if error is None else storable(error),
            first,
            last,
            wall + (t_start - mono),
            wall + (t_end - mono),
        )

    def response_row(self, e: HttpResponseRecorded) -> Row:
        exchange_id, conn_id, response, first, last, t_start, t_end = e
        status, reason, version, headers, body, body_len, truncated, error = response
        wall, mono = self.wall_anchor, self.mono_anchor
        return (
            exchange_id,
            conn_id,
            status,
            reason.decode("latin-1"),
            version,
            self.headers_text(headers),
            body,
            body_len,
            int(truncated),
            error if error is None else storable(error),
            first,
            last,
            wall + (t_start - mono),
            wall + (t_end - mono),
        )


_INSERT_SERVER = (
    "INSERT INTO servers (id, kind, transport, host, port, options, started)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_STOP_SERVER = "UPDATE servers SET stopped = ?, error = ? WHERE id = ?"
_INSERT_CONNECTION = (
    "INSERT INTO connections (id, server_id, role, transport, local_host, local_port,"
    " peer_host, peer_port, opened, via_conn_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_PACKET = (
    "INSERT INTO packets (t, src_host, src_port, dst_host, dst_port, flags, seq, ack, window,"
    " payload_len, payload_head, frame, linktype) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CAPTURE = "INSERT INTO capture (t, running, detail, dropped) VALUES (?, ?, ?, ?)"
_INSERT_SOCKET_EVENT = "INSERT INTO socket_events (conn_id, t, kind, detail) VALUES (?, ?, ?, ?)"
_CLOSE_CONNECTION = (
    "UPDATE connections SET closed = ?, end_reason = ?, detail = ?, bytes_in = ?, bytes_out = ?"
    " WHERE id = ?"
)
# Request and response are upserts: either may be written first (a client's
# response can land in the same batch, a server may answer a request line it
# could not parse), and the row ends up whole either way.
_REQUEST_COLUMNS = (
    "idx, method, target, http_version, req_headers, req_body, req_body_len,"
    " req_body_truncated, req_keep_alive, req_error, req_first_chunk, req_last_chunk,"
    " t_request_start, t_request_end"
)
_RESPONSE_COLUMNS = (
    "status, reason, resp_http_version, resp_headers, resp_body, resp_body_len,"
    " resp_body_truncated, resp_error, resp_first_chunk, resp_last_chunk,"
    " t_response_start, t_response_end"
)


def _upsert(columns: str) -> str:
    names = [name.strip() for name in columns.split(",")]
    marks = ", ".join("?" for _ in range(len(names) + 2))
    updates = ", ".join(f"{name} = excluded.{name}" for name in names)
    return (
        f"INSERT INTO exchanges (id, conn_id, {columns}) VALUES ({marks})"
        f" ON CONFLICT (id) DO UPDATE SET {updates}"
    )


WRITE_ORDER = (
    ServerStarted,
    ConnectionOpened,
    ChunkRecorded,
    SocketEventRecorded,
    HttpRequestRecorded,
    HttpResponseRecorded,
    PacketCaptured,
    CaptureStatus,
    ConnectionClosed,
    ServerStopped,
)
_RANK = {kind: rank for rank, kind in enumerate(WRITE_ORDER)}


def write_rank(event: object) -> int:
    return _RANK.get(type(event), len(_RANK))


UPSERT_REQUEST = _upsert(_REQUEST_COLUMNS)
INSERT_EXCHANGE = (
    f"INSERT INTO exchanges (id, conn_id, {_REQUEST_COLUMNS}, {_RESPONSE_COLUMNS}) VALUES"
    f" ({', '.join('?' for _ in range(2 + len(_REQUEST_COLUMNS.split(',')) + len(_RESPONSE_COLUMNS.split(','))))})"
)
UPSERT_RESPONSE = _upsert(_RESPONSE_COLUMNS)
