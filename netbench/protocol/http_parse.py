"""HTTP/1.x request parsing glue over httptools (llhttp). Sans-I/O: bytes in, messages out.

netbench never parses HTTP by hand: httptools measured at ~0.84x of a bare
asyncio server while recording, h11 at ~0.12x (docs/performance.md). These
readers only collect what llhttp reports and note which chunks carried each
message. Responses are read in protocol/http_response_parse.py (re-exported
here).

Rules:
- `feed(data, seq, t)` takes exactly one recorded chunk; a message's
  `first_chunk`/`last_chunk` are the seqs of the chunks in which llhttp began
  and completed it, so several pipelined messages can share one chunk;
- header fields stay (name, value) byte pairs in wire order and case;
- bodies are kept up to `body_limit` bytes (the rest is counted, not kept):
  the chunks hold every byte, this is only the parsed reading of them;
- after an error the reader stops: HTTP/1 framing cannot be recovered;
- with `limits`, a request over one of them fails with the status that names
  it (414, 431, 413), checked in the callbacks as llhttp reports the bytes, so
  an endless header is refused without being held; HTTP/0.9 and the HTTP/2
  preface fail at once (505) instead of waiting for a head that never comes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import NamedTuple

import httptools

from netbench.model import HttpRequest
from netbench.protocol.http_response_parse import DEFAULT_BODY_LIMIT, error_text
from netbench.protocol.http_response_parse import ResponseReader as ResponseReader
from netbench.protocol.http_response_parse import ResponseStream as ResponseStream
from netbench.protocol.http_response_parse import describe_response as describe_response
from netbench.protocol.limits import OPTION, HttpLimits


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
    status: int = 400
    """The answer it deserves: 400, or 408/413/414/431/505 for a limit or a version."""


class _Refused(Exception):
    """Raised inside an httptools callback to stop at a limit."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def _over(limit: str, what: str, value: int) -> str:
    return f"{what} over the limit of {value} ({OPTION[limit]} raises it)"


H2_PREFACE_ERROR = (
    "this is the HTTP/2 connection preface; netbench speaks HTTP/1.1 (and 1.0): "
    "send HTTP/1.1, e.g. curl --http1.1"
)
HTTP09_ERROR = (
    "HTTP/0.9 request (a request line without a version); netbench speaks HTTP/1.x: "
    "send e.g. `GET / HTTP/1.1` and a Host header"
)
TLS_ERROR = (
    "a TLS handshake (https://) on a plain-HTTP port: this server speaks http:// without TLS"
)
_TLS_HANDSHAKE = b"\x16"
"""A TLS record of type handshake: the first byte of every ClientHello, and
never of an HTTP method."""
_NOT_HTTP_VERSION = "Expected HTTP/, RTSP/ or ICE/"
"""llhttp's words for a request line whose third part is not a version (it
also parses RTSP and ICE): a space inside the target, or a version not HTTP/."""
SPACE_IN_TARGET_ERROR = "a space inside the request target: send it as %20"
NOT_HTTP_VERSION_ERROR = "the request line does not end in an HTTP/1.x version"


class RequestReader:
    """Reads a connection's inbound stream into requests.

    The reader is itself the callback object httptools calls: this runs for
    every request, so it allocates as little as it can (no per-message
    buffers until a body arrives).
    """

    def __init__(
        self, body_limit: int = DEFAULT_BODY_LIMIT, limits: HttpLimits | None = None
    ) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._body_limit = body_limit
        self._limits = limits
        self._head_bytes = 0
        """Bytes of the header fields llhttp has reported for this request."""
        self._raw_head_bytes = 0
        """Bytes fed while this request's head is unfinished, after its first chunk."""
        self._head_fed_since = -1
        """The seq of the chunk the unfinished head began in (-1: none pending)."""
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
        self._data = b""
        self.continue_wanted = False
        """This request's head asked for `100 Continue` and has not been offered it yet."""
        self._expects_continue = False
        self._length = b""
        """This head's `Expect: 100-continue` and Content-Length, noted as llhttp
        reports each header (one pass, not one per question at the head's end)."""
        self.failed = False
        self.upgraded = False

    def feed(self, data: bytes, seq: int, t: float) -> list[ParsedRequest | ParseFailure]:
        """Feed one chunk; returns the requests it completed (or the failure)."""
        if self.failed or self.upgraded:
            return []
        self._seq, self._t, self._data = seq, t, data
        out = self._out = []
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.upgraded = True
            if out and isinstance(out[-1], ParsedRequest):
                out[-1] = out[-1]._replace(upgrade=True)
        except httptools.HttpParserCallbackError as error:
            refused = error.__context__
            self.failed = True
            if isinstance(refused, _Refused):
                out.append(self._failure(refused.error, refused.status))
            else:
                out.append(self._failure(error_text(error)))
        except httptools.HttpParserError as error:
            self.failed = True
            text = error_text(error)
            if text.startswith("Pause on PRI"):
                out.append(self._failure(H2_PREFACE_ERROR, 505))
            elif not out and not self._headers_done and data.startswith(_TLS_HANDSHAKE):
                out.append(self._failure(TLS_ERROR, target=b""))  # binary: no target to show
            elif text == _NOT_HTTP_VERSION:
                out.append(self._bad_request_line(data))
            else:
                out.append(self._failure(text))
        else:
            if self._started and not self._headers_done:
                self._check_pending_head(data, seq)
        return out

    def take_continue(self) -> ParsedRequest | None:
        """The head of a request waiting for `100 Continue`, once; None for any other.

        An HTTP/1.1 head with `Expect: 100-continue` (RFC 9110 §10.1.1) that is
        complete while none of its body has arrived: the client waits for the
        interim answer (curl for 1 s) before sending the body. An HTTP/1.0
        expectation is ignored, as the RFC says; a body already on its way
        needs no invitation.
        """
        if not self.continue_wanted:
            return None
        self.continue_wanted = False
        if not (self._started and self._headers_done) or self.failed or self._body_len:
            return None
        request = HttpRequest(
            self._parser.get_method(), self._url, "1.1", tuple(self._headers), b"", 0
        )
        return ParsedRequest(request, self._first_chunk, self._seq, self._t_start, self._t)

    @property
    def head_pending(self) -> bool:
        """A request has begun and its head is not complete yet (the header timer runs)."""
        return self._started and not self._headers_done and not self.failed

    def time_out(self) -> ParseFailure:
        """The head did not arrive within the header timeout: 408, and the reader stops."""
        self.failed = True
        limit = self._limits.header_timeout if self._limits else 0.0
        return self._failure(
            f"request head not complete within {limit:g} s ({OPTION['header_timeout']})", 408
        )

    def feed_eof(self, how: str) -> ParseFailure | None:
        """The stream ended (`how`: "closed", "reset"); a request cut short, if one was."""
        if self.failed or self.upgraded or not self._started:
            return None
        self.failed = True
        part = "body" if self._headers_done else "head"
        return self._failure(f"connection {how} before the request {part} was complete")

    def _check_pending_head(self, data: bytes, seq: int) -> None:
        """An unfinished head: HTTP/0.9, or growing past the limits without a header end."""
        # A line end after the target while llhttp still has no version: the
        # request line was `GET /` alone (llhttp would wait for headers forever).
        version_missing = self._url and b"\n" in data and not self._headers
        if version_missing and self._parser.get_http_version() == "0.0":
            self.failed = True
            self._out.append(self._failure(HTTP09_ERROR, 505))
            return
        limits = self._limits
        if limits is None:
            return
        # A header llhttp is still reading is not reported yet: bound the raw
        # bytes too (whole chunks after the first; the request line and line
        # ends count here, so the bound is the head's limit plus the line's).
        if self._head_fed_since == -1:
            self._head_fed_since = seq
        elif self._head_fed_since != seq:
            self._raw_head_bytes += len(data)
        if self._raw_head_bytes > limits.max_header_bytes + limits.max_request_line:
            self.failed = True
            error = _over("max_header_bytes", "request head", limits.max_header_bytes)
            self._out.append(self._failure(error, 431))

    # -- httptools callbacks -------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_bytes = self._raw_head_bytes = 0
        self._head_fed_since = -1
        self._started = True
        self._headers_done = False
        self.continue_wanted = False
        self._expects_continue = False
        self._length = b""
        self._first_chunk = self._seq
        self._t_start = self._t

    def on_url(self, url: bytes) -> None:
        self._url += url
        limits = self._limits
        if limits is not None and len(self._url) > limits.max_request_line:
            size = limits.max_request_line
            raise _Refused(414, _over("max_request_line", "request target", size))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        size = len(name)
        if size == 14 and name.lower() == b"content-length":
            self._length = value
        elif size == 6 and name.lower() == b"expect" and value.lower() == b"100-continue":
            self._expects_continue = True
        limits = self._limits
        if limits is not None:
            self._head_bytes += len(name) + len(value) + 4
            if len(self._headers) > limits.max_header_fields:
                count = limits.max_header_fields
                raise _Refused(431, _over("max_header_fields", "header fields", count))
            if self._head_bytes > limits.max_header_bytes:
                size = limits.max_header_bytes
                raise _Refused(431, _over("max_header_bytes", "request head", size))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._expects_continue:
            self.continue_wanted = self._parser.get_http_version() == "1.1"
        limits = self._limits
        # llhttp has already refused a duplicate, negative or non-numeric length.
        if limits is not None and self._length and int(self._length) > limits.max_body:
            raise _Refused(413, _over("max_body", "announced body", limits.max_body))

    def on_body(self, body: bytes) -> None:
        limits = self._limits
        if limits is not None and self._body_len + len(body) > limits.max_body:
            raise _Refused(413, _over("max_body", "request body", limits.max_body))
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

    def _bad_request_line(self, data: bytes) -> ParseFailure:
        """A request line with more than three parts, or a third that is no version."""
        line = data.split(b"\n", 1)[0].rstrip(b"\r")
        parts = line.split(b" ")
        if len(parts) > 3 and parts[-1].startswith(b"HTTP/"):
            # The whole target, spaces and all: llhttp's stops at the first.
            return self._failure(SPACE_IN_TARGET_ERROR, target=b" ".join(parts[1:-1])[:256])
        return self._failure(NOT_HTTP_VERSION_ERROR)

    def _failure(self, error: str, status: int = 400, target: bytes | None = None) -> ParseFailure:
        try:
            # llhttp reports DELETE (method 0) until it has read one: ask only once
            # the URL or the headers show the method was complete.
            method = self._parser.get_method() if (self._headers_done or self._url) else b""
        except httptools.HttpParserError:
            method = b""
        version = ""
        if self._headers_done:  # the head was read whole: its version is known
            with contextlib.suppress(httptools.HttpParserError):
                version = self._parser.get_http_version()
        body = b"".join(self._body)
        given, target = target is not None, self._url if target is None else target
        if not given and not target and not self._headers_done:
            # llhttp gave up inside the request line: keep what the client sent
            # there (shown escaped), so the record says more than "?".
            target = self._data.split(b"\n", 1)[0].rstrip(b"\r")[:256]
        request = HttpRequest(
            method,
            target,
            version if version != "0.0" else "",
            tuple(self._headers),
            body,
            self._body_len,
            self._body_len > len(body),
            False,
            error,
        )
        first = self._first_chunk if self._started else self._seq
        t_start = self._t_start if self._started else self._t
        return ParseFailure(error, request, first, self._seq, t_start, self._t, status)
