"""A session's HTTP exchanges as a HAR 1.2 file, written as it is read.

docs/sessions.md has the mapping (which field comes from which column) and
its limits; field-level conversions are protocol/har_fields.py's.

Rules:
- `HarExport` is an iterable of byte pieces (UTF-8 JSON): the CLI writes
  them to a file or stdout, the TUI to a file. Memory stays bounded: rows
  are read one at a time, and a body over the recording's kept part (cut at
  1 MiB) is read again from the connection's chunks and base64-encoded as
  it streams (protocol/body_stream.py), never held whole;
- every exchange is an entry, in connection order then position on the
  connection; malformed, reset and unanswered ones too, with a `comment`
  saying so and the raw request bytes' place and SHA-256 in `_rawRequest`;
- times are the recorded ones: `send` is the first to the last request
  byte, `wait` the last request byte to the first response byte, `receive`
  the first to the last response byte; what netbench cannot know
  (`blocked`, `dns`, `connect`, `ssl`) is -1;
- `pages` group the entries per browser page where the traffic tells one
  (an HTML document, and the requests whose Referer names it), else per
  connection;
- a response body is decoded from its Content-Encoding when the recording
  holds it whole and the decoding completes; otherwise it stays as sent,
  base64, and the entry's comment says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Collection, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import netbench
from netbench.model import Direction, HttpRequest, HttpResponse, Role
from netbench.protocol import har_fields as har
from netbench.protocol.body_stream import BodyStream
from netbench.protocol.content_coding import content_codings, undo_content_coding
from netbench.store.har_pages import PagePlan, exchange_start, server_of
from netbench.store.reader import ChunkRow, ConnectionRow, ExchangeRow, SessionReader

Json = dict[str, Any]

B64_PIECE = 3 * 16 * 1024
"""Bytes encoded to base64 at once (a multiple of 3, so pieces join without padding)."""
NOT_MEASURED = -1
_RESETS = {"rst-peer": "reset by the peer", "rst-local": "reset by netbench"}


@dataclass(frozen=True, slots=True)
class _Stream:
    """A body to read again from the chunks, in place of a marker in the entry's JSON."""

    conn_id: int
    direction: Direction
    first_seq: int
    last_seq: int
    skip: int
    response: bool
    body_len: int


@dataclass(slots=True)
class _Chain:
    """Where the message now read began: the first chunk not shared with the one before."""

    last_seq: int | None = None
    start_seq: int | None = None
    count: int = 0

    def place(self, first: int | None, last: int | None) -> tuple[int | None, int]:
        """(the chunk to parse from, how many messages to skip there) for a message."""
        if first is not None and self.last_seq is not None and first == self.last_seq:
            self.count += 1
        else:
            self.start_seq, self.count = first, 0
        self.last_seq = last
        return self.start_seq, self.count


class HarExport:
    """The HAR text of a session, as byte pieces; `entries` and `pages` count what was written."""

    def __init__(
        self,
        reader: SessionReader,
        *,
        exchange_ids: Collection[int] | None = None,
        source: str | None = None,
    ) -> None:
        self.reader = reader
        self.exchange_ids = None if exchange_ids is None else frozenset(exchange_ids)
        """Export only these exchanges (the TUI's filter); None for all."""
        self.source = source or reader.path.name
        self.entries = 0
        self.pages = 0
        self.streamed = 0
        """Bodies read again from the chunks (over the recording's kept part)."""
        self._token = secrets.token_hex(16)

    def __iter__(self) -> Iterator[bytes]:
        plan = PagePlan(self.reader, self._selected)
        self.pages = len(plan.pages)
        head = {
            "version": "1.2",
            "creator": {"name": "netbench", "version": netbench.__version__},
            "pages": plan.pages,
        }
        # The head without its closing braces, then the entries, one a line.
        yield _utf8(_dumps({"log": head})[:-2] + ',\n"entries": [')
        conn: ConnectionRow | None = None
        chains: tuple[_Chain, _Chain] = (_Chain(), _Chain())
        for exchange in self.reader.exchanges():
            if conn is None or conn.id != exchange.conn_id:
                conn = self.reader.connection(exchange.conn_id)
                chains = (_Chain(), _Chain())
            request_place = chains[0].place(exchange.req_first_chunk, exchange.req_last_chunk)
            response_place = chains[1].place(exchange.resp_first_chunk, exchange.resp_last_chunk)
            if conn is None or not self._selected(exchange):
                continue
            entry, streams = self._entry(exchange, conn, request_place, response_place)
            entry = {"pageref": plan.page_of(exchange, conn), **entry}
            separator = "\n" if self.entries == 0 else ",\n"
            yield from self._entry_pieces(separator + _dumps(entry), streams)
            self.entries += 1
        comment = f"exported by netbench from {self.source}"
        yield _utf8(f"\n],\n{_key('comment')}: {json.dumps(comment)}}}}}\n")

    def save(self, out: Path) -> None:
        """Write the HAR to `out` through a temporary file: a failure leaves no half file.

        Raises OSError (writing) or StoreError (reading the session).
        """
        partial = out.with_name(f".{out.name}.partial")
        try:
            with partial.open("wb") as file:
                for piece in self:
                    file.write(piece)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)

    def _selected(self, exchange: ExchangeRow) -> bool:
        return self.exchange_ids is None or exchange.id in self.exchange_ids

    # -- entries ----------------------------------------------------------------------

    def _entry(
        self,
        exchange: ExchangeRow,
        conn: ConnectionRow,
        request_place: tuple[int | None, int],
        response_place: tuple[int | None, int],
    ) -> tuple[Json, list[_Stream]]:
        """The entry, with a marker where each body to stream goes, and those bodies."""
        streams: list[_Stream] = []
        comments = _problems(exchange, conn)
        troubled = bool(comments)
        request, response = exchange.request, exchange.response
        timings = _timings(exchange, conn)
        entry: Json = {
            "startedDateTime": har.iso_time(exchange_start(exchange, conn)),
            "time": round(sum(value for value in timings.values() if value > 0), 3),
        }
        to_server = Direction.IN if conn.role is Role.SERVER else Direction.OUT
        if request is None:
            entry["request"] = _empty_request(conn)
        else:
            first, skip = request_place
            stream = None
            if first is not None and exchange.req_last_chunk is not None:
                last = exchange.req_last_chunk
                stream = _Stream(conn.id, to_server, first, last, skip, False, request.body_len)
            entry["request"] = self._request(request, conn, comments, stream, streams)
        if response is None:
            entry["response"] = _no_response()
        else:
            first, skip = response_place
            stream = None
            if first is not None and exchange.resp_last_chunk is not None:
                last, back = exchange.resp_last_chunk, _other(to_server)
                stream = _Stream(conn.id, back, first, last, skip, True, response.body_len)
            entry["response"] = self._response(response, comments, stream, streams)
        entry["cache"] = {}
        entry["timings"] = timings
        entry["serverIPAddress"] = server_of(conn).host
        entry["connection"] = str(conn.id)
        if conn.via_conn_id is not None:  # a proxy's upstream leg: the client's connection
            entry["_via"] = str(conn.via_conn_id)
        if comments:
            entry["comment"] = "; ".join(comments)
        entry["_exchange"] = exchange.id
        entry["_role"] = conn.role.value
        errors = [m.error for m in (request, response) if m is not None and m.error]
        if errors:
            entry["_error"] = "; ".join(errors)
        if troubled and exchange.req_first_chunk is not None:
            entry["_rawRequest"] = self._raw_request(exchange, conn.id, to_server)
        return entry, streams

    def _request(
        self,
        request: HttpRequest,
        conn: ConnectionRow,
        comments: list[str],
        stream: _Stream | None,
        streams: list[_Stream],
    ) -> Json:
        fields: Json = {
            "method": har.wire_text(request.method),
            "url": har.request_url(request, server_of(conn)),
            "httpVersion": har.http_version(request.version),
            "cookies": har.request_cookies(request.headers),
            "headers": har.headers_json(request.headers),
            "queryString": har.query_string(request.target),
            "headersSize": har.request_headers_size(request),
            "bodySize": request.body_len,
        }
        if request.body_len or request.body:
            post: Json = {"mimeType": har.mime_type(request.headers, "")}
            if request.body_len <= len(request.body):
                params = har.post_params(request.headers, request.body)
                if params is not None:
                    post["params"] = params
                post.update(har.body_content(request.body))
            else:
                comments.append(_cut("request", request.body, request.body_len, stream))
                if stream is None:
                    post.update(har.body_content(request.body))
                else:
                    post.update(self._marker(len(streams)))
                    streams.append(stream)
            fields["postData"] = post
        return fields

    def _response(
        self,
        response: HttpResponse,
        comments: list[str],
        stream: _Stream | None,
        streams: list[_Stream],
    ) -> Json:
        content: Json = {
            "size": response.body_len,
            "mimeType": har.mime_type(response.headers, "x-unknown"),
        }
        if response.body_len <= len(response.body):
            content.update(_decoded_content(response, comments))
        else:
            comments.append(_cut("response", response.body, response.body_len, stream))
            if stream is None:
                content.update(har.body_content(response.body))
            else:
                content.update(self._marker(len(streams)))
                streams.append(stream)
            if any(coding != "identity" for coding in content_codings(response.headers)):
                comments.append("its content coding was not undone: the text is as sent")
        location = response.header(b"location")
        return {
            "status": response.status if response.status is not None else 0,
            "statusText": har.wire_text(response.reason),
            "httpVersion": har.http_version(response.version),
            "cookies": har.response_cookies(response.headers),
            "headers": har.headers_json(response.headers),
            "content": content,
            "redirectURL": "" if location is None else har.wire_text(location),
            "headersSize": har.response_headers_size(response),
            "bodySize": response.body_len,
        }

    def _raw_request(self, exchange: ExchangeRow, conn_id: int, direction: Direction) -> Json:
        """Where the request's bytes are in the session, and their SHA-256."""
        first, last = exchange.req_first_chunk, exchange.req_last_chunk
        digest = hashlib.sha256()
        offset: int | None = None
        length = 0
        for chunk in self._chunks(conn_id, direction, first, last):
            offset = chunk.offset if offset is None else offset
            length += len(chunk.data)
            digest.update(chunk.data)
        return {
            "chunks": [first, last],
            "offset": offset if offset is not None else -1,
            "length": length,
            "sha256": digest.hexdigest(),
        }

    def _chunks(
        self, conn_id: int, direction: Direction, first: int | None, last: int | None
    ) -> Iterator[ChunkRow]:
        """The chunks `first` to `last` of one direction, fetched as iterated."""
        for chunk in self.reader.chunks(conn_id):
            if last is not None and chunk.seq > last:
                return
            if (first is None or chunk.seq >= first) and chunk.direction is direction:
                yield chunk

    # -- streamed bodies -------------------------------------------------------------

    def _marker(self, index: int) -> Json:
        """Stand-ins for a streamed body's text and the note on how its reading went."""
        return {
            "text": f"\x00{self._token}:{index}:text\x00",
            "encoding": "base64",
            "_bodyFromChunks": f"\x00{self._token}:{index}:note\x00",
        }

    def _entry_pieces(self, text: str, streams: list[_Stream]) -> Iterator[bytes]:
        """The entry's text with each marker replaced by its body, streamed."""
        for index, stream in enumerate(streams):
            marker = _json_string(self._marker(index)["text"])
            before, _marker_text, text = text.partition(marker)
            yield _utf8(before + '"')
            note = yield from self._base64_body(stream)
            yield b'"'
            text = text.replace(_json_string(self._marker(index)["_bodyFromChunks"]), note, 1)
        yield _utf8(text)

    def _base64_body(self, stream: _Stream) -> Generator[bytes, None, str]:
        """The body as base64 pieces; returns the JSON of the note on how it went."""
        self.streamed += 1
        parser = BodyStream(response=stream.response, skip=stream.skip)
        pending = b""
        for chunk in self._chunks(
            stream.conn_id, stream.direction, stream.first_seq, stream.last_seq
        ):
            for piece in parser.feed(chunk.data):
                pending += piece
                whole = len(pending) - len(pending) % 3
                for at in range(0, whole, B64_PIECE):
                    yield base64.b64encode(pending[at : min(whole, at + B64_PIECE)])
                pending = pending[whole:]
            if parser.done:
                break
        if pending:
            yield base64.b64encode(pending)
        note: Json = {"bytes": parser.body_len, "complete": parser.body_len == stream.body_len}
        if parser.error is not None:
            note["error"] = parser.error
        return json.dumps(note)


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _other(direction: Direction) -> Direction:
    return Direction.OUT if direction is Direction.IN else Direction.IN


def _utf8(text: str) -> bytes:
    # A lone surrogate (only a damaged file yields one) becomes its JSON escape.
    return text.encode("utf-8", "backslashreplace")


def _key(name: str) -> str:
    return json.dumps(name)


def _dumps(value: Json) -> str:
    # Not indented: only then does `json` use its C encoder (indent=2 took
    # half of an export's time, ~0.4 ms an entry).
    return json.dumps(value, ensure_ascii=False)


def _ms(start: float | None, end: float | None) -> float:
    if start is None or end is None:
        return 0.0
    return round(max(0.0, end - start) * 1000, 3)


def _timings(exchange: ExchangeRow, conn: ConnectionRow) -> Json:
    wait_end = exchange.t_response_start
    if exchange.response is None:
        wait_end = conn.closed  # it waited until the connection ended
    return {
        "blocked": NOT_MEASURED,
        "dns": NOT_MEASURED,
        "connect": NOT_MEASURED,
        "ssl": NOT_MEASURED,
        "send": _ms(exchange.t_request_start, exchange.t_request_end),
        "wait": _ms(exchange.t_request_end, wait_end),
        "receive": _ms(exchange.t_response_start, exchange.t_response_end),
    }


def _problems(exchange: ExchangeRow, conn: ConnectionRow) -> list[str]:
    """What went wrong with the exchange, in words: malformed, reset, unanswered."""
    request, response = exchange.request, exchange.response
    reason = None if conn.end_reason is None else conn.end_reason.value
    incomplete = (
        response is None or bool(response.error) or bool(request is not None and request.error)
    )
    reset = incomplete and reason in _RESETS
    problems: list[str] = []
    if request is None:
        problems.append("no request was recorded on this exchange, only a response")
    elif request.error:
        problems.append(f"{'request cut short' if reset else 'malformed request'}: {request.error}")
    if response is None:
        ended = _ended(conn)
        problems.append("unanswered: no response was recorded" + (f"; {ended}" if ended else ""))
    elif exchange.unanswered:
        problems.append(f"unanswered: {response.error or 'no response was sent'}")
    else:
        if response.error:
            what = "response cut short" if reset else "malformed response"
            problems.append(f"{what}: {response.error}")
        if reset and reason is not None:
            problems.append(f"the connection was {_RESETS[reason]}")
    return problems


def _cut(what: str, kept: bytes, size: int, stream: _Stream | None) -> str:
    """The comment on a body longer than the recording's parsed copy."""
    where = "read again from the recorded chunks" if stream else "only that part is here"
    return (
        f"the {what} body ({size:,} bytes) is longer than the recording's parsed copy"
        f" ({len(kept):,} bytes): {where}"
    )


def _ended(conn: ConnectionRow) -> str:
    if conn.ended_uncleanly:
        return "the recording ended before the connection did"
    if conn.end_reason is None:
        return "the connection was still open"
    reason = conn.end_reason.value
    detail = f" ({conn.detail})" if conn.detail else ""
    return f"the connection was {_RESETS.get(reason, 'closed: ' + reason)}{detail}"


def _decoded_content(response: HttpResponse, comments: list[str]) -> Json:
    """`text` (and `encoding`), the coding undone when it completes, with `compression`."""
    codings = [coding for coding in content_codings(response.headers) if coding != "identity"]
    if not codings:
        return har.body_content(response.body)
    decoded = undo_content_coding(response.headers, response.body)
    # Every note but raw deflate's says bytes were lost or left over: a text that
    # is not the whole body, decoded, would misstate it.
    notes = [n for step in decoded.steps for n in step.notes if not n.startswith("raw deflate")]
    if decoded.error is not None or decoded.cut or notes:
        why = decoded.error or "; ".join(notes) or "cut"
        comments.append(f"content coding not undone ({why}): the text is as sent")
        return har.body_content(response.body)
    return {
        "size": len(decoded.body),
        "compression": len(decoded.body) - len(response.body),
        **har.body_content(decoded.body),
    }


def _empty_request(conn: ConnectionRow) -> Json:
    return {
        "method": "",
        "url": f"http://{server_of(conn)}/",
        "httpVersion": "",
        "cookies": [],
        "headers": [],
        "queryString": [],
        "headersSize": -1,
        "bodySize": -1,
    }


def _no_response() -> Json:
    return {
        "status": 0,
        "statusText": "",
        "httpVersion": "",
        "cookies": [],
        "headers": [],
        "content": {"size": 0, "mimeType": "x-unknown"},
        "redirectURL": "",
        "headersSize": -1,
        "bodySize": -1,
    }
