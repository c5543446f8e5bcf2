"""A message body as the HTTP tab shows it: codings undone, decoded, capped, inert.

Every string from the wire goes through `textsafe` into a rich `Text` as plain
text with a style (JSON is coloured token by token this way); nothing here is
ever parsed as markup. The raw bytes are untouched: the Bytes tab and the
session keep what was sent, gzip and all.
"""

from __future__ import annotations

from rich.text import Text

from netbench.model import Headers, header_value
from netbench.protocol.bodies import DecodedBody, decode_body
from netbench.protocol.content_coding import (
    DecodedContent,
    content_codings,
    undo_content_coding,
)
from netbench.protocol.hexdump import hexdump_lines
from netbench.protocol.json_text import JsonPiece, json_pieces
from netbench.protocol.textsafe import visible_latin1, visible_text

BODY_SHOWN = 64 * 1024
"""Characters of a decoded body shown; the Bytes tab has the rest."""
BODY_DECODED = 1024 * 1024
"""Bodies up to this size are decoded whole; longer ones from their start."""
BODY_QUICK = 64 * 1024
"""Bodies up to this size, with no content coding, are shown without a thread."""
FIELDS_SHOWN = 500
RAW_HINT = "raw bytes: Bytes tab (b)"

JSON_STYLES: dict[JsonPiece, str] = {
    "key": "bold cyan",
    "string": "green",
    "number": "magenta",
    "literal": "yellow",
    "punct": "dim",
}


def quick(headers: Headers, body: bytes) -> bool:
    """True when showing this body takes no noticeable time (no thread needed)."""
    coded = any(name != "identity" for name in content_codings(headers))
    return len(body) <= BODY_QUICK and not coded


def body_document(
    doc: Text, headers: Headers, body: bytes, body_len: int, truncated: bool, *, coded: bool = True
) -> None:
    """The body, content codings undone, decoded by its Content-Type (or sniffed).

    `coded=False`: the body is already decoded whatever the headers say (a
    browser saves a HAR's bodies so), so no coding is undone.
    """
    content_type = header_value(headers, b"content-type")
    content = undo_content_coding(headers, body) if coded else DecodedContent(body)
    shown = content.body
    decoded = decode_body(content_type, shown if len(shown) <= BODY_DECODED else shown[:BODY_SHOWN])
    label: list[str] = [decoded.kind]
    if content_type is not None:
        label.append(visible_latin1(content_type))
    label.append(f"{body_len} bytes")
    doc.append("\nBody · " + " · ".join(label) + "\n", "bold")
    if truncated:
        doc.append(f"  recording kept the first {len(body)} of {body_len} bytes\n", "yellow")
    codings = [coding for coding in content_codings(headers) if coding != "identity"]
    if not coded and codings:
        doc.append(f"  {visible_text(', '.join(codings))}: already undone in the HAR\n", "cyan")
    for step in content.steps:
        doc.append(f"  {step.describe()}\n", "cyan")
    if content.error:
        doc.append(f"  {visible_text(content.error)}\n", "bold yellow")
    if decoded.error:
        doc.append(f"  {visible_text(decoded.error)}\n", "bold yellow")
    _decoded(doc, decoded, shown, len(shown) if content.steps else body_len)


def _decoded(doc: Text, decoded: DecodedBody, data: bytes, size: int) -> None:
    lines: list[str] = []
    if decoded.kind == "empty":
        doc.append("  (no body)\n", "dim")
    elif decoded.kind in ("form", "multipart"):
        fields = decoded.fields[:FIELDS_SHOWN]
        width = min(24, max((len(visible_text(name)) for name, _ in fields), default=0))
        for name, value in fields:
            doc.append(f"  {visible_text(name):<{width}}", "bold")
            doc.append(f"  {visible_text(value[:BODY_SHOWN])}\n")
        if len(decoded.fields) > FIELDS_SHOWN:
            doc.append(f"  … {len(decoded.fields) - FIELDS_SHOWN} more fields\n", "dim")
    elif decoded.kind == "image" and decoded.image is not None:
        doc.append(f"  {decoded.image.describe()}\n", "italic")
    elif decoded.kind == "binary":
        doc.append(f"  binary, {size} bytes; the first 256:\n", "italic")
        lines = list(hexdump_lines(data[:256]))
    else:
        lines = (decoded.json_pretty or decoded.text or "").split("\n")
        if len(lines) > 1 and not lines[-1]:
            lines.pop()
    json = decoded.kind == "json"
    shown = 0
    for line in lines:
        if shown >= BODY_SHOWN:
            doc.append(f"  … cut at {BODY_SHOWN // 1024} KiB; {RAW_HINT}\n", "dim")
            break
        part = line[: BODY_SHOWN - shown]
        if json:
            _json_line(doc, part)
        else:
            doc.append("  " + visible_text(part) + "\n")
        shown += len(line) + 1


def _json_line(doc: Text, line: str) -> None:
    """One line of re-indented JSON, each token styled by its kind."""
    doc.append("  ")
    for kind, piece in json_pieces(line):
        doc.append(visible_text(piece), JSON_STYLES.get(kind, ""))
    doc.append("\n")
