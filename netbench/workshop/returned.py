"""What a step's call returned, in one line a room can read.

The bytes pane shows the bytes; this line says what they were. An HTTP
response is its status line and its body's size and type (a JPEG's bytes
dumped here filled the checks pane with `\\xff\\xd8\\xff\\xe0␀␐JFIF…`);
other binary data is said to be binary; text is shown, made inert. Numbers
are written as the bytes pane writes them. Pure: bytes in, a visible string
out (`textsafe`: no control byte from the network reaches the terminal).
"""

from __future__ import annotations

from netbench.model import HttpResponse
from netbench.protocol.hexdump import looks_binary
from netbench.protocol.http_parse import ResponseStream
from netbench.protocol.textsafe import visible

PREVIEW = 200
"""Bytes of a text result shown."""
BODY_PREVIEW = 60
"""Bytes of a text body shown after its type."""


def returned_summary(data: bytes) -> str:
    """`data` said in one line: HTTP responses summarised, binary bytes counted, text shown."""
    if data.startswith(b"HTTP/"):
        stream = ResponseStream()
        stream.feed(data)
        if stream.responses:
            return "; then ".join(_response(r) for r in stream.responses)
    if looks_binary(data):
        return "binary data, not shown here"
    return visible(data[:PREVIEW])


def _response(response: HttpResponse) -> str:
    head = f"HTTP/{visible(response.version.encode())} {response.status} {visible(response.reason)}"
    if not response.body_len:
        return f"{head}, no body"
    kind = response.header(b"content-type")
    named = visible(kind.split(b";")[0].strip()) if kind else "no Content-Type"
    said = f"{head}, {response.body_len} B, {named}"
    if looks_binary(response.body):
        return said
    more = "…" if response.body_len > BODY_PREVIEW else ""
    return f"{said}: {visible(response.body[:BODY_PREVIEW])}{more}"
