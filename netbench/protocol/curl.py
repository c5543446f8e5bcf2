"""A curl command line that sends a recorded request again. Pure: no I/O.

Rules:
- the result is one line for a POSIX shell (sh, bash, zsh); every argument is
  quoted with `shlex.quote`, so nothing the request carried can break out;
- the line holds no control character and nothing `textsafe` would escape,
  so it is safe to show and to paste: an argument that is not plain
  printable UTF-8 (ESC, CR, a lone 0xff, a bidi override) is made at run time
  by `printf` from octal escapes, and a body is piped from `printf` when it
  is not plain text or starts with `@` (curl would read a file by that name);
- headers go in wire order and case with `-H`, except Content-Length, which
  curl computes from the body; an empty value uses curl's `Name;` form
  (`Name:` would remove the header instead);
- curl defaults that would change the request are undone: `--globoff` when the
  URL holds `[]{}`, `--path-as-is` when it holds dot segments, `-X` for a
  method curl would not pick, `-H 'Content-Type:'` when a body had no type;
- what no command line can carry is left out and said by `curl_caveats`: a
  NUL byte in the method, target or a header (argv strings end at NUL), and
  the part of a body the recording cut off.
"""

from __future__ import annotations

import shlex

from netbench.model import HttpRequest
from netbench.protocol.textsafe import visible_text

__all__ = ["curl_caveats", "curl_command"]

_SKIPPED = frozenset({b"content-length"})


def _plain(data: bytes) -> str | None:
    """The text of `data` if it can be pasted into a shell line as is."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if visible_text(text) == text else None


def _printf(data: bytes) -> str:
    """A `printf` command writing exactly `data` (POSIX octal escapes)."""
    out: list[str] = []
    for byte in data:
        char = chr(byte)
        if char == "%":
            out.append("%%")
        elif char == "\\":
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F and char != "'":
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    text = "".join(out)
    if text.startswith("-"):  # not an option to printf
        text = "\\055" + text[1:]
    return "printf " + shlex.quote(text)


def _arg(data: bytes) -> str:
    """One shell word that expands to `data` without its NUL bytes (see `curl_caveats`).

    `$(...)` drops trailing newlines: fine for a request line or header field,
    which cannot hold one.
    """
    data = data.replace(b"\0", b"")
    text = _plain(data)
    return shlex.quote(text) if text is not None else f'"$({_printf(data)})"'


def curl_command(request: HttpRequest, base_url: str) -> str:
    """A curl command repeating `request`, sent to `base_url` (``http://host:port``).

    An origin-form target (``/path?q``) is appended to `base_url`; an absolute
    one (``http://...``, as sent to proxies) is used as the URL; anything else
    (``*``, ``host:443``) is sent with ``--request-target``.
    """
    base = base_url.rstrip("/").encode("utf-8")
    target = request.target
    extra: list[str] = []
    if target.startswith(b"/"):
        url = base + target
    elif target.lower().startswith((b"http://", b"https://")):
        url = target
    else:
        url = base + b"/"
        extra += ["--request-target", _arg(target)]
    path = url.split(b"?", 1)[0]
    if any(char in url for char in b"[]{}"):
        extra.insert(0, "--globoff")
    if b"/./" in path + b"/" or b"/../" in path + b"/":
        extra.insert(0, "--path-as-is")

    body = request.body
    words = ["curl"]
    if request.version == "1.0":
        words.append("--http1.0")
    words += extra
    method = request.method
    if method == b"HEAD":
        words.append("--head")
    elif method != (b"POST" if body else b"GET"):
        words += ["-X", _arg(method)]
    for name, value in request.headers:
        if name.lower() in _SKIPPED:
            continue
        words += ["-H", _arg(name + (b": " + value if value else b";"))]
    if body and request.header(b"content-type") is None:
        words += ["-H", shlex.quote("Content-Type:")]
    pipe = ""
    if body:
        text = _plain(body)
        if text is None or text.startswith("@"):
            pipe = _printf(body) + " | "
            words += ["--data-binary", "@-"]
        else:
            words += ["--data-binary", shlex.quote(text)]
    words.append(_arg(url))
    return pipe + " ".join(words)


def curl_caveats(request: HttpRequest) -> list[str]:
    """What `curl_command(request, ...)` cannot send as recorded, one line each."""
    caveats: list[str] = []
    fields = [("method", request.method), ("target", request.target)]
    fields += [
        (f"header {visible_text(name.decode('latin-1'))}", name + value)
        for name, value in request.headers
    ]
    for where, data in fields:
        if b"\0" in data:
            caveats.append(
                f"NUL bytes in the {where} are left out (a command line cannot hold them)"
            )
    if request.body_truncated:
        caveats.append(
            f"the body was cut in the recording: {len(request.body)} of {request.body_len} bytes are sent"
        )
    return caveats
