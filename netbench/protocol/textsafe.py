"""Turn untrusted bytes and text into inert, visible text.

This is the one sanitiser: every path from network bytes to a screen (CLI
output, TUI widgets, logs, error messages) goes through `visible()` or
`visible_text()`. The rules:

- printable ASCII and printable non-ASCII text pass through unchanged;
- C0 controls and DEL become their Unicode "control pictures" (CR -> ␍,
  LF -> ␊, TAB -> ␉, NUL -> ␀, ESC -> ␛, DEL -> ␡), so an escape sequence is
  shown, never executed;
- C1 controls (U+0080-U+009F), bidi overrides and other invisible format
  characters become `\\u{XXXX}`;
- bytes that are not valid UTF-8 become `\\xNN`.

The output contains no control character at all, except the real line break
that `keep_newlines=True` adds after each ␊ for readability.

`page_text()` is the same for HTML pages: every character netbench puts into
a page it builds (error pages, the echo page, directory listings) that is
not its own markup goes through it, visible first, then HTML-escaped.
"""

from __future__ import annotations

import html
import unicodedata

_C0_PICTURES = {code: chr(0x2400 + code) for code in range(0x20)}
_C0_PICTURES[0x7F] = "\u2421"  # ␡

# Characters that are printable by `str.isprintable()` standards but change how
# a terminal lays out the text that follows (bidi overrides and isolates).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def _char_visible(char: str) -> str:
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return _C0_PICTURES[code]
    if char in _BIDI or not char.isprintable():
        if char == " ":
            return char
        category = unicodedata.category(char)
        # Printable spaces and marks (Zs other than U+0020, Mn) are harmless,
        # everything else non-printable is spelled out.
        if category in ("Zs", "Mn", "Mc", "Me") and char not in _BIDI:
            return char
        return f"\\u{{{code:04X}}}"
    return char


# str.translate runs in C: the common case (ASCII with CR/LF/TAB) never loops in Python.
_ASCII_TABLE = {code: picture for code, picture in _C0_PICTURES.items()}
_ASCII_TABLE_NL = {**_ASCII_TABLE, 0x0A: "\u240a\n"}


def visible_text(text: str, *, keep_newlines: bool = False) -> str:
    """Make already-decoded untrusted text inert (headers, paths, names)."""
    if text.isprintable() and text.isascii():
        return text
    shown = text.translate(_ASCII_TABLE_NL if keep_newlines else _ASCII_TABLE)
    if shown.isascii():
        return shown
    # Non-ASCII: only characters outside the printable set need a closer look.
    out: list[str] = []
    for char in shown:
        if char.isprintable() or char == "\n" or ord(char) < 0x80:
            out.append(char)
        else:
            out.append(_char_visible(char))
    return "".join(out)


def visible(data: bytes, *, keep_newlines: bool = False) -> str:
    """Decode untrusted bytes as UTF-8 where valid and make the result inert.

    Invalid bytes show as `\\xNN`. With `keep_newlines`, a real line break
    follows each ␊ so that line-based protocols stay readable.
    """
    text = data.decode("utf-8", "backslashreplace")
    return visible_text(text, keep_newlines=keep_newlines)


def visible_latin1(data: bytes) -> str:
    """Show header-ish bytes one character per byte (no UTF-8 guessing)."""
    if data.isascii():
        return visible_text(data.decode("ascii"))
    return "".join(
        chr(b)
        if 0x20 <= b < 0x7F
        else (_C0_PICTURES[b] if b < 0x20 or b == 0x7F else f"\\x{b:02x}")
        for b in data
    )


def page_text(value: str | bytes, *, line_breaks: bool = False) -> str:
    """Text for an HTML page: shown as `visible_text` shows it, then HTML-escaped.

    Bytes are read as `visible` reads them (UTF-8 where valid, else `\\xNN`).
    Quotes are escaped too, so the result is safe in an attribute. With
    `line_breaks`, LF stays a real line break (text shown in a `<pre>`);
    otherwise it is ␊ like every other control.
    """
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    if line_breaks:
        return "\n".join(html.escape(visible_text(line)) for line in text.split("\n"))
    return html.escape(visible_text(text))
