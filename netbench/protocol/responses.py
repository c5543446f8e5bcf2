"""Responses as raw bytes, and the plans that send them. No I/O.

A `Reply` is what a handler returns: the steps to perform on the wire (bytes
to write, pauses, a file slice to stream, bytes produced while sending (an
application's response), hanging up with FIN or RST) and what the response says (`HttpResponse`, read back from the bytes by llhttp, so a
deliberately malformed response is described as what it is).

Responses are composed as bytes, never through a library that would "fix"
them: a wrong Content-Length, LF-only line ends or a missing status line are
all possible on purpose. `normalize_raw` is the one place that tidies a
hand-written response, and only when asked (not in raw mode). `raw_reply`
also honours the `#!netbench` directive lines (protocol/directives.py) that
drip, delay, cut or reset a hand-written response.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from email.utils import formatdate

from netbench import __version__
from netbench.model import HttpResponse
from netbench.protocol.directives import DirectiveError, Directives, parse_directives
from netbench.protocol.http_response_parse import describe_response
from netbench.protocol.textsafe import page_text

SERVER_HEADER = f"netbench/{__version__}".encode()


class Hangup(enum.Enum):
    CLOSE = "close"
    """Close now with FIN (after what was written)."""
    RESET = "reset"
    """Abort now with RST: what was not yet sent is lost."""


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float


@dataclass(frozen=True, slots=True)
class FileSlice:
    """Stream part of a file without loading it whole (static files)."""

    path: str
    offset: int
    length: int


class Stream(abc.ABC):
    """Bytes produced while the reply is sent: an application's response, written
    piece by piece as it makes them (each piece one recorded chunk).

    What was sent is only known at the end: the producer sets `response` (else
    the reply's is recorded) and clears `keep_alive` when the connection must
    close after it (a body delimited by closing, an app that failed midway).
    """

    response: HttpResponse | None = None
    keep_alive: bool = True
    close_detail: str | None = None
    """Why the connection closes after it, for the record (None: an ordinary close)."""

    @abc.abstractmethod
    def pieces(self) -> AsyncGenerator[bytes, None]:
        """The bytes to write, in order; closed early (aclose) if the client goes."""

    def abandon(self) -> None:  # noqa: B027 (most streams have nothing to stop)
        """Its turn will never come (the connection ended): stop whatever makes it."""


Step = bytes | Pause | FileSlice | Hangup | Stream


@dataclass(frozen=True, slots=True)
class Reply:
    steps: tuple[Step, ...]
    response: HttpResponse
    keep_alive: bool = True
    """False closes the connection (FIN) once the steps are done."""
    source: str = ""
    """Which responder produced it ("page", "rule /api/*", "file x.http"...)."""

    @property
    def simple(self) -> bytes | None:
        """The bytes when the whole reply is one write (the fast path)."""
        if len(self.steps) == 1 and type(self.steps[0]) is bytes:
            return self.steps[0]
        return None


_REASONS = {
    # RFC 9110 section 15, with RFC 6585's (428, 429, 431, 511), RFC 8297's 103 and
    # RFC 7725's 451: a page netbench sends (a 504 from the proxy) names its status.
    100: "Continue",
    101: "Switching Protocols",
    103: "Early Hints",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    511: "Network Authentication Required",
}


def reason_phrase(status: int) -> str:
    return _REASONS.get(status, "Unknown")


class HttpDate:
    """The Date header value, formatted once per second (it is on every response)."""

    __slots__ = ("_formatted",)

    def __init__(self) -> None:
        self._formatted = (-1, b"")
        """(second, value) in one attribute: apps' worker threads read it too."""

    def at(self, unix_time: float) -> bytes:
        second = int(unix_time)
        formatted = self._formatted
        if second != formatted[0]:
            formatted = self._formatted = (second, formatdate(second, usegmt=True).encode())
        return formatted[1]


def build_response(
    status: int,
    body: bytes = b"",
    *,
    content_type: bytes | None = b"text/html; charset=utf-8",
    headers: tuple[tuple[bytes, bytes], ...] = (),
    keep_alive: bool = True,
    head_only: bool = False,
    date: bytes = b"",
    source: str = "",
    content_length: int | None = None,
) -> Reply:
    """A well-formed HTTP/1.1 response in one write (one segment, no Nagle stall).

    `content_length` announces a body sent separately (a streamed file) or not
    at all (HEAD); by default it is the length of `body`.
    """
    lines = [f"HTTP/1.1 {status} {reason_phrase(status)}".encode()]
    lines.append(b"Server: " + SERVER_HEADER)
    if date:
        lines.append(b"Date: " + date)
    if content_type is not None and (body or status not in (204, 304)):
        lines.append(b"Content-Type: " + content_type)
    if status not in (204, 304) and not (100 <= status < 200):
        length = len(body) if content_length is None else content_length
        lines.append(b"Content-Length: " + str(length).encode())
    lines.extend(name + b": " + value for name, value in headers)
    if not keep_alive:
        lines.append(b"Connection: close")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    sent = head if head_only else head + body
    meta = HttpResponse(
        status=status,
        reason=reason_phrase(status).encode(),
        version="1.1",
        headers=_header_pairs(lines[1:]),
        body=b"" if head_only else body,
        body_len=0 if head_only else len(body),
    )
    return Reply((sent,), meta, keep_alive, source)


def _header_pairs(lines: list[bytes]) -> tuple[tuple[bytes, bytes], ...]:
    pairs = []
    for line in lines:
        name, _, value = line.partition(b": ")
        pairs.append((name, value))
    return tuple(pairs)


def error_page(
    status: int,
    message: str,
    *,
    keep_alive: bool = False,
    head_only: bool = False,
    date: bytes = b"",
    source: str = "netbench",
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> Reply:
    """A small HTML error page; `message` goes through `page_text` (it may quote the request)."""
    title = f"{status} {reason_phrase(status)}"
    body = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body><h1>{title}</h1>\n"
        f"<p>{page_text(message)}</p>\n<hr><p>{SERVER_HEADER.decode()}</p></body></html>\n"
    ).encode()
    return build_response(
        status,
        body,
        headers=headers,
        keep_alive=keep_alive,
        head_only=head_only,
        date=date,
        source=source,
    )


def split_head(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(head, separator, body) of a hand-written response, CRLF or LF style."""
    crlf = raw.find(b"\r\n\r\n")
    lf = raw.find(b"\n\n")
    if crlf != -1 and (lf == -1 or crlf <= lf):
        return raw[:crlf], b"\r\n\r\n", raw[crlf + 4 :]
    if lf != -1:
        return raw[:lf], b"\n\n", raw[lf + 2 :]
    return raw, b"", b""


def normalize_raw(
    raw: bytes, *, head_only: bool = False, keep_alive: bool = True, fix_length: bool = True
) -> bytes:
    """Tidy a hand-written response file the way a user means it.

    LF line ends in the head become CRLF; a missing Content-Length is filled
    in (unless Transfer-Encoding is given, or `fix_length` is off: then the
    Content-Length goes out as typed, or not at all); `Connection: close` is
    added when netbench will close after it; a HEAD request gets the head
    alone. The body is never touched. Raw mode skips all of this.
    """
    head, _sep, body = split_head(raw)
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")]
    while lines and not lines[0]:
        lines.pop(0)  # a stray blank line before the status line
    names = {line.partition(b":")[0].strip().lower() for line in lines[1:]}
    status_line = lines[0] if lines else b""
    parts = status_line.split(b" ", 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    bodiless = status in (204, 304) or 100 <= status < 200
    framed = b"content-length" in names or b"transfer-encoding" in names
    if fix_length and not framed and not bodiless:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    if not keep_alive and b"connection" not in names:
        lines.append(b"Connection: close")
    out = b"\r\n".join(lines) + b"\r\n\r\n"
    return out if head_only else out + body


def raw_reply(
    raw: bytes,
    *,
    raw_mode: bool = False,
    head_only: bool = False,
    keep_alive: bool = True,
    fix_length: bool = True,
    source: str = "",
    load_file: Callable[[str], bytes] | None = None,
    date: bytes = b"",
) -> Reply:
    """A reply that sends a hand-written response (a file, a rule, the editor).

    Leading `#!netbench` directive lines (protocol/directives.py) are read
    and stripped, in raw mode too; a wrong one gets a 500 page naming it.
    `load_file` reads a `body-file` directive's file (the caller does the I/O).
    """
    try:
        directives, raw = parse_directives(raw)
        if directives.body_file is not None:
            raw = _with_body_file(raw, directives.body_file, load_file)
    except DirectiveError as error:
        message = f"Response directive error: {error}"
        return error_page(500, message, head_only=head_only, date=date, source=source)
    data = (
        raw
        if raw_mode
        else normalize_raw(raw, head_only=head_only, keep_alive=keep_alive, fix_length=fix_length)
    )
    meta = describe_response(data, head_only=head_only)
    # A raw response without Content-Length is delimited by closing the connection.
    framed = meta.header(b"content-length") is not None or meta.header(b"transfer-encoding")
    keep = keep_alive and meta.error is None and bool(framed or head_only)
    if directives.plain:
        return Reply((data,), meta, keep, source)
    steps, sent = _plan(data, directives)
    if len(sent) < len(data):
        meta = describe_response(sent, head_only=head_only)
    return Reply(steps, meta, keep, source)


def _with_body_file(raw: bytes, name: str, load_file: Callable[[str], bytes] | None) -> bytes:
    head, sep, body = split_head(raw)
    if body.strip():
        raise DirectiveError(
            "body-file gives the body: delete the text after the blank line, or the directive"
        )
    if load_file is None:
        raise DirectiveError("body-file cannot be used here (no file access)")
    try:
        content = load_file(name)
    except (OSError, ValueError) as error:
        raise DirectiveError(f"body-file {name}: {error}") from None
    return head + (sep or b"\n\n") + content


def _plan(data: bytes, directives: Directives) -> tuple[tuple[Step, ...], bytes]:
    """The steps that send `data` as the directives say, and the bytes they send."""
    head, sep, _body = split_head(data)
    head_len = len(head) + len(sep)
    steps: list[Step] = []
    if directives.delay > 0:
        steps.append(Pause(directives.delay))
    cut = directives.cut
    if cut is not None:
        data = data[: (head_len if cut.after_head else 0) + cut.count]
    drip = directives.drip
    if drip is not None and len(data) > head_len:
        if head_len:
            steps.append(data[:head_len])
        for start in range(head_len, len(data), drip.size):
            if drip.seconds > 0:
                steps.append(Pause(drip.seconds))
            steps.append(data[start : start + drip.size])
    elif data:
        steps.append(data)
    if cut is not None:
        steps.append(Hangup.CLOSE if cut.hangup == "close" else Hangup.RESET)
    return tuple(steps), data
