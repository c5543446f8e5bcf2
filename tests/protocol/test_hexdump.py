from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netbench.protocol.hexdump import hexdump_lines, looks_binary, text_column

# fmt: off
CASES = [
    pytest.param(
        b"HTTP/1.1 200 OK\r\n", 0, 16,
        [
            "00000000  48 54 54 50 2f 31 2e 31  20 32 30 30 20 4f 4b 0d  HTTP/1.1 200 OK␍",
            "00000010  0a                                                ␊",
        ],
        id="status-line",
    ),
    pytest.param(b"", 0, 16, [], id="empty"),
    pytest.param(
        b"\x00\t\x1b\x7f\x80\xff A",
        0, 16,
        ["00000000  00 09 1b 7f 80 ff 20 41                           ␀␉␛␡·· A"],
        id="controls-del-high-bytes",
    ),
    pytest.param(
        b"0123456789",
        0x1234, 4,
        [
            "00001234  30 31 32 33  0123",
            "00001238  34 35 36 37  4567",
            "0000123c  38 39        89",
        ],
        id="offset-and-narrow-width",
    ),
    pytest.param(
        b"ABCDEFGHIJ",
        0, 10,
        ["00000000  41 42 43 44 45 46 47 48  49 4a  ABCDEFGHIJ"],
        id="odd-width-groups-of-8",
    ),
    pytest.param(
        b"\xe2\x90\x8d",  # the UTF-8 of ␍ itself is three high bytes, not a picture
        0, 16,
        ["00000000  e2 90 8d                                          ···"],
        id="utf8-shown-per-byte",
    ),
    pytest.param(
        b"x",
        2**32, 16,
        ["100000000  78                                                x"],
        id="offset-beyond-32-bits",
    ),
]
# fmt: on


@pytest.mark.parametrize(("data", "offset", "width", "expected"), CASES)
def test_hexdump_lines(data: bytes, offset: int, width: int, expected: list[str]) -> None:
    assert list(hexdump_lines(data, offset=offset, width=width)) == expected


@pytest.mark.parametrize(
    ("byte", "symbol"),
    [
        (0x00, "␀"),
        (0x09, "␉"),
        (0x0A, "␊"),
        (0x0D, "␍"),
        (0x1B, "␛"),
        (0x1F, "␟"),
        (0x20, " "),
        (0x7E, "~"),
        (0x7F, "␡"),
        (0x80, "·"),
        (0x9B, "·"),  # C1 CSI: would start an escape sequence on some terminals
        (0xFF, "·"),
    ],
)
def test_text_column_symbol(byte: int, symbol: str) -> None:
    assert text_column(bytes([byte])) == symbol


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf")


def test_no_line_contains_a_control_character() -> None:
    lines = list(hexdump_lines(bytes(range(256)) * 2))
    assert len(lines) == 32
    assert not [line for line in lines if any(_is_control(char) for char in line)]


@pytest.mark.parametrize("width", [0, -1])
def test_bad_width(width: int) -> None:
    with pytest.raises(ValueError, match="width"):
        list(hexdump_lines(b"x", width=width))


def test_negative_offset() -> None:
    with pytest.raises(ValueError, match="offset"):
        list(hexdump_lines(b"x", offset=-1))


@given(data=st.binary(max_size=200), width=st.integers(1, 40), offset=st.integers(0, 2**40))
def test_dump_is_aligned_and_reversible(data: bytes, width: int, offset: int) -> None:
    lines = list(hexdump_lines(data, offset=offset, width=width))
    assert len(lines) == -(-len(data) // width)
    hex_width = width * 3 - 1 + (width - 1) // 8
    recovered = b""
    for number, line in enumerate(lines):
        assert not any(_is_control(char) for char in line)
        offset_text, rest = line.split("  ", 1)
        assert int(offset_text, 16) == offset + number * width
        hex_part, text = rest[:hex_width], rest[hex_width + 2 :]
        chunk = bytes.fromhex(hex_part)
        assert len(text) == len(chunk)  # one symbol per byte keeps the columns aligned
        assert text == text_column(chunk)
        recovered += chunk
    assert recovered == data


@pytest.mark.parametrize(
    ("data", "binary"),
    [
        (b"", False),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False),
        ("héllo wörld, ünïcode\tok\n".encode(), False),
        (b"GARBAGE \x01\x02\r\n\r\n", False),  # a few odd bytes in a short line
        (b"\x1b[2J\x1b]0;pwned\x07" + b"text that a terminal would run " * 4, False),
        (bytes(range(256)), True),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(128, 256)), True),
        (b"\x00" * 64, True),
        (b"HTTP/1.1 200 OK\r\n\r\n" + b"\x89PNG\r\n\x1a\n" + b"\x00\x80\xff" * 40, True),
    ],
    ids=[
        "empty",
        "http",
        "utf8",
        "short-garbage",
        "escape-heavy-text",
        "every-byte",
        "jpeg",
        "nuls",
        "headers-then-png",
    ],
)
def test_looks_binary(data: bytes, binary: bool) -> None:
    assert looks_binary(data) is binary
