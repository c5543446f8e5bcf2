"""Decode an HTTP message body into something a person can read.

Rules:
- pure and standard-library only: the body arrives whole, already de-chunked;
  Content-Encoding (gzip, br, ...) is not undone here: the caller does that
  first where it wants to (the HTTP tab, with `netbench.protocol.content_coding`);
- never raises, whatever the Content-Type and the bytes; a decoder that fails
  says why in `DecodedBody.error` and the body is then sniffed instead;
- the declared type picks the decoder: urlencoded form, multipart, JSON
  (application/json and any ``+json``), text/*. Otherwise, or when that fails,
  the bytes are sniffed: an image signature, then UTF-8 text with no control
  characters other than TAB, CR and LF, else binary. Image magic wins over a
  declared text/* type: a PNG served as text/html is reported as a PNG;
- JSON is shown as sent: re-indented token by token, never parsed into
  values and written back (duplicate keys, ``1e2`` and escapes stay);
- every string returned is valid Unicode: a lone surrogate (which UTF-7 can
  produce) becomes U+FFFD (a JSON ``\\ud800`` escape stays an escape), so the
  result can always be encoded, stored and printed;
- nothing else here is sanitised. `fields`, `json_pretty`, `text` and `error` hold
  whatever the wire carried, escape sequences included; the caller passes
  them through `netbench.protocol.textsafe` before anything is displayed.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from email import errors as email_errors
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from email.utils import collapse_rfc2231_value
from typing import Literal
from urllib.parse import parse_qsl

from netbench.protocol.images import ImageInfo, describe_image
from netbench.protocol.json_text import JsonTextError, reindent

__all__ = ["BodyKind", "DecodedBody", "decode_body"]

BodyKind = Literal["empty", "form", "json", "multipart", "text", "image", "binary"]


@dataclass(frozen=True, slots=True)
class DecodedBody:
    """What a body turned out to be, decoded as far as its kind allows."""

    kind: BodyKind
    fields: tuple[tuple[str, str], ...] = ()
    """Form and multipart fields as (name, value), in wire order, duplicates kept.
    A multipart file part's value is ``<file NAME, N bytes, TYPE>``."""
    json_pretty: str | None = None
    """The JSON re-indented by 2, every token as sent (`netbench.protocol.json_text`)."""
    text: str | None = None
    """The decoded text of a text body (unsanitised)."""
    image: ImageInfo | None = None
    """Format and dimensions of an image body."""
    error: str | None = None
    """Why the declared type could not be honoured, e.g. ``invalid JSON: ...``."""


JSON_PRETTY_MAX = 8 * 1024 * 1024
"""Characters of re-indented JSON kept (a 1 MiB body of ``[[[[`` indents to many more)."""

_FORM = "application/x-www-form-urlencoded"
# C0 controls other than TAB, LF and CR, DEL, and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
# surrogateescape maps U+DC80..U+DCFF back to bytes; any other surrogate would
# make encode() raise.
_UNESCAPABLE_SURROGATE = re.compile(r"[\ud800-\udc7f\udd00-\udfff]")
# Codecs that decode bytes to text but are not character sets: escape
# interpreters (which also warn on bad escapes) and the IDNA transforms.
_NOT_CHARSETS = frozenset({"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode"})

# RFC 2231 parameters name their own charset, and the stdlib lets a bad one
# escape from header accessors and even from the parser.
_STDLIB_DECODE_ERRORS = (UnicodeError, LookupError)


class _RawHeaderPolicy(Compat32):
    """compat32, but header values keep their non-ASCII bytes.

    compat32 hands back a header holding non-ASCII bytes as a `Header` whose
    str() has lost them. Browsers send field and file names as raw UTF-8, so
    the surrogate-escaped value is returned as is for `_unsurrogate` to read.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_MULTIPART_POLICY = _RawHeaderPolicy()


def decode_body(content_type: bytes | None, body: bytes) -> DecodedBody:
    """Decode `body` as its raw `Content-Type` header value says, or sniff it."""
    if not body:
        return DecodedBody("empty")
    mime, charset = _parse_content_type(content_type)
    codec = _codec(charset)
    error = f"unknown charset {charset!r}" if charset is not None and codec is None else None

    if mime == _FORM:
        return DecodedBody("form", fields=_form_fields(body, codec), error=error)
    if mime is not None and mime.startswith("multipart/") and content_type is not None:
        fields, multipart_error = _multipart_fields(content_type, body)
        if fields is not None:
            return DecodedBody("multipart", fields=fields, error=multipart_error)
        error = multipart_error
    if mime is not None and (mime == "application/json" or mime.endswith("+json")):
        pretty, json_note = _pretty_json(body, codec)
        if pretty is not None:
            return DecodedBody("json", json_pretty=pretty, error=error or json_note)
        error = json_note

    image = describe_image(body)
    if image is not None:
        return DecodedBody("image", image=image, error=error)
    if mime is not None and mime.startswith("text/"):
        text = _decode(body, codec) if codec is not None else _utf8_or_latin1(body)
        return DecodedBody("text", text=text, error=error)
    sniffed = _strict_text(body, codec or "utf-8")
    if sniffed is not None:
        return DecodedBody("text", text=sniffed, error=error)
    return DecodedBody("binary", error=error)


def _parse_content_type(raw: bytes | None) -> tuple[str | None, str | None]:
    """(lower-case type/subtype or None if absent or malformed, charset or None)."""
    if raw is None:
        return None, None
    value = _header_value(raw).decode("latin-1")
    message = Message()
    message["Content-Type"] = value
    # get_content_type() quietly answers text/plain for a malformed value;
    # here a malformed type is no type.
    main = value.split(";", 1)[0].strip()
    mime = message.get_content_type() if main.count("/") == 1 else None
    return mime, message.get_content_charset()


def _header_value(raw: bytes) -> bytes:
    # A header value cannot contain a line break; one here would let the body
    # forge headers in the message built for the email parser.
    return raw.replace(b"\r", b" ").replace(b"\n", b" ")


def _codec(charset: str | None) -> str | None:
    """The codec name for a declared charset, or None if Python has no such text codec."""
    if charset is None:
        return None
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    # The flag bytes.decode() itself checks to refuse bytes-to-bytes codecs
    # (hex, zlib, base64); empty input slips past that check, so ask directly.
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:
        return None
    return info.name


def _decode(data: bytes, codec: str) -> str:
    try:
        return _scrub(data.decode(codec, "replace"))
    except _STDLIB_DECODE_ERRORS:
        return _utf8_or_latin1(data)


def _scrub(text: str) -> str:
    return _LONE_SURROGATE.sub("\ufffd", text)


def _utf8_or_latin1(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _strict_text(data: bytes, codec: str) -> str | None:
    """The text if `data` decodes strictly and holds no control characters."""
    try:
        text = data.decode(codec)
    except _STDLIB_DECODE_ERRORS:
        return None
    return None if _CONTROL.search(text) else _scrub(text)


def _form_fields(body: bytes, codec: str | None) -> tuple[tuple[str, str], ...]:
    # The charset applies both to raw bytes and to %XX escapes; when either is
    # not valid in it, every byte is read as latin-1 instead, which cannot fail.
    codec = codec or "utf-8"
    try:
        pairs = parse_qsl(
            body.decode(codec), keep_blank_values=True, encoding=codec, errors="strict"
        )
    except _STDLIB_DECODE_ERRORS:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    return tuple((_scrub(name), _scrub(value)) for name, value in pairs)


def _multipart_fields(
    content_type: bytes, body: bytes
) -> tuple[tuple[tuple[str, str], ...] | None, str | None]:
    """(fields, error); fields is None when the body is not multipart at all."""
    head = b"Content-Type: " + _header_value(content_type) + b"\r\n\r\n"
    try:
        message = BytesParser(policy=_MULTIPART_POLICY).parsebytes(head + body)
    except _STDLIB_DECODE_ERRORS:
        return None, "invalid multipart: undecodable boundary parameter"
    if not message.is_multipart():
        if any(isinstance(d, email_errors.NoBoundaryInMultipartDefect) for d in message.defects):
            return None, "invalid multipart: no boundary parameter"
        return None, "invalid multipart: boundary not found in body"
    fields: list[tuple[str, str]] = []
    _collect_parts(message, "", fields)
    error = None
    if any(isinstance(d, email_errors.CloseBoundaryNotFoundDefect) for d in message.defects):
        error = "multipart body ends without its closing boundary"
    return tuple(fields), error


def _collect_parts(message: Message, outer_name: str, fields: list[tuple[str, str]]) -> None:
    payload = message.get_payload()
    if not isinstance(payload, list):
        return
    for part in payload:
        if not isinstance(part, Message):
            continue
        name = _param(part, "name", "content-disposition") or outer_name
        if part.is_multipart():
            # RFC 2388's multipart/mixed inside one form field: several files.
            _collect_parts(part, name, fields)
            continue
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        filename = _filename(part)
        if filename is not None:
            size = "1 byte" if len(data) == 1 else f"{len(data)} bytes"
            kind = _unsurrogate(part.get_content_type())
            fields.append((name, f"<file {filename}, {size}, {kind}>"))
        else:
            codec = _codec(part.get_content_charset())
            fields.append((name, _decode(data, codec) if codec else _utf8_or_latin1(data)))


def _param(part: Message, param: str, header: str) -> str | None:
    try:
        value = part.get_param(param, header=header)
        if value is None:
            return None
        return _unsurrogate(collapse_rfc2231_value(value))
    except _STDLIB_DECODE_ERRORS:
        return None


def _filename(part: Message) -> str | None:
    try:
        filename = part.get_filename()
    except _STDLIB_DECODE_ERRORS:
        return "(undecodable name)"
    return None if filename is None else _unsurrogate(filename)


def _unsurrogate(value: str) -> str:
    # The bytes parser keeps non-ASCII header bytes as surrogate escapes;
    # browsers send field and file names as raw UTF-8, so undo that.
    # An RFC 2231 value decoded with a codec like UTF-7 may hold surrogates that
    # no byte stands for; those cannot be escaped back and become U+FFFD.
    return _utf8_or_latin1(_scrub_unescapable(value).encode("utf-8", "surrogateescape"))


def _scrub_unescapable(value: str) -> str:
    return _UNESCAPABLE_SURROGATE.sub("\ufffd", value)


def _pretty_json(body: bytes, codec: str | None) -> tuple[str | None, str | None]:
    """(the JSON re-indented as sent, a note) or (None, why it is not JSON)."""
    try:
        # Without a declared charset, UTF-8/16/32 is told from the first bytes
        # as json.loads does.
        text = _scrub(body.decode(codec or json.detect_encoding(body)))
    except UnicodeDecodeError as exc:
        return None, f"invalid JSON: not {exc.encoding} at byte {exc.start}"
    except _STDLIB_DECODE_ERRORS as exc:
        return None, f"invalid JSON: {exc}"
    try:
        pretty = reindent(text, max_chars=JSON_PRETTY_MAX)
    except JsonTextError as exc:
        return None, f"invalid JSON: {exc}"
    note = f"pretty JSON cut at {JSON_PRETTY_MAX:,} characters" if pretty.cut else None
    return pretty.text, note
