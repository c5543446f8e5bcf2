"""Events across the pipe to the recorder process: plain tuples, marshalled.

Rules:
- the engine's side pays for every event it sends, on the servers' GIL, so
  the events published per chunk, per exchange, per connection and per
  captured packet travel as plain tuples of builtins (built in ~0.5-1 µs)
  and a batch is one `marshal.dumps`. Pickling costs 6-14 µs an event for
  the frozen slotted dataclasses and ~9 µs a packet, each way: with a new
  connection per request (~5 connection events, ~9 packets captured) that
  was most of what recording cost. Only the rare events (servers, intercept,
  capture status) are pickled one by one inside the batch;
- a frame is a 4-byte little-endian length and its marshal payload; the
  first item of every message names it (`batch`, `written`, ...);
- `BatchMark(n)` ends batch n in the recorder's queue: the store has no table
  for it, so the writer skips it, and a commit that carried it proves every
  event of batch n is in the file;
- marshal's format is private to one Python version: both ends are the same
  interpreter (the recorder is started with `sys.executable`), never a file.
"""

from __future__ import annotations

import marshal
import pickle
import struct
from collections.abc import Callable
from typing import IO, Any, NamedTuple

from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    HttpRequestRecorded,
    HttpResponseRecorded,
    PacketCaptured,
    SocketEventRecorded,
)
from netbench.model import (
    Direction,
    Endpoint,
    EndReason,
    HttpRequest,
    HttpResponse,
    Role,
    SocketEventKind,
    TcpPacket,
    Transport,
)

_CHUNK, _REQUEST, _RESPONSE, _OTHER = 0, 1, 2, 3
_OPENED, _SOCKET_EVENT, _CLOSED, _PACKET = 4, 5, 6, 7
_DIRECTION_CODE = {Direction.IN: 0, Direction.OUT: 1}
_DIRECTIONS = (Direction.IN, Direction.OUT)
_ROLES, _TRANSPORTS = tuple(Role), tuple(Transport)
_KINDS, _REASONS = tuple(SocketEventKind), tuple(EndReason)
_ROLE_CODE = {member: code for code, member in enumerate(_ROLES)}
_TRANSPORT_CODE = {member: code for code, member in enumerate(_TRANSPORTS)}
_KIND_CODE = {member: code for code, member in enumerate(_KINDS)}
_REASON_CODE = {member: code for code, member in enumerate(_REASONS)}
_LENGTH = struct.Struct("<I")
MAX_FRAME = 1 << 30
"""A frame longer than this is a broken pipe's garbage, not a batch."""


class BatchMark(NamedTuple):
    """The end of batch `number` in the recorder's queue (no table: never written)."""

    number: int


def _chunk(event: ChunkRecorded) -> tuple[Any, ...]:
    conn_id, seq, direction, offset, data, t = event
    return (_CHUNK, conn_id, seq, _DIRECTION_CODE[direction], offset, data, t)


def _request(event: HttpRequestRecorded) -> tuple[Any, ...]:
    exchange_id, conn_id, position, request, first, last, t_start, t_end = event
    return (_REQUEST, exchange_id, conn_id, position, tuple(request), first, last, t_start, t_end)


def _response(event: HttpResponseRecorded) -> tuple[Any, ...]:
    exchange_id, conn_id, response, first, last, t_start, t_end = event
    return (_RESPONSE, exchange_id, conn_id, tuple(response), first, last, t_start, t_end)


def _opened(event: ConnectionOpened) -> tuple[Any, ...]:
    local, peer = event.local, event.peer
    return (
        _OPENED,
        event.conn_id,
        event.server_id,
        _ROLE_CODE[event.role],
        _TRANSPORT_CODE[event.transport],
        local.host,
        local.port,
        peer.host,
        peer.port,
        event.t,
        event.via,
    )


def _socket_event(event: SocketEventRecorded) -> tuple[Any, ...]:
    return (_SOCKET_EVENT, event.conn_id, _KIND_CODE[event.kind], event.t, event.detail)


def _closed(event: ConnectionClosed) -> tuple[Any, ...]:
    return (
        _CLOSED,
        event.conn_id,
        _REASON_CODE[event.reason],
        event.t,
        event.bytes_in,
        event.bytes_out,
        event.detail,
    )


def _packet(event: PacketCaptured) -> tuple[Any, ...]:
    t, src, dst, flags, seq, ack, window, payload_len, head, frame, linktype = event.packet
    return (
        _PACKET,
        t,
        src.host,
        src.port,
        dst.host,
        dst.port,
        flags,
        seq,
        ack,
        window,
        payload_len,
        head,
        frame,
        linktype,
    )


_ENCODERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    ChunkRecorded: _chunk,
    HttpRequestRecorded: _request,
    HttpResponseRecorded: _response,
    ConnectionOpened: _opened,
    SocketEventRecorded: _socket_event,
    ConnectionClosed: _closed,
    PacketCaptured: _packet,
}


def split_by_bytes(events: list[object], limit: int) -> tuple[list[list[object]], int]:
    """`events` in parts of at most ~`limit` bytes of chunk data each, and their total.

    A frame is built whole in memory and the recorder reads it whole: parts
    keep a 100 MB upload from being copied into one 100 MB frame.
    """
    parts: list[list[object]] = []
    start = size = total = 0
    for index, event in enumerate(events):
        if type(event) is ChunkRecorded:
            size += len(event.data)
            if size >= limit:
                parts.append(events[start : index + 1])
                total += size
                start, size = index + 1, 0
    if start < len(events):
        parts.append(events[start:] if start else events)
    return parts, total + size


def encode_batch(number: int, events: list[object]) -> bytes:
    """One `batch` message: its number and its events, in order."""
    encoders = _ENCODERS
    items: list[tuple[Any, ...]] = []
    append = items.append
    for event in events:
        encode = encoders.get(type(event))
        if encode is None:
            append((_OTHER, pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL)))
        else:
            append(encode(event))
    try:
        return marshal.dumps(("batch", number, items))
    except ValueError:
        # marshal takes exact builtins only: a field of a subclass (an IntEnum
        # port, a str subclass) travels pickled rather than stop the recording.
        return marshal.dumps(
            ("batch", number, [_marshallable(*pair) for pair in zip(events, items, strict=True)])
        )


def _marshallable(event: object, item: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        marshal.dumps(item)
    except ValueError:
        return (_OTHER, pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL))
    return item


def decode_events(items: list[tuple[Any, ...]]) -> list[object]:
    """A batch's items back into the engine's events, in order."""
    events: list[object] = []
    append = events.append
    for item in items:
        code = item[0]
        if code == _CHUNK:
            _, conn_id, seq, direction, offset, data, t = item
            append(ChunkRecorded(conn_id, seq, _DIRECTIONS[direction], offset, data, t))
        elif code == _REQUEST:
            _, exchange_id, conn_id, position, request, first, last, t_start, t_end = item
            append(
                HttpRequestRecorded(
                    exchange_id,
                    conn_id,
                    position,
                    _request_from(request),
                    first,
                    last,
                    t_start,
                    t_end,
                )
            )
        elif code == _RESPONSE:
            _, exchange_id, conn_id, response, first, last, t_start, t_end = item
            append(
                HttpResponseRecorded(
                    exchange_id, conn_id, _response_from(response), first, last, t_start, t_end
                )
            )
        elif code == _OTHER:
            append(pickle.loads(item[1]))  # our own process wrote it
        else:
            append(_RARER[code](item))
    return events


def _opened_from(item: tuple[Any, ...]) -> ConnectionOpened:
    _, conn_id, server_id, role, transport, local_host, local_port, peer_host, peer_port, t, via = (
        item
    )
    return ConnectionOpened(
        conn_id,
        server_id,
        _ROLES[role],
        _TRANSPORTS[transport],
        Endpoint(local_host, local_port),
        Endpoint(peer_host, peer_port),
        t,
        via,
    )


def _socket_event_from(item: tuple[Any, ...]) -> SocketEventRecorded:
    _, conn_id, kind, t, detail = item
    return SocketEventRecorded(conn_id, _KINDS[kind], t, detail)


def _closed_from(item: tuple[Any, ...]) -> ConnectionClosed:
    _, conn_id, reason, t, bytes_in, bytes_out, detail = item
    return ConnectionClosed(conn_id, _REASONS[reason], t, bytes_in, bytes_out, detail)


def _packet_from(item: tuple[Any, ...]) -> PacketCaptured:
    _, t, src_host, src_port, dst_host, dst_port, *rest = item
    return PacketCaptured(
        TcpPacket(t, Endpoint(src_host, src_port), Endpoint(dst_host, dst_port), *rest)
    )


_RARER: dict[int, Callable[[tuple[Any, ...]], object]] = {
    _OPENED: _opened_from,
    _SOCKET_EVENT: _socket_event_from,
    _CLOSED: _closed_from,
    _PACKET: _packet_from,
}
"""Decoders of the encoded kinds after the three per chunk and per exchange."""


def _request_from(fields: tuple[Any, ...]) -> HttpRequest:
    method, target, version, headers, body, *rest = fields
    return HttpRequest(method, target, version, _headers(headers), body, *rest)


def _response_from(fields: tuple[Any, ...]) -> HttpResponse:
    status, reason, version, headers, body, *rest = fields
    return HttpResponse(status, reason, version, _headers(headers), body, *rest)


def _headers(headers: Any) -> tuple[tuple[bytes, bytes], ...]:
    # marshal gives back what it was given: the parsers build a list of pairs.
    # Rebuilding each pair in Python cost ~4 us a message.
    return headers if type(headers) is tuple else tuple(headers)


def message(*fields: Any) -> bytes:
    """A small control message (`open`, `written`, `backlog`, ...)."""
    return marshal.dumps(fields)


def frame(payload: bytes) -> bytes:
    """A payload with its length in front, as `write_frame` writes it."""
    return _LENGTH.pack(len(payload)) + payload


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The next message, or None at the end of the stream (the other end is gone)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > MAX_FRAME:
        return None
    payload = stream.read(length)
    if len(payload) < length:
        return None
    value = marshal.loads(payload)
    return value if isinstance(value, tuple) else None
