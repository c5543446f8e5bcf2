"""The one sanitiser: nothing from the network reaches a terminal as a control."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netbench.protocol.textsafe import page_text, visible, visible_latin1, visible_text


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (b"GET / HTTP/1.1\r\n", "GET / HTTP/1.1␍␊"),
        (b"a\tb\x00c", "a␉b␀c"),
        (b"\x1b]0;pwned\x07", "␛]0;pwned␇"),
        (b"\x1b[31mred", "␛[31mred"),
        (b"\x7f", "␡"),
        (b"\xff\xfe", "\\xff\\xfe"),
        ("\u009b31m".encode(), "\\u{009B}31m"),
        ("abc\u202eevil".encode(), "abc\\u{202E}evil"),
        ("café ✓".encode(), "café ✓"),
        (b"[bold]x[/] [@click=app.quit]", "[bold]x[/] [@click=app.quit]"),
    ],
)
def test_visible(data: bytes, shown: str) -> None:
    assert visible(data) == shown


def test_keep_newlines_adds_a_real_break_after_lf() -> None:
    assert visible(b"a\r\nb", keep_newlines=True) == "a␍␊\nb"


def test_latin1_shows_one_symbol_per_byte() -> None:
    assert visible_latin1(b"X-\xe9\x1b") == "X-\\xe9␛"


def _is_inert(text: str) -> bool:
    """Only printable characters, harmless spaces and combining marks, and line breaks."""
    return all(
        ch == "\n" or ch.isprintable() or unicodedata.category(ch) in ("Zs", "Mn", "Mc", "Me")
        for ch in text
    ) and not any(
        unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
        for ch in text
        if ch != "\n"
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_no_control_character_survives_bytes(data: bytes) -> None:
    assert _is_inert(visible(data, keep_newlines=True))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=100))
def test_no_control_character_survives_text(text: str) -> None:
    assert _is_inert(visible_text(text))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("\x1b]0;pwned\x07", "␛]0;pwned␇"),
        ("<script>\"'&", "&lt;script&gt;&quot;&#x27;&amp;"),
        ("\u009b31m\x7f", "\\u{009B}31m␡"),
        (b"name-\xff\x00", "name-\\xff␀"),
        ("a\r\nb", "a␍␊b"),
    ],
)
def test_page_text(value: str | bytes, shown: str) -> None:
    assert page_text(value) == shown


def test_page_text_can_keep_line_breaks_for_pre() -> None:
    assert page_text("a\r\n<b>\tc", line_breaks=True) == "a␍\n&lt;b&gt;␉c"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=100))
def test_nothing_in_page_text_is_markup_or_a_control(text: str) -> None:
    shown = page_text(text, line_breaks=True)
    assert _is_inert(shown)
    assert not set(shown) & set("<>\"'")
    shown.encode("utf-8")  # no lone surrogate left: the page can always be sent
