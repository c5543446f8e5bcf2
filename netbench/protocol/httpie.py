"""An HTTPie command line (`http METHOD URL Name:value ...`) for a recorded request. Pure.

HTTPie is for reading and editing, not for the exact bytes: it sends
through `requests`, which puts Content-Length and its own header names
first and orders the rest itself, and HTTPie trims each value. The command
sends the same request line, the same header fields (names, values as
trimmed) and the same body; the caveats say what differs, and the nc form
sends the exact bytes.

Rules:
- quoted by `protocol.shell` like the curl form (one inert line);
- a header is the item `Name:value`; an empty one `Name;`; a value that
  starts with `=` or `@` (`Name:=...` would be JSON data) has it escaped;
- HTTPie's and requests' own headers that the request did not carry are
  unset (`User-Agent:`, `Accept:`, `Accept-Encoding:`, `Connection:`,
  `Content-Type:`, `Host:`);
- the body is `--raw 'text'` when it is short plain text, else the stdin
  of `http` read from the body file (`< FILE`: a pipe would make HTTPie
  stream it chunked); unless the body is read from stdin, `--ignore-stdin`
  (HTTPie would read a script's stdin as the body);
- a chunked body is sent with `--chunked` (requests frames it);
- `--` ends the options before the method: a recorded word that starts with
  `-` (a method `-o/home/you/.bashrc`, a header named `-oFILE`) is then a
  word of the request, never an option of HTTPie (`-o` writes the response
  to a file);
- HTTPie reads a first word that is not letters as the URL, so a method of
  other bytes is sent as GET (POST with a body), said in a caveat.
"""

from __future__ import annotations

import re
import shlex

from netbench.protocol.shell import plain, quote, shell_word
from netbench.protocol.textsafe import visible_latin1
from netbench.protocol.wire_request import BODY_INLINE_LIMIT, Export, WireRequest, nul_caveats

__all__ = ["httpie_export"]

RAW_FORM = "the nc form sends the exact bytes"
_DEFAULTS = (b"Host", b"User-Agent", b"Accept", b"Accept-Encoding", b"Connection")
"""Headers HTTPie (through requests) adds unless unset."""
_ITEM_SPECIAL = b":;=@\\"
_METHOD = re.compile(rb"[A-Za-z]+")
"""What HTTPie takes as a method (httpie/cli/argparser.py `_guess_method`)."""


def _item_value(value: bytes) -> tuple[bytes, bool]:
    """The value as an HTTPie item escapes it; False when it cannot be written."""
    exact = not any(
        value[i : i + 1] == b"\\" and value[i + 1 : i + 2] in (b":", b";", b"=", b"@")
        for i in range(len(value))
    )
    if value[:1] in (b"=", b"@"):
        value = b"\\" + value
    return value, exact


def httpie_export(wire: WireRequest, server: str, body_file: str) -> Export:
    """An `http` command sending `wire`'s fields to `server` (`host:port`)."""
    caveats = [
        "HTTPie orders the headers itself (Content-Length and its own names first) "
        f"and trims their values; {RAW_FORM}"
    ]
    caveats += [f"{problem}: HTTPie sends a well-formed head" for problem in wire.irregular]
    if wire.version != b"1.1":
        shown = wire.version.decode("latin-1") or "no version"
        caveats.append(f"HTTPie sends HTTP/1.1 where the request said {shown}")
    words = ["http"]
    body = wire.unchunked() if wire.chunked else wire.body
    if wire.chunked:
        words.append("--chunked")
    path = wire.target.split(b"?", 1)[0] + b"/"
    if b"/./" in path or b"/../" in path:
        words.append("--path-as-is")
    if not body or (plain(body) is not None and len(body) <= BODY_INLINE_LIMIT):
        words.append("--ignore-stdin")  # HTTPie would read a script's stdin as the body
    words.append("--")  # what follows is the request's, whatever its first byte
    method = wire.method
    if _METHOD.fullmatch(method) is None:
        method = b"POST" if body else b"GET"
        caveats.append(
            f"HTTPie sends only methods of letters: {method.decode()} where the request "
            f"said {visible_latin1(wire.method) or 'none'}; {RAW_FORM}"
        )
    words.append(method.decode("ascii"))
    target = wire.target if wire.target.startswith(b"/") else b"/" + wire.target
    if not wire.target.startswith(b"/"):
        caveats.append("HTTPie sends an origin-form target (a path); the request had another")
    words.append(shell_word(f"http://{server}".encode() + target))

    present = {name.lower() for name, _value in wire.headers}
    for name, value in wire.headers:
        lower = name.lower()
        if wire.chunked and lower == b"transfer-encoding":
            continue  # --chunked sends it
        stripped = value.strip(b" \t")
        if not stripped:
            words.append(shell_word(name + b";"))
            continue
        item, exact = _item_value(stripped)
        if not exact:
            caveats.append(f"HTTPie reads the backslashes in {name.decode('latin-1')} as escapes")
        if plain(stripped) is None:
            caveats.append(f"HTTPie sends the value of {name.decode('latin-1')} as UTF-8 text")
        words.append(shell_word(name + b":" + item))
    unset = [name for name in _DEFAULTS if name.lower() not in present]
    if b"content-type" not in present:
        unset.append(b"Content-Type")
    words += [shlex.quote(name.decode() + ":") for name in unset]

    file_body = None
    text = plain(body) if len(body) <= BODY_INLINE_LIMIT else None
    if text:  # none for no body: --ignore-stdin already says there is none
        words[1:1] = ["--raw", shlex.quote(text)]
    elif body:
        words += ["<", quote(body_file)]
        file_body = body
    caveats += nul_caveats(wire)
    return Export(" ".join(words), file_body, tuple(caveats))
