"""HTTP/1.x parsing glue over httptools (llhttp). Sans-I/O: bytes in, messages out.

netbench never parses HTTP by hand: httptools measured at ~0.84x of a bare
asyncio server while recording, h11 at ~0.12x (docs/performance.md). These
readers only collect what llhttp reports and note which chunks carried each
message.

Rules:
- `feed(data, seq, t)` takes exactly one recorded chunk; a message's
  `first_chunk`/`last_chunk` are the seqs of the chunks in which llhttp began
  and completed it, so several pipelined messages can share one chunk;
- header fields stay (name, value) byte pairs in wire order and case;
- bodies are kept up to `body_limit` bytes (the rest is counted, not kept):
  the chunks hold every byte, this is only the parsed reading of them;
- after an error the reader stops: HTTP/1 framing cannot be recovered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import httptools

from netbench.model import HttpRequest, HttpResponse

DEFAULT_BODY_LIMIT = 1 << 20


class ParsedRequest(NamedTuple):
    request: HttpRequest
    first_chunk: int
    last_chunk: int
    t_start: float
    t_end: float
    upgrade: bool = False
    """The client asked to switch protocols; bytes after this request are not HTTP/1."""


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """The bytes are not valid HTTP/1.x; `request` holds whatever was read."""

    error: str
    request: HttpRequest
    first_chunk: int
    last_chunk: int
    t_start: float
    t_end: float


def _error_text(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text.removeprefix("Parse error: ").removeprefix("invalid ")


class _MessageCollector:
    """The callbacks httptools calls; one message at a time."""

    def __init__(self, body_limit: int) -> None:
        self.body_limit = body_limit
        self.url = bytearray()
        self.status = bytearray()
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.body_len = 0
        self.started = False
        self.complete = 0
        self.headers_done = False

    def reset(self) -> None:
        self.url = bytearray()
        self.status = bytearray()
        self.headers = []
        self.body = bytearray()
        self.body_len = 0
        self.headers_done = False

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.reset()
        self.started = True

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_status(self, status: bytes) -> None:
        self.status += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        room = self.body_limit - len(self.body)
        if room > 0:
            self.body += body[:room]
        self.body_len += len(body)

    def on_message_complete(self) -> None:
        self.complete += 1


class RequestReader:
    """Reads a connection's inbound stream into requests.

    The reader is itself the callback object httptools calls: this runs for
    every request, so it allocates as little as it can (no per-message
    buffers until a body arrives).
    """

    def __init__(self, body_limit: int = DEFAULT_BODY_LIMIT) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._body_limit = body_limit
        self._out: list[ParsedRequest | ParseFailure] = []
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_kept = 0
        self._body_len = 0
        self._started = False
        self._headers_done = False
        self._first_chunk = -1
        self._t_start = 0.0
        self._seq = -1
        self._t = 0.0
        self.failed = False
        self.upgraded = False

    def feed(self, data: bytes, seq: int, t: float) -> list[ParsedRequest | ParseFailure]:
        """Feed one chunk; returns the requests it completed (or the failure)."""
        if self.failed or self.upgraded:
            return []
        self._seq, self._t = seq, t
        out = self._out = []
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.upgraded = True
            if out and isinstance(out[-1], ParsedRequest):
                out[-1] = out[-1]._replace(upgrade=True)
        except httptools.HttpParserError as error:
            self.failed = True
            out.append(self._failure(_error_text(error)))
        return out

    # -- httptools callbacks -------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._started = True
        self._headers_done = False
        self._first_chunk = self._seq
        self._t_start = self._t

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        room = self._body_limit - self._body_kept
        if room > 0:
            kept = body[:room]
            self._body.append(kept)
            self._body_kept += len(kept)
        self._body_len += len(body)

    def on_message_complete(self) -> None:
        parser = self._parser
        body = b"".join(self._body) if self._body else b""
        body_len = self._body_len
        request = HttpRequest(
            parser.get_method(),
            self._url,
            parser.get_http_version(),
            tuple(self._headers),
            body,
            body_len,
            body_len > len(body),
            parser.should_keep_alive(),
        )
        if self._body:
            self._body = []
            self._body_kept = self._body_len = 0
        self._started = False
        self._out.append(
            ParsedRequest(request, self._first_chunk, self._seq, self._t_start, self._t)
        )

    def _failure(self, error: str) -> ParseFailure:
        try:
            # llhttp reports DELETE (method 0) until it has read one: ask only once
            # the URL or the headers show the method was complete.
            method = self._parser.get_method() if (self._headers_done or self._url) else b""
        except httptools.HttpParserError:
            method = b""
        body = b"".join(self._body)
        request = HttpRequest(
            method,
            self._url,
            "",
            tuple(self._headers),
            body,
            self._body_len,
            self._body_len > len(body),
            False,
            error,
        )
        first = self._first_chunk if self._started else self._seq
        t_start = self._t_start if self._started else self._t
        return ParseFailure(error, request, first, self._seq, t_start, self._t)


class ResponseReader:
    """Reads a client connection's inbound stream into one response.

    `head_only` is for responses to HEAD (and 1xx/204/304 are handled by
    llhttp itself): they have headers but never a body, whatever
    Content-Length says.
    """

    def __init__(self, *, head_only: bool = False, body_limit: int = DEFAULT_BODY_LIMIT) -> None:
        self._collector = _MessageCollector(body_limit)
        self._parser = httptools.HttpResponseParser(self._collector)
        self._head_only = head_only
        self.response: HttpResponse | None = None
        self.error: str | None = None

    @property
    def done(self) -> bool:
        return self.response is not None

    def feed(self, data: bytes) -> bool:
        """Feed bytes; True once the response is complete (or failed)."""
        if self.done:
            return True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._collector.complete += 1
        except httptools.HttpParserError as error:
            self.error = _error_text(error)
            self.response = self._build(self.error)
            return True
        c = self._collector
        if c.complete or (self._head_only and c.headers_done):
            self.response = self._build(None)
        return self.done

    def feed_eof(self) -> HttpResponse | None:
        """The server closed: a body delimited by close is complete now."""
        if self.done:
            return self.response
        c = self._collector
        if not c.started and not c.status:
            return None
        if c.headers_done:
            # A body without Content-Length ends when the server closes: what
            # arrived is the whole body. With a length or chunking, it is cut short.
            error = None
            if not c.complete and self._framed():
                error = f"connection closed after {c.body_len} body bytes, before the end"
            self.response = self._build(error)
        else:
            self.error = "connection closed before the response head was complete"
            self.response = self._build(self.error)
        return self.response

    def _framed(self) -> bool:
        names = {name.lower() for name, _value in self._collector.headers}
        return b"content-length" in names or b"transfer-encoding" in names

    def _build(self, error: str | None) -> HttpResponse:
        c = self._collector
        try:
            status: int | None = (
                self._parser.get_status_code() if c.status or c.headers_done else None
            )
            version = self._parser.get_http_version()
        except httptools.HttpParserError:
            status, version = None, ""
        return HttpResponse(
            status=status if status else None,
            reason=bytes(c.status),
            version=version,
            headers=tuple(c.headers),
            body=bytes(c.body),
            body_len=c.body_len,
            body_truncated=c.body_len > len(c.body),
            error=error,
        )


def describe_response(raw: bytes, *, head_only: bool = False) -> HttpResponse:
    """What a raw response we are about to send says, read by llhttp.

    Deliberately broken responses are allowed: they come back with
    `status=None` and the parser's complaint in `error`.
    """
    reader = ResponseReader(head_only=head_only)
    reader.feed(raw)
    response = reader.feed_eof() if not reader.done else reader.response
    if response is None:
        return HttpResponse(None, b"", "", (), b"", 0, error="empty response")
    return response
