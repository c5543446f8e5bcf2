"""The article before a name in a message: `it is an int`, not `it is a int`."""

from __future__ import annotations

import pytest

from netbench.protocol.words import with_article


@pytest.mark.parametrize(
    ("word", "said"),
    [
        ("int", "an int"),
        ("object", "an object"),
        ("instance", "an instance"),
        ("str", "a str"),
        ("float", "a float"),
        ("echo", "an echo"),
        ("udp-echo", "a udp-echo"),  # "you-dee-pee"
        ("unicode", "a unicode"),
        ("HTTPServer", "an HTTPServer"),  # "aitch"
        ("view", "a view"),
    ],
)
def test_the_article_follows_the_sound(word: str, said: str) -> None:
    assert with_article(word) == said
