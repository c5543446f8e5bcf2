"""A curl command line that sends a recorded request again, byte for byte. Pure.

It starts from the request's bytes as recorded (`wire_request`), so what
the server receives from the command is what it received the first time:
the same request line, the headers in wire order, case and spelling
(whitespace around a value included, Content-Length where it stood), and
the body byte for byte.

Rules:
- the result is one line for a POSIX shell (sh, bash, zsh), quoted by
  `protocol.shell`: nothing the request carried can break out, and the line
  holds no control character;
- every header is given with `-H` in wire order, Content-Length too (curl
  sends a given Content-Length instead of its own), so curl's own headers
  never come first; curl's defaults the request did not have are removed
  (`-H 'User-Agent:'`, `Accept:`, `Host:`, `Content-Type:`, `Expect:`);
- an empty value uses curl's `Name;` form (`Name:` would remove the header);
- a body up to `BODY_INLINE_LIMIT` bytes is inline (`--data-binary 'text'`,
  or piped from `printf` when it is not plain text or starts with `@`); a
  longer one is read from the body file the caller writes (`@FILE`);
- curl defaults that would change the request are undone: `--globoff` for
  `[]{}`, `--path-as-is` for dot segments, `-X` for a method curl would not
  pick, `--request-target` for a target that is not a plain path;
- what curl cannot send as recorded is said by the caveats: a head that is
  not well-formed, a Host header that is not the first or not spelled
  `Host` (curl moves it first, as `Host:` and the value), an empty value
  with whitespace, NUL bytes in argv, a chunked body (curl frames it with
  its own chunk sizes).
"""

from __future__ import annotations

import shlex

from netbench.protocol.shell import plain, printf_command, shell_word
from netbench.protocol.wire_request import BODY_INLINE_LIMIT, Export, WireRequest, nul_caveats

__all__ = ["curl_export"]

RAW_FORM = "the nc form sends the exact bytes"

_CURL_DEFAULTS = (b"Host", b"User-Agent", b"Accept")
"""Headers curl adds to every request unless told otherwise."""

_EXPECT_THRESHOLD = 1024
"""Bodies above this make curl (some versions) add `Expect: 100-continue`."""


def _simple_target(target: bytes) -> bool:
    """A path curl sends as given when it is part of the URL."""
    return (
        target.startswith(b"/")
        and all(0x21 <= byte < 0x7F for byte in target)
        and not any(char in target for char in b"#\\")
    )


def _url_words(wire: WireRequest, base: bytes) -> tuple[list[str], bytes]:
    target = wire.target
    if not _simple_target(target):
        return ["--request-target", shell_word(target)], base + b"/"
    words: list[str] = []
    path = target.split(b"?", 1)[0] + b"/"
    if b"/./" in path or b"/../" in path:
        words.append("--path-as-is")
    if any(char in target for char in b"[]{}"):
        words.append("--globoff")
    return words, base + target


def curl_export(wire: WireRequest, server: str, body_file: str) -> Export:
    """A curl command sending `wire` to `server` (`host:port`); see the module's rules."""
    caveats = [
        f"{problem}: curl sends a well-formed head; {RAW_FORM}" for problem in wire.irregular
    ]
    words = ["curl"]
    if wire.version == b"1.0":
        words.append("--http1.0")
    elif wire.version != b"1.1":
        shown = wire.version.decode("latin-1") or "no version"
        caveats.append(f"curl sends HTTP/1.1 where the request said {shown}; {RAW_FORM}")
    extra, url = _url_words(wire, f"http://{server}".encode())
    words += extra

    body = wire.unchunked() if wire.chunked else wire.body
    if wire.chunked:
        caveats.append(f"curl frames the chunked body with its own chunk sizes; {RAW_FORM}")
    method = wire.method
    if method == b"HEAD" and not body:
        words.append("--head")
    elif method != (b"POST" if body else b"GET"):
        words += ["-X", shell_word(method)]

    present = {name.lower() for name, _value in wire.headers}
    hosts = [i for i, (name, _value) in enumerate(wire.headers) if name.lower() == b"host"]
    if hosts and (hosts != [0] or wire.headers[0][0] != b"Host"):
        caveats.append(f"curl sends one Host header, first and spelled `Host`; {RAW_FORM}")
    for name, value in wire.headers:
        if name.startswith(b"@"):  # curl reads `-H @FILE` from a file
            caveats.append(f"curl cannot send a header named {name.decode('latin-1')}; {RAW_FORM}")
            continue
        if value.strip(b" \t"):
            words += ["-H", shell_word(name + b":" + value)]
            continue
        if value:
            shown = name.decode("latin-1")
            caveats.append(f"curl sends the empty header {shown} without its whitespace")
        words += ["-H", shell_word(name + b";")]
    removed = [name for name in _CURL_DEFAULTS if name.lower() not in present]
    if body and b"content-type" not in present:
        removed.append(b"Content-Type")
    if len(body) > _EXPECT_THRESHOLD and b"expect" not in present:
        removed.append(b"Expect")
    for name in removed:
        words += ["-H", shlex.quote(name.decode() + ":")]

    pipe = ""
    file_body = None
    if len(body) > BODY_INLINE_LIMIT:
        words += ["--data-binary", shell_word(b"@" + body_file.encode("utf-8", "surrogateescape"))]
        file_body = body
    elif body:
        text = plain(body)
        if text is None or text.startswith("@"):
            pipe = printf_command(body) + " | "
            words += ["--data-binary", "@-"]
        else:
            words += ["--data-binary", shlex.quote(text)]
    words.append(shell_word(url))
    caveats += nul_caveats(wire)
    return Export(pipe + " ".join(words), file_body, tuple(caveats))
