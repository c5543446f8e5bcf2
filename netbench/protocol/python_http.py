"""A Python program (standard library `http.client`) that sends a recorded request again. Pure.

Two shapes, both sending the recorded bytes exactly:
- a well-formed request is composed with `putrequest`/`putheader`, which
  write `Name: value` in the order given: each header keeps its spelling
  and its whitespace (the value passed is what followed `": "`), nothing is
  added (`skip_host`, `skip_accept_encoding`), and the body (chunk framing
  included) goes out as recorded;
- anything `http.client` would refuse or change (LF-only lines, a header
  without the space after its colon, a target that is not ASCII, another
  version) is sent as the raw bytes over the connection's socket, and the
  response read with `http.client.HTTPResponse`.

The program holds only `repr` literals: every byte outside printable ASCII
is an escape, so the text is inert. A body over `BODY_INLINE_LIMIT` bytes
is read from the body file the caller writes.
"""

from __future__ import annotations

import re

from netbench.protocol.wire_request import BODY_INLINE_LIMIT, Export, WireRequest, server_parts

__all__ = ["python_export"]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LEGAL_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_PRINTABLE_TARGET = re.compile(rb"[\x21-\x7e]+")

_RESPONSE = """\
print(response.status, response.reason)
for name, value in response.getheaders():
    print(f"{name}: {value}")
print(response.read())
"""


def _composable(wire: WireRequest) -> bool:
    """http.client's putrequest/putheader can write these bytes exactly."""
    return (
        not wire.irregular
        and wire.version in (b"1.1", b"1.0")
        and _TOKEN.fullmatch(wire.method) is not None
        and _PRINTABLE_TARGET.fullmatch(wire.target) is not None
        and all(
            _TOKEN.fullmatch(name) and value[:1] == b" " and _LEGAL_VALUE.fullmatch(value)
            for name, value in wire.headers
        )
    )


def _text(data: bytes) -> str:
    """A str literal for ASCII text, else a bytes literal (http.client takes both)."""
    if all(0x20 <= byte < 0x7F for byte in data):
        return repr(data.decode("ascii"))
    return repr(data)


def _bytes_lines(data: bytes, indent: str = "    ") -> list[str]:
    """`data` as adjacent bytes literals, one per line of the request."""
    pieces = data.splitlines(keepends=True) or [b""]
    return [f"{indent}{piece!r}" for piece in pieces]


def _body_source(body: bytes, body_file: str) -> tuple[str, bytes | None]:
    if len(body) > BODY_INLINE_LIMIT:
        return f"pathlib.Path({body_file!a}).read_bytes()", body
    return repr(body), None


def python_export(wire: WireRequest, server: str, body_file: str) -> Export:
    """A program sending `wire` to `server` (`host:port`) and printing the response."""
    host, port = server_parts(server)
    method = ascii(wire.method.decode("latin-1"))
    lines = ["import http.client"]
    connect = f"conn = http.client.HTTPConnection({host!a}, {port}, timeout=10)"
    if _composable(wire):
        body, file_body = _body_source(wire.body, body_file)
        if file_body is not None:
            lines.append("import pathlib")
        lines += ["", connect]
        if wire.version == b"1.0":
            lines.append("conn._http_vsn_str = 'HTTP/1.0'  # http.client has no public switch")
        target = wire.target.decode("ascii")
        lines.append(
            f"conn.putrequest({method}, {target!r}, skip_host=True, skip_accept_encoding=True)"
        )
        lines += [
            f"conn.putheader({_text(name)}, {_text(value[1:])})" for name, value in wire.headers
        ]
        lines.append(f"conn.endheaders({body})" if wire.body else "conn.endheaders()")
        lines.append("response = conn.getresponse()")
    else:
        body, file_body = _body_source(wire.body, body_file)
        if file_body is not None:
            lines.append("import pathlib")
        lines += [
            "",
            "# Sent as recorded: http.client would not compose these bytes.",
            "request = (",
        ]
        lines += _bytes_lines(wire.head if file_body is not None else wire.raw)
        lines.append(")" if file_body is None else f") + {body}")
        lines += [
            connect,
            "conn.connect()",
            "assert conn.sock is not None",
            "conn.sock.sendall(request)",
            f"response = http.client.HTTPResponse(conn.sock, method={method})",
            "response.begin()",
        ]
    return Export("\n".join(lines) + "\n" + _RESPONSE, file_body)
