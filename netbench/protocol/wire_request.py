"""A recorded request's bytes, split as they were spelled on the wire. Pure.

The exports that send a request again (curl, HTTPie, Python, nc) start from
the bytes the socket carried, not from the parser's reading of them: llhttp
trims a header value's whitespace and drops a Content-Length's place among
the headers, and a malformed request has no reading at all.

Rules:
- `split_request` never fails: what is not a plain HTTP/1.x head (LF-only
  line ends, a folded header line, a line without a colon, a request line
  that is not `METHOD SP TARGET SP HTTP/x.y`) is named in `irregular`, and
  the exports that can only send a well-formed head say so and point to the
  raw form, which sends every byte;
- a header keeps its name as spelled and its value as the bytes between the
  colon and the line end, whitespace included (`b"  a b "`);
- `body` is everything after the blank line, framing and all: a chunked
  body keeps its chunk sizes (`unchunked` gives the payload).
"""

from __future__ import annotations

from dataclasses import dataclass

import httptools

__all__ = [
    "BODY_INLINE_LIMIT",
    "Export",
    "WireRequest",
    "nul_caveats",
    "server_parts",
    "split_request",
]

BODY_INLINE_LIMIT = 4096
"""Bodies longer than this are written to a file beside the command, not inlined."""


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One request's bytes: the head's parts as spelled, and the body as framed."""

    raw: bytes
    """Every byte of the request, as recorded."""
    method: bytes
    target: bytes
    version: bytes
    """`1.1` from `HTTP/1.1`; empty when the request line has another shape."""
    headers: tuple[tuple[bytes, bytes], ...]
    """(name, value) in wire order; the value with its whitespace."""
    body: bytes
    """After the blank line, as sent (chunked framing kept)."""
    irregular: tuple[str, ...]
    """Why the head is not plain `Name: value` lines ending in CRLF (empty: it is)."""

    def header(self, name: bytes) -> bytes | None:
        """The first value of header `name` (any case), stripped; None if absent."""
        wanted = name.lower()
        for field, value in self.headers:
            if field.lower() == wanted:
                return value.strip(b" \t")
        return None

    @property
    def chunked(self) -> bool:
        coding = self.header(b"transfer-encoding")
        return coding is not None and coding.lower().rstrip().endswith(b"chunked")

    @property
    def head(self) -> bytes:
        """The bytes before the body (the blank line included)."""
        return self.raw[: len(self.raw) - len(self.body)]

    def unchunked(self) -> bytes:
        """The body's payload: the chunks' data without their framing.

        A client that frames a body itself (curl, requests) takes this; the
        framing it adds will have its own chunk sizes. Not chunked, or not
        valid chunking: the body as it is.
        """
        if not self.chunked or self.irregular:
            return self.body
        parts: list[bytes] = []

        class Collect:
            def on_body(self, data: bytes) -> None:
                parts.append(data)

        parser = httptools.HttpRequestParser(Collect())
        try:
            parser.feed_data(self.raw)
        except httptools.HttpParserError:
            return self.body
        return b"".join(parts)


def _request_line(line: bytes, problems: list[str]) -> tuple[bytes, bytes, bytes]:
    parts = line.split(b" ")
    if len(parts) == 3 and parts[2].startswith(b"HTTP/") and all(parts):
        return parts[0], parts[1], parts[2][5:]
    problems.append("the request line is not `METHOD TARGET HTTP/x.y` with single spaces")
    pieces = line.split()
    method = pieces[0] if pieces else b""
    target = pieces[1] if len(pieces) > 1 else b""
    return method, target, b""


def split_request(raw: bytes) -> WireRequest:
    """`raw` split into request line, headers and body (see the module's rules)."""
    problems: list[str] = []
    lines: list[bytes] = []
    body = b""
    position = 0
    while True:
        newline = raw.find(b"\n", position)
        if newline < 0:
            if raw[position:]:
                lines.append(raw[position:])
            problems.append("the head has no blank line after it (the request was cut short)")
            break
        line = raw[position:newline]
        if not line.endswith(b"\r"):
            problems.append("some lines end in a bare LF, not CRLF")
        line = line.removesuffix(b"\r")
        position = newline + 1
        if not line and lines:
            body = raw[position:]
            break
        lines.append(line)
    method, target, version = _request_line(lines[0] if lines else b"", problems)
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            problems.append("a header line is folded onto the next (obsolete line folding)")
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.rstrip(b" \t"):
            problems.append(f"a header line is not `Name: value`: {line[:40]!r}")
            continue
        headers.append((name, value))
    return WireRequest(
        raw, method, target, version, tuple(headers), body, tuple(dict.fromkeys(problems))
    )


@dataclass(frozen=True, slots=True)
class Export:
    """A command (or program) that sends a recorded request again."""

    text: str
    """The command: inert text (no control character), safe to show and paste."""
    body: bytes | None = None
    """Bytes the command reads from the body file it names; None: it needs none."""
    caveats: tuple[str, ...] = ()
    """What it cannot send as recorded, one line each (the nc form sends every byte)."""


def server_parts(server: str) -> tuple[str, int]:
    """`127.0.0.1:8000` or `[::1]:8000` -> (host, port)."""
    host, _, port = server.rpartition(":")
    return host.strip("[]"), int(port)


def nul_caveats(wire: WireRequest) -> list[str]:
    """A command line cannot carry NUL bytes in the method, target or a header."""
    fields = [("method", wire.method), ("target", wire.target)]
    fields += [(f"header {name.decode('latin-1')}", name + value) for name, value in wire.headers]
    return [
        f"NUL bytes in the {where} are left out (a command line cannot hold them)"
        for where, data in fields
        if b"\0" in data
    ]
