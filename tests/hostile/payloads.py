"""The hostile requests, shared by the server cases and the TUI barrage."""

from __future__ import annotations

import random

HOST = b"Host: 127.0.0.1\r\n"
CLOSE = b"Connection: close\r\n\r\n"

REFUSED_WITH_400 = {
    "content-length-and-transfer-encoding": b"POST /smuggle HTTP/1.1\r\n" + HOST
    + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate-content-length": b"POST /dup HTTP/1.1\r\n" + HOST
    + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "negative-content-length": b"POST /neg HTTP/1.1\r\n" + HOST
    + b"Content-Length: -1\r\n\r\n",
    "non-numeric-content-length": b"POST /nan HTTP/1.1\r\n" + HOST
    + b"Content-Length: 12abc\r\n\r\n",
    "bad-chunk-size": b"POST /chunks HTTP/1.1\r\n" + HOST
    + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "nul-in-request-line": b"GET /a\x00b HTTP/1.1\r\n" + HOST + b"\r\n",
    "control-byte-in-header-name": b"GET / HTTP/1.1\r\n" + HOST + b"X-\x01Evil: 1\r\n\r\n",
    "random-binary": bytes(random.Random(5).randrange(256) for _ in range(512)),
}  # fmt: skip
"""Framing that cannot be trusted (RFC 9112 §6.1, request smuggling): 400 and close."""

OVERSIZED = {
    "long-request-line": b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n" + HOST + CLOSE,
    "huge-header": b"GET /huge-header HTTP/1.1\r\n" + HOST + b"X-Big: " + b"b" * 70_000
    + b"\r\n" + CLOSE,
    "many-fields": b"GET /many-fields HTTP/1.1\r\n" + HOST
    + b"".join(b"X-F%d: v\r\n" % n for n in range(150)) + CLOSE,
}  # fmt: skip
"""Over the default limits (414, 431, 431)."""

HTTP09 = b"GET /\r\n"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

PAYLOADS = {
    "markup": b"/[bold]x[/][@click=app.quit]q[/]",
    "osc-title-and-clipboard": b"/\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07",
    "csi-clear-screen": b"/\x1b[2J\x1b[H",
    "c1-csi": b"/\xc2\x9b31m",
    "non-utf8": b"/\xff\xfe\xc3(",
    "del-and-nul-escaped": b"/%7f%00",
}
"""Paths (also sent as a header value and a body) that must be shown, never obeyed."""


def carrying(path: bytes) -> bytes:
    """A request with `path` in its request line, a header and its body."""
    return (
        b"POST " + path + b" HTTP/1.1\r\n" + HOST + b"X-Payload: " + path + b"\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(path) + path
    )


def in_a_header(path: bytes) -> bytes:
    """A sound request line; `path` only in a header value (so the parser accepts it)."""
    return b"GET /header-payload HTTP/1.1\r\n" + HOST + b"X-Payload: " + path + b"\r\n" + CLOSE
