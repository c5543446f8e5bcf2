"""HAR 1.2 fields made from HTTP messages as netbench records them. Pure.

The export (store/har.py) builds each entry from these; the import
(store/har_import.py) reads versions and header text back through them.

Rules:
- HTTP text on the wire is bytes. A HAR string holds it decoded as Latin-1,
  as the session store does: one character per byte, nothing lost, ASCII
  unchanged (`wire_text`); `wire_bytes` reverses it, and encodes a string
  that no Latin-1 byte could have made (a HAR from elsewhere) as UTF-8;
- a URL holds no byte outside printable ASCII: other bytes of the target
  are percent-encoded, so the URL is valid wherever the target was not;
- decoded values (the query string, form and multipart fields, a text body)
  are UTF-8, falling back to Latin-1 where the bytes are not UTF-8: the
  decoding never fails and never yields a lone surrogate;
- sizes follow HTTP/1.x: `headersSize` counts the request or status line,
  every header line and the blank line, each ended by CRLF, as if sent in
  canonical form (LF-only line ends and extra spaces are not known here);
- nothing here is sanitised: a HAR carries what the wire carried, and JSON
  escapes whatever needs escaping. Whoever displays it must use `textsafe`.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import collapse_rfc2231_value, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

from netbench.model import Endpoint, Headers, HttpRequest, HttpResponse, header_value

Json = dict[str, Any]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_URL_SAFE = frozenset(range(0x21, 0x7F)) - {ord('"'), ord("<"), ord(">"), ord("\\"), ord("`")}
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def wire_text(data: bytes) -> str:
    """Bytes from the wire as a HAR string: Latin-1, one character per byte."""
    return data.decode("latin-1")


def wire_bytes(text: str) -> bytes:
    """A HAR string back to bytes: Latin-1 when it fits, else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def readable(data: bytes) -> str:
    """UTF-8 if the bytes are UTF-8, else Latin-1: never fails."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def as_text(data: bytes) -> str | None:
    """The body as text when it is UTF-8 with no control character but TAB, CR, LF.

    Anything else goes in a HAR as base64, so it comes back byte for byte.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _CONTROL.search(text) else text


def body_content(data: bytes) -> Json:
    """`{"text": ...}` for a text body, `{"text": base64, "encoding": "base64"}` otherwise."""
    text = as_text(data)
    if text is not None:
        return {"text": text}
    return {"text": base64.b64encode(data).decode("ascii"), "encoding": "base64"}


def iso_time(t: float) -> str:
    """Unix time as HAR's ISO 8601: `2026-11-22T10:00:00.123Z` (UTC)."""
    stamp = datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def http_version(version: str) -> str:
    """`1.1` -> `HTTP/1.1`; an unparsed request line's empty version stays empty."""
    return f"HTTP/{version}" if version else ""


def version_from_har(text: str) -> str:
    """A HAR `httpVersion` as the store keeps it: `HTTP/1.1` -> `1.1`, `h2` -> `2`."""
    lowered = text.strip().lower()
    if lowered in ("h2", "h2c", "http/2", "http/2.0"):
        return "2"
    if lowered in ("h3", "http/3", "http/3.0") or lowered.startswith("h3-"):
        return "3"
    if lowered.startswith("http/"):
        return text.strip()[5:]
    return text.strip()


def headers_json(headers: Headers) -> list[Json]:
    """Header fields in wire order and case."""
    return [{"name": wire_text(name), "value": wire_text(value)} for name, value in headers]


def _header_lines(headers: Headers) -> int:
    return sum(len(name) + 2 + len(value) + 2 for name, value in headers) + 2


def request_headers_size(request: HttpRequest) -> int:
    """Bytes of the request line, the header lines and the blank line (-1: unparsed)."""
    if not request.version:
        return -1
    line = len(request.method) + 1 + len(request.target) + 1 + len("HTTP/") + len(request.version)
    return line + 2 + _header_lines(request.headers)


def response_headers_size(response: HttpResponse) -> int:
    """Bytes of the status line, the header lines and the blank line (-1: unparsed)."""
    if response.status is None or not response.version:
        return -1
    line = len("HTTP/") + len(response.version) + 1 + 3 + 1 + len(response.reason)
    return line + 2 + _header_lines(response.headers)


def request_url(request: HttpRequest, server: Endpoint) -> str:
    """The absolute URL: the target as sent, on the Host it named (else the server's address)."""
    target = request.target
    if target.lower().startswith((b"http://", b"https://")):
        return _url_safe(target)
    if request.method == b"CONNECT" and _HOST.fullmatch(wire_text(target)):
        # A tunnel's target is the authority it opens (authority form), not a
        # path on the Host: as Charles writes it, port 443's tunnel is https.
        scheme = "https" if target.endswith(b":443") else "http"
        return f"{scheme}://{wire_text(target)}"
    host = request.header(b"host")
    authority = wire_text(host).strip() if host is not None else ""
    if not _HOST.fullmatch(authority):
        authority = str(server)
    path = target if target.startswith(b"/") else b"/" + target if target != b"*" else b"/*"
    return f"http://{authority}{_url_safe(path)}"


def _url_safe(data: bytes) -> str:
    return "".join(chr(byte) if byte in _URL_SAFE else f"%{byte:02X}" for byte in data)


def query_string(target: bytes) -> list[Json]:
    """The target's query as decoded (name, value) pairs, in order, blanks kept."""
    _path, mark, query = target.partition(b"?")
    if not mark:
        return []
    query = query.partition(b"#")[0]
    return [{"name": name, "value": value} for name, value in _form_pairs(query)]


def _form_pairs(data: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(data.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return parse_qsl(data.decode("latin-1"), keep_blank_values=True, encoding="latin-1")


def request_cookies(headers: Headers) -> list[Json]:
    """Every `name=value` of the Cookie fields, in order."""
    cookies: list[Json] = []
    for name, value in headers:
        if name.lower() != b"cookie":
            continue
        for pair in value.split(b";"):
            key, equals, val = pair.strip().partition(b"=")
            if equals and key:
                cookies.append({"name": wire_text(key.strip()), "value": wire_text(val.strip())})
    return cookies


_COOKIE_FLAGS = {b"httponly": "httpOnly", b"secure": "secure"}
_COOKIE_TEXT = {b"path": "path", b"domain": "domain", b"samesite": "_sameSite"}


def response_cookies(headers: Headers) -> list[Json]:
    """One cookie per Set-Cookie field, with its attributes (unparseable ones skipped)."""
    cookies: list[Json] = []
    for name, value in headers:
        if name.lower() != b"set-cookie":
            continue
        first, *attributes = value.split(b";")
        key, equals, val = first.strip().partition(b"=")
        if not equals or not key:
            continue
        cookie: Json = {"name": wire_text(key.strip()), "value": wire_text(val.strip())}
        for attribute in attributes:
            attr, _eq, attr_value = attribute.strip().partition(b"=")
            attr = attr.strip().lower()
            if attr in _COOKIE_FLAGS:
                cookie[_COOKIE_FLAGS[attr]] = True
            elif attr in _COOKIE_TEXT:
                cookie[_COOKIE_TEXT[attr]] = wire_text(attr_value.strip())
            elif attr == b"expires":
                expires = _http_date(attr_value.strip())
                if expires is not None:
                    cookie["expires"] = expires
        cookies.append(cookie)
    return cookies


def _http_date(value: bytes) -> str | None:
    try:
        when = parsedate_to_datetime(wire_text(value))
    except (TypeError, ValueError, IndexError, OverflowError):  # a year of 20 digits: Overflow
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat().replace("+00:00", "Z")


def mime_type(headers: Headers, default: str) -> str:
    value = header_value(headers, b"content-type")
    return default if value is None else wire_text(value)


def _content_type(headers: Headers) -> tuple[str, Message]:
    """(lower-case type/subtype, a Message holding the field to read parameters from)."""
    raw = header_value(headers, b"content-type") or b""
    message = Message()
    message["Content-Type"] = wire_text(raw).replace("\r", " ").replace("\n", " ")
    return wire_text(raw).split(";", 1)[0].strip().lower(), message


def post_params(headers: Headers, body: bytes) -> list[Json] | None:
    """The fields of a url-encoded or multipart form body; None for any other body."""
    kind, message = _content_type(headers)
    if kind == "application/x-www-form-urlencoded":
        return [{"name": _scrub(n), "value": _scrub(v)} for n, v in _form_pairs(body)]
    if kind.startswith("multipart/"):
        boundary = message.get_param("boundary")
        if isinstance(boundary, str) and boundary:
            return _multipart_params(boundary.encode("latin-1", "replace"), body)
    return None


def _multipart_params(boundary: bytes, body: bytes) -> list[Json]:
    """Each part of a multipart body: name, value or fileName, contentType (RFC 7578)."""
    params: list[Json] = []
    delimiter = b"--" + boundary
    parts = body.split(delimiter)
    for part in parts[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, separator, data = part.partition(b"\r\n\r\n")
        if not separator:
            head, separator, data = part.partition(b"\n\n")
        if not separator:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        fields = Message()
        for line in head.splitlines():
            name, colon, value = line.partition(b":")
            if colon:
                fields[wire_text(name.strip())] = wire_text(value.strip())
        param: Json = {"name": _part_param(fields, "name") or ""}
        filename = _part_param(fields, "filename")
        if filename is not None:
            param["fileName"] = filename
            param["contentType"] = _scrub(readable(wire_bytes(fields.get("Content-Type", ""))))
            text = as_text(data)
            if text is not None:
                param["value"] = text
        else:
            param["value"] = readable(data)
        params.append(param)
    return params


def _part_param(fields: Message, name: str) -> str | None:
    try:
        value = fields.get_param(name, header="content-disposition")
    except (UnicodeError, LookupError):
        return None
    if value is None or value == "":
        return None if value is None else ""
    try:
        text = collapse_rfc2231_value(value)
    except (UnicodeError, LookupError):
        return None
    if isinstance(value, tuple):  # RFC 2231 named its charset: already decoded
        return _scrub(text)
    return _scrub(readable(text.encode("latin-1", "replace")))


def _scrub(text: str) -> str:
    return _LONE_SURROGATE.sub("\ufffd", text)
