"""Small pieces of English for messages built from names (types, kinds)."""

from __future__ import annotations

_SAID_WITH_A_CONSONANT = ("one", "uni", "use", "usu", "uti", "uuid", "udp", "url", "uri")
"""Spellings starting with a vowel letter that are said starting with a consonant
(`a udp-echo server`, `a unicode`, `a UUID`): `a`, not `an`."""

_SAID_WITH_A_VOWEL = ("hour", "honest", "http", "html", "xml", "sql")
"""Spellings starting with a consonant letter said starting with a vowel (`an HTTP`)."""


def with_article(word: str) -> str:
    """`an int`, `a str`, `an object`, `a udp-echo`: the indefinite article as the
    word is said, as far as its spelling tells."""
    lower = word.lower()
    vowel = lower[:1] in ("a", "e", "i", "o", "u")
    if lower.startswith(_SAID_WITH_A_CONSONANT):
        vowel = False
    elif lower.startswith(_SAID_WITH_A_VOWEL):
        vowel = True
    return f"{'an' if vowel else 'a'} {word}"
