"""The classic hex dump, safe to print.

    00000000  48 54 54 50 2f 31 2e 31  20 32 30 30 20 4f 4b 0d  HTTP/1.1 200 OK␍

Rules:
- the offset column is the position of the line's first byte, counted from
  `offset` (a chunk passes its stream offset, so the column reads as the
  TCP relative position);
- hex bytes come in groups of 8, separated by two spaces;
- the text column has exactly one character per byte: printable ASCII as is,
  C0 controls as their control pictures (U+2400 + n: ␀ ␉ ␊ ␍ ␛), DEL as ␡ and
  every byte >= 0x80 as `·`. So no line ever contains a control character,
  and the columns stay aligned in any terminal, whatever the bytes were.
"""

from __future__ import annotations

from collections.abc import Iterator

_GROUP = 8


def _text_symbol(byte: int) -> str:
    if byte < 0x20:
        return chr(0x2400 + byte)
    if byte == 0x7F:
        return "\u2421"  # ␡
    if byte >= 0x80:
        return "\u00b7"  # ·
    return chr(byte)


# Decoding as latin-1 maps byte n to code point n, so one str.translate call
# turns a whole line into its text column.
_TEXT_TABLE = {byte: _text_symbol(byte) for byte in range(256)}


def text_column(data: bytes) -> str:
    """One visible character per byte, as in the text column of a dump."""
    return data.decode("latin-1").translate(_TEXT_TABLE)


def _hex_column(line: bytes, width: int) -> str:
    groups = [line[i : i + _GROUP].hex(" ") for i in range(0, len(line), _GROUP)]
    text = "  ".join(groups)
    # A short last line is padded so its text column starts where the others' do.
    full = width * 3 - 1 + (width - 1) // _GROUP
    return text.ljust(full)


def hexdump_lines(data: bytes, offset: int = 0, width: int = 16) -> Iterator[str]:
    """Yield one dump line per `width` bytes of `data` (nothing for empty data)."""
    if width < 1:
        raise ValueError(f"width must be at least 1, not {width}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, not {offset}")
    view = memoryview(data)
    for start in range(0, len(data), width):
        line = bytes(view[start : start + width])
        yield f"{offset + start:08x}  {_hex_column(line, width)}  {text_column(line)}"


# C0 controls other than TAB, LF and CR, DEL, and the C1 controls: what text
# rarely contains. U+FFFD is what invalid UTF-8 decodes to.
_ODD_CHARS = tuple(
    [chr(code) for code in range(0x20) if chr(code) not in "\t\n\r"]
    + [chr(code) for code in range(0x7F, 0xA0)]
    + ["\ufffd"]
)


def looks_binary(data: bytes, *, threshold: float = 0.1, allowance: int = 8) -> bool:
    """Whether `data` is better shown as a hex dump only.

    True when more than `allowance` characters, and more than `threshold` of
    them all, are invalid UTF-8 or control characters other than TAB/CR/LF.
    A text payload full of escape sequences still counts as text, so it is
    shown (escaped) where people will read it.
    """
    text = data.decode("utf-8", "replace")
    odd = sum(text.count(char) for char in _ODD_CHARS)
    return odd > allowance and odd > threshold * len(text)
