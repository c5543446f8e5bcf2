"""HTTP/1.x response parsing glue over httptools (llhttp). Sans-I/O: bytes in, responses out.

The client's side of protocol/http_parse.py: `ResponseReader` reads one
response, `ResponseStream` several pipelined ones, `describe_response` what a
raw response netbench is about to send says. Bodies are kept up to
`body_limit` bytes (the rest is counted); after an error a reader stops.
"""

from __future__ import annotations

from typing import Any

import httptools

from netbench.model import HttpResponse

DEFAULT_BODY_LIMIT = 1 << 20
_ENDED = {
    "closed": "the connection closed",
    "reset": "the connection was reset",
    "timeout": "the client stopped waiting",
}


class InvalidHead(Exception):
    """A response head that does not parse; the message is llhttp's complaint."""


def error_text(error: Exception) -> str:
    """llhttp's complaint without its boilerplate prefixes."""
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


def chunked_last(transfer_encoding: bytes | None) -> bool:
    """Whether chunked is the final transfer coding (RFC 9112 §6.3): only then
    does the body frame itself. A response with another final coding (`gzip`
    alone) ends when the connection closes; a request with one is refused."""
    if transfer_encoding is None:
        return False
    return transfer_encoding.rsplit(b",", 1)[-1].strip().lower() == b"chunked"


def is_interim(status: int | None) -> bool:
    """A 1xx other than 101 (100 Continue, 103 Early Hints): the final response follows."""
    return status is not None and 100 <= status < 200 and status != 101


class _FinalCollector(_MessageCollector):
    """Counts only final responses as complete: an interim one is read and dropped."""

    parser: Any = None

    def on_message_complete(self) -> None:
        if is_interim(self.parser.get_status_code()):
            self.headers_done = False  # the final response's head is still to come
            return
        super().on_message_complete()


class _DecodingCollector(_FinalCollector):
    """Also keeps the decoded body's pieces until taken (a proxy de-chunking for a
    client that cannot read chunked framing)."""

    def __init__(self, body_limit: int) -> None:
        super().__init__(body_limit)
        self.pieces: list[bytes] = []

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self.pieces.append(body)


class ResponseReader:
    """Reads a client connection's inbound stream into one response.

    `head_only` is for responses to HEAD (and 1xx/204/304 are handled by
    llhttp itself): they have headers but never a body, whatever
    Content-Length says. With `decoded_body` the body read so far, its
    chunked framing removed, is handed out by `take_body`.
    """

    def __init__(
        self,
        *,
        head_only: bool = False,
        body_limit: int = DEFAULT_BODY_LIMIT,
        decoded_body: bool = False,
    ) -> None:
        self._collector = (_DecodingCollector if decoded_body else _FinalCollector)(body_limit)
        self._parser = httptools.HttpResponseParser(self._collector)
        self._collector.parser = self._parser
        self._head_only = head_only
        self.response: HttpResponse | None = None
        self.error: str | None = None

    @property
    def done(self) -> bool:
        return self.response is not None

    def take_body(self) -> bytes:
        """The decoded body bytes read since the last call (`decoded_body` only)."""
        collector = self._collector
        assert isinstance(collector, _DecodingCollector)
        data = b"".join(collector.pieces)
        collector.pieces.clear()
        return data

    def feed(self, data: bytes) -> bool:
        """Feed bytes; True once the response is complete (or failed)."""
        if self.done:
            return True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._collector.complete += 1
        except httptools.HttpParserError as error:
            self.error = error_text(error)
            self.response = self._build(self.error)
            return True
        c = self._collector
        if c.complete or (self._head_only and c.headers_done):
            self.response = self._build(None)
        return self.done

    def feed_eof(self, how: str = "closed") -> HttpResponse | None:
        """The reading ended (`how`: "closed" by a FIN, "reset", "timeout"): the response so far.

        A body delimited by close is complete at a FIN; with a length or
        chunking, or ended otherwise, it was cut short and `error` says so with
        how many body bytes arrived (of how many, when Content-Length said).
        """
        if self.done:
            return self.response
        c = self._collector
        if not c.started and not c.status:
            return None
        ended = _ENDED.get(how, how)
        if c.headers_done:
            error = None
            if not c.complete and (self._framed() or how != "closed"):
                length = self._header(b"content-length")
                of = f" of {int(length)}" if length is not None and length.isdigit() else ""
                error = f"cut short: {ended} after {c.body_len}{of} body bytes"
            self.response = self._build(error)
        else:
            self.error = f"cut short: {ended} before the response head was complete"
            self.response = self._build(self.error)
        return self.response

    def _header(self, name: bytes) -> bytes | None:
        for field, value in self._collector.headers:
            if field.lower() == name:
                return value.strip()
        return None

    def _framed(self) -> bool:
        """Its end is told by the message, not by the close (RFC 9112 §6.3):
        chunked as the last coding, or a Content-Length without Transfer-Encoding."""
        codings = [v for n, v in self._collector.headers if n.lower() == b"transfer-encoding"]
        if codings:
            return chunked_last(b",".join(codings))
        return self._header(b"content-length") is not None

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


class _Snapshots(_MessageCollector):
    """A collector that keeps every completed message (pipelined responses, in order)."""

    def __init__(self, body_limit: int) -> None:
        super().__init__(body_limit)
        self.done: list[HttpResponse] = []
        self.parser: Any = None

    def on_message_complete(self) -> None:
        super().on_message_complete()
        status = self.parser.get_status_code() if self.parser is not None else None
        self.done.append(
            HttpResponse(
                status=status or None,
                reason=bytes(self.status),
                version=self.parser.get_http_version() if self.parser is not None else "",
                headers=tuple(self.headers),
                body=bytes(self.body),
                body_len=self.body_len,
                body_truncated=self.body_len > len(self.body),
                error=None,
            )
        )


class ResponseStream:
    """Responses read off one connection, several per read when they were pipelined.

    `feed` returns how many responses are complete so far; `responses` holds
    them in order. A parse error stops the stream and is kept in `error`.
    """

    def __init__(self, *, body_limit: int = DEFAULT_BODY_LIMIT) -> None:
        self._collector = _Snapshots(body_limit)
        self._parser = httptools.HttpResponseParser(self._collector)
        self._collector.parser = self._parser
        self.error: str | None = None

    @property
    def responses(self) -> list[HttpResponse]:
        return self._collector.done

    def feed(self, data: bytes) -> int:
        if self.error is None:
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                pass
            except httptools.HttpParserError as error:
                self.error = error_text(error)
        return len(self._collector.done)
