"""An application's response (WSGI, ASGI) framed for HTTP/1.1 as it is produced. No I/O.

Rules:
- the app's status and headers go out as it gave them, in its order and
  case; the host adds only what HTTP/1.1 needs and the app left out: `Date`,
  `Server`, the body's framing and `Connection: close` when it will close;
- framing, in order: the app's own `Content-Length` (a body longer than it is
  cut there, a shorter one closes the connection); the app's own
  `Transfer-Encoding` (its bytes go out as given, then the connection
  closes); no body (HEAD, 1xx, 204, 304); the length of a body known whole
  before the head goes out (a one-piece body); chunked for an HTTP/1.1
  client; else the body ends when the connection closes (HTTP/1.0);
- the description (`response`) holds the body as the app made it, not its
  chunked framing, kept up to `body_limit` bytes like every parsed body;
- a header the app gives with a line break or a byte that is not latin-1 is
  refused (`AppResponseError`) before anything is sent: a 500, not an
  injected header.
"""

from __future__ import annotations

import http
import re
import time

from netbench.model import HttpResponse
from netbench.protocol.http_response_parse import DEFAULT_BODY_LIMIT
from netbench.protocol.responses import SERVER_HEADER, HttpDate

Headers = list[tuple[bytes, bytes]]


class AppResponseError(Exception):
    """The app's status or headers cannot go on the wire; the message says why."""


def reason_for(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


_NOT_IN_NAME = re.compile(b"[\r\n:\0 \t]")
_NOT_IN_VALUE = re.compile(b"[\r\n\0]")


def check_header(name: bytes, value: bytes) -> None:
    if not name or _NOT_IN_NAME.search(name):
        raise AppResponseError(f"the app's header name {name!r} is not a valid field name")
    if _NOT_IN_VALUE.search(value):
        raise AppResponseError(f"the app's header {name.decode('latin-1')} holds a line break")


_DATE = HttpDate()


class ResponseFramer:
    """Frames one response; `start` once, then `body` per piece, then `end`."""

    def __init__(
        self,
        *,
        method: bytes,
        version: str,
        keep_alive: bool,
        body_limit: int = DEFAULT_BODY_LIMIT,
    ) -> None:
        self.head_only = method == b"HEAD"
        self.version = version
        self.keep_alive = keep_alive
        """Whether the connection may stay open after it (False once framing needs a close)."""
        self.body_limit = body_limit
        self.problem: str | None = None
        """What went wrong with the body's length, for the record."""
        self._mode = ""
        self._expected = 0
        self._sent = 0
        self._kept: list[bytes] = []
        self._kept_len = 0
        self._status = 0
        self._reason = b""
        self._headers: Headers = []

    @property
    def date(self) -> bytes:
        """The Date header for now (RFC 9110 §6.6.1: when the response is made),
        not the request's arrival: an app may take seconds to answer."""
        return _DATE.at(time.time())

    @property
    def started(self) -> bool:
        return bool(self._mode)

    def start(
        self, status: int, reason: bytes, headers: Headers, *, total: int | None = None
    ) -> bytes:
        """The head; `total` is the body's whole length when it is known already."""
        if not 100 <= status <= 999:
            raise AppResponseError(f"the app's status {status} is not a 3-digit HTTP status")
        for name, value in headers:
            check_header(name, value)
        names = {name.lower() for name, _value in headers}
        out = list(headers)
        length = next((v for n, v in headers if n.lower() == b"content-length"), None)
        bodiless = self.head_only or status in (204, 304) or 100 <= status < 200
        if length is not None and length.strip().isdigit():
            self._mode, self._expected = "length", int(length)
        elif b"transfer-encoding" in names:
            self._mode, self.keep_alive = "app", False
        elif bodiless:
            self._mode = "none"
            if self.head_only and total is not None and status not in (204, 304):
                out.append((b"Content-Length", str(total).encode()))
        elif total is not None:
            self._mode, self._expected = "length", total
            out.append((b"Content-Length", str(total).encode()))
        elif self.version == "1.1":
            self._mode = "chunked"
            out.append((b"Transfer-Encoding", b"chunked"))
        else:
            self._mode, self.keep_alive = "close", False
        if bodiless and self._mode == "length":
            self._mode = "none"
        connection = next((v for n, v in headers if n.lower() == b"connection"), b"")
        if b"close" in connection.lower():
            self.keep_alive = False
        if b"date" not in names and self.date:
            out.insert(0, (b"Date", self.date))
        if b"server" not in names:
            out.insert(0, (b"Server", SERVER_HEADER))
        if not self.keep_alive and b"connection" not in names:
            out.append((b"Connection", b"close"))
        self._status, self._reason, self._headers = status, reason, out
        lines = [b"HTTP/1.1 %d %s" % (status, reason)]
        lines.extend(name + b": " + value for name, value in out)
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def body(self, data: bytes) -> bytes:
        """The bytes that carry this piece of the body (b"" when nothing goes out)."""
        mode = self._mode
        if not data or mode == "none":
            return b""
        if mode == "length":
            room = self._expected - self._sent
            if len(data) > room:
                self.problem = f"the app sent more than its Content-Length {self._expected}"
                data = data[: max(room, 0)]
        self._keep(data)
        if mode == "chunked":
            return b"%x\r\n" % len(data) + data + b"\r\n"
        return data

    def end(self) -> bytes:
        """The end of the body: the last chunk, or nothing."""
        if self._mode == "chunked":
            return b"0\r\n\r\n"
        if self._mode == "length" and self._sent < self._expected:
            self.problem = (
                f"the app sent {self._sent} of the {self._expected} bytes its "
                "Content-Length announced; the connection is closed"
            )
            self.keep_alive = False
        return b""

    def _keep(self, data: bytes) -> None:
        self._sent += len(data)
        room = self.body_limit - self._kept_len
        if room > 0:
            kept = data[:room]
            self._kept.append(kept)
            self._kept_len += len(kept)

    def response(self, error: str | None = None) -> HttpResponse:
        """What was sent, as the record keeps it."""
        body = b"".join(self._kept)
        return HttpResponse(
            status=self._status or None,
            reason=self._reason,
            version="1.1",
            headers=tuple(self._headers),
            body=body,
            body_len=self._sent,
            body_truncated=self._sent > len(body),
            error=error or self.problem,
        )
