"""Response directives: `#!netbench ...` lines that say *how* to send a response. Pure.

A hand-written response (a `--response` file, a rule's file or text, the
TUI's Respond editor, an intercepted request's answer) may start with
directive lines. They are read and stripped before anything is sent, in raw
mode too (no HTTP response can start with `#!`):

    #!netbench delay 2              wait 2 s before sending anything
    #!netbench drip 0.1             then send the body 1 byte every 0.1 s
    #!netbench drip 0.1 16          ... or 16 bytes every 0.1 s
    #!netbench close-after head     send the head only, then close (FIN)
    #!netbench close-after 10       send the first 10 bytes of the response, then FIN
    #!netbench close-after head+5   send the head and 5 bytes of the body, then FIN
    #!netbench reset-after head     as close-after, but abort with RST
    #!netbench body-file PATH       the body is that file's bytes (binary bodies:
                                    an image); relative to the response file

Rules:
- directives are the first lines of the text, one per line, each starting
  with `#!netbench` and a space; the first other line starts the response;
- every directive is given at most once; `close-after` and `reset-after`
  exclude each other;
- byte counts are of the response as sent (after CRLF and Content-Length
  tidying, if on); `head` is the status line and headers with the blank line;
- anything else is a `DirectiveError` naming the line, which the server
  answers with a 500 page: a typo never sends something unintended.

This module only parses; `responses.raw_reply` turns the result into steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

PREFIX = b"#!netbench"

KNOWN = ("body-file", "close-after", "delay", "drip", "reset-after")
"""Every directive name, for error messages and documentation."""

MAX_SECONDS = 3600.0
"""The longest delay or drip interval accepted (an hour is already a mistake)."""


class DirectiveError(ValueError):
    """A directive line is wrong; the message names the line and the problem."""


@dataclass(frozen=True, slots=True)
class Cut:
    """Where to stop sending and how to hang up."""

    hangup: Literal["close", "reset"]
    """`close` sends FIN, `reset` sends RST."""
    after_head: bool
    """Count from the end of the head (True) or from the first byte (False)."""
    count: int
    """Bytes after that point (0 with `after_head`: exactly the head)."""


@dataclass(frozen=True, slots=True)
class Drip:
    seconds: float
    """The pause before each piece of the body."""
    size: int = 1
    """Bytes per piece."""


@dataclass(frozen=True, slots=True)
class Directives:
    """How to send one response; the defaults send it at once, in one write."""

    delay: float = 0.0
    drip: Drip | None = None
    cut: Cut | None = None
    body_file: str | None = None
    """A file whose bytes are the body (resolved by the caller, who does I/O)."""

    @property
    def plain(self) -> bool:
        """True when nothing changes how the response is sent."""
        return self == _PLAIN


_PLAIN = Directives()


def parse_directives(raw: bytes) -> tuple[Directives, bytes]:
    """The directives at the start of `raw`, and the response that follows them."""
    if not raw.startswith(PREFIX):
        return _PLAIN, raw
    values: dict[str, object] = {}
    pos = 0
    number = 0
    while raw.startswith(PREFIX, pos):
        number += 1
        end = raw.find(b"\n", pos)
        stop = len(raw) if end == -1 else end
        line = raw[pos:stop].rstrip(b"\r")
        pos = len(raw) if end == -1 else end + 1
        _parse_line(number, line, values)
    if "close-after" in values and "reset-after" in values:
        raise DirectiveError("close-after and reset-after exclude each other: keep one")
    cut = values.get("close-after") or values.get("reset-after")
    assert cut is None or isinstance(cut, Cut)
    drip = values.get("drip")
    assert drip is None or isinstance(drip, Drip)
    delay = values.get("delay", 0.0)
    assert isinstance(delay, float)
    body_file = values.get("body-file")
    assert body_file is None or isinstance(body_file, str)
    return Directives(delay=delay, drip=drip, cut=cut, body_file=body_file), raw[pos:]


def _parse_line(number: int, line: bytes, values: dict[str, object]) -> None:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise DirectiveError(f"line {number}: directives are plain ASCII") from None
    shown = text if len(text) <= 60 else text[:59] + "…"
    where = f"line {number} ({shown!r})"
    rest = text[len(PREFIX) :]
    if rest and not rest[0].isspace():
        raise DirectiveError(f"{where}: write '#!netbench NAME ARGUMENTS'")
    name, _, arguments = rest.strip().partition(" ")
    args = arguments.split()
    if not name:
        raise DirectiveError(f"{where}: a directive name is missing ({', '.join(KNOWN)})")
    if name not in KNOWN:
        raise DirectiveError(f"{where}: unknown directive {name!r} (known: {', '.join(KNOWN)})")
    if name in values:
        raise DirectiveError(f"{where}: {name} is given twice")
    if name == "delay":
        _expect(where, name, args, 1, 1, "SECONDS")
        values[name] = _seconds(where, args[0])
    elif name == "drip":
        _expect(where, name, args, 1, 2, "SECONDS [BYTES]")
        size = _count(where, args[1], minimum=1) if len(args) == 2 else 1
        values[name] = Drip(_seconds(where, args[0]), size)
    elif name in ("close-after", "reset-after"):
        _expect(where, name, args, 1, 1, "head | BYTES | head+BYTES")
        hangup: Literal["close", "reset"] = "close" if name == "close-after" else "reset"
        values[name] = _cut(where, hangup, args[0])
    else:
        path = arguments.strip()
        if not path:
            raise DirectiveError(f"{where}: body-file needs a file name")
        values[name] = path


def _expect(where: str, name: str, args: list[str], low: int, high: int, usage: str) -> None:
    if not low <= len(args) <= high:
        raise DirectiveError(f"{where}: write '#!netbench {name} {usage}'")


def _seconds(where: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DirectiveError(f"{where}: {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise DirectiveError(f"{where}: seconds must be between 0 and {MAX_SECONDS:g}")
    return value


def _count(where: str, text: str, *, minimum: int = 0) -> int:
    if not text.isdigit() or not text.isascii():
        raise DirectiveError(f"{where}: {text!r} is not a whole number of bytes")
    value = int(text)
    if value < minimum:
        raise DirectiveError(f"{where}: the byte count must be at least {minimum}")
    return value


def _cut(where: str, hangup: Literal["close", "reset"], text: str) -> Cut:
    if text == "head":
        return Cut(hangup, after_head=True, count=0)
    if text.startswith("head+"):
        return Cut(hangup, after_head=True, count=_count(where, text[5:]))
    return Cut(hangup, after_head=False, count=_count(where, text))
