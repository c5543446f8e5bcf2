from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netbench.protocol.bodies import decode_body
from netbench.protocol.json_text import (
    MAX_INDENT_LEVELS,
    JsonTextError,
    json_pieces,
    reindent,
)

# A JSON string, or a run of whitespace outside one. Written here, apart from
# the module, so that the check does not share the module's tokenizer.
_STRING_OR_SPACE = re.compile(r'("(?:[^"\\]|\\.)*")|[ \t\n\r]+')


def squeezed(text: str) -> str:
    """`text` with the whitespace outside strings removed."""
    return _STRING_OR_SPACE.sub(lambda match: match.group(1) or "", text)


DOCUMENTS = [
    pytest.param('{"a":1,"a":2}', id="duplicate-keys"),
    pytest.param('{"b": 1, "a": 2, "c": {"z": 0, "y": 1}}', id="key-order"),
    pytest.param("[1e2, 1E+2, 2.5e-3, -1.5E-07]", id="exponents"),
    pytest.param("[-0, 0, -0.0, 1.0, 10.50]", id="zeros-and-trailing-zeros"),
    pytest.param('"\\u00e9 caf\\u00E9 \\ud83d\\ude00 \\ud800"', id="unicode-escapes"),
    pytest.param('["\\"", "\\\\", "\\/", "\\b\\f\\n\\r\\t"]', id="short-escapes"),
    pytest.param('{"k": "caf\u00e9 \u202e \u2028"}', id="raw-non-ascii"),
    pytest.param('{"a" :[ ] ,"b":{ } , "c" : [ { } ] }', id="empty-containers"),
    pytest.param('  \r\n\t{"spaced" :\n\n true }\n ', id="odd-whitespace"),
    pytest.param('{"a": "x y  z", "b": " , : [ ] { } "}', id="punctuation-in-strings"),
    pytest.param("null", id="bare-null"),
    pytest.param("123456789012345678901234567890", id="long-integer"),
    pytest.param('"just a string"', id="bare-string"),
    pytest.param("[" * 2000 + "]" * 2000, id="deeply-nested-arrays"),
    pytest.param('{"a":' * 1000 + "1" + "}" * 1000, id="deeply-nested-objects"),
    pytest.param("[" + ",".join(str(i) for i in range(100_000)) + "]", id="huge-array"),
    pytest.param(
        "[" + ",".join(f'{{"id":{i},"v":{i}e1}}' for i in range(20_000)) + "]",
        id="huge-array-of-objects",
    ),
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_only_whitespace_outside_strings_changes(document: str) -> None:
    pretty = reindent(document)
    assert not pretty.cut
    assert squeezed(pretty.text) == squeezed(document)
    assert pretty.text.strip() == pretty.text


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ('{"a":1,"a":2}', '{\n  "a": 1,\n  "a": 2\n}'),
        ("[1e2,-0,1.0]", "[\n  1e2,\n  -0,\n  1.0\n]"),
        ('"\\u00e9"', '"\\u00e9"'),
        ('{"z":1,"a":[]}', '{\n  "z": 1,\n  "a": []\n}'),
        ('[{},[[]],{"k":{}}]', '[\n  {},\n  [\n    []\n  ],\n  {\n    "k": {}\n  }\n]'),
    ],
)
def test_layout(document: str, expected: str) -> None:
    assert reindent(document).text == expected


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ("", "Expecting value at line 1 col 1"),
        ("[1, ]", "Expecting value at line 1 col 5"),
        ('{\n  "a": 1,\n}', "Expecting property name enclosed in double quotes at line 3 col 1"),
        ("[NaN]", "Expecting value at line 1 col 2"),
        ("[Infinity]", "Expecting value at line 1 col 2"),
        ("['single']", "Expecting value at line 1 col 2"),
        ("[01]", "Expecting ',' delimiter at line 1 col 3"),
        ("[1.]", "Expecting ',' delimiter at line 1 col 3"),
        ("[.5]", "Expecting value at line 1 col 2"),
        ("[+1]", "Expecting value at line 1 col 2"),
        ("[\u0661]", "Expecting value at line 1 col 2"),  # an Arabic-Indic digit
        ('{"a" 1}', "Expecting ':' delimiter at line 1 col 6"),
        ("{1: 2}", "Expecting property name enclosed in double quotes at line 1 col 2"),
        ("[1}", "Expecting ',' delimiter at line 1 col 3"),
        ("[}", "Expecting value at line 1 col 2"),
        ("[1] [2]", "Extra data at line 1 col 5"),
        ("[" * 5000, "Expecting value at line 1 col 5001"),
        ('["abc', "Unterminated string at line 1 col 2"),
        ('["abc\\', "Unterminated string at line 1 col 2"),
        ('["a\\x"]', "Invalid \\escape at line 1 col 4"),
        ('["\\u12"]', "Invalid \\escape at line 1 col 3"),
        ('["tab\there"]', "Invalid control character in string at line 1 col 6"),
        ('{"a\nb": 1}', "Invalid control character in string at line 1 col 4"),
        ("[tru]", "Expecting value at line 1 col 2"),
        ("[true false]", "Expecting ',' delimiter at line 1 col 7"),
    ],
)
def test_invalid_json_says_where(document: str, error: str) -> None:
    with pytest.raises(JsonTextError) as raised:
        reindent(document)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    "document",
    ["[1, ]", "[NaN]", "[01]", '["a\\x"]', '["tab\there"]', "[1] [2]", "{1: 2}", "[}"],
)
def test_invalid_for_the_standard_library_too(document: str) -> None:
    """The grammar is the standard one: what json.loads refuses is refused here."""
    with pytest.raises(ValueError):  # noqa: PT011 (any refusal)
        json.loads(document, parse_constant=_refuse)
    with pytest.raises(JsonTextError):
        reindent(document)


def _refuse(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


JSON_BITS = st.sampled_from(
    [*'{}[]:,"\\ 01-.eE+\n\tabfnrtu', "true", "false", "null", '"k"', "\\u00e9", "\x01", "NaN"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(JSON_BITS, max_size=14).map("".join))
def test_refuses_exactly_what_the_standard_library_refuses(text: str) -> None:
    try:
        json.loads(text, parse_constant=_refuse)
    except ValueError:
        with pytest.raises(JsonTextError):
            reindent(text)
    else:
        assert squeezed(reindent(text).text) == squeezed(text)


def test_indentation_stops_growing() -> None:
    pretty = reindent("[" * 500 + "]" * 500).text
    widest = max(len(line) - len(line.lstrip(" ")) for line in pretty.splitlines())
    assert widest == 2 * MAX_INDENT_LEVELS


def test_max_chars_cuts_the_text_but_not_the_check() -> None:
    document = "[" + ",".join(["1"] * 1000) + "]"
    pretty = reindent(document, max_chars=100)
    assert pretty.cut
    assert pretty.text == reindent(document).text[:100]
    with pytest.raises(JsonTextError):
        reindent(document + ",", max_chars=100)


@pytest.mark.parametrize(
    ("line", "pieces"),
    [
        (
            '  "a": [1e2, "x\\"y", true, -0],',
            [
                ("space", "  "),
                ("key", '"a"'),
                ("punct", ":"),
                ("space", " "),
                ("punct", "["),
                ("number", "1e2"),
                ("punct", ","),
                ("space", " "),
                ("string", '"x\\"y"'),
                ("punct", ","),
                ("space", " "),
                ("literal", "true"),
                ("punct", ","),
                ("space", " "),
                ("number", "-0"),
                ("punct", "]"),
                ("punct", ","),
            ],
        ),
        ('  "cut short\\', [("space", "  "), ("string", '"cut short\\')]),
        (
            "NaN [bad]",
            [("other", "NaN"), ("space", " "), ("punct", "["), ("other", "bad"), ("punct", "]")],
        ),
    ],
)
def test_json_pieces(line: str, pieces: list[tuple[str, str]]) -> None:
    assert list(json_pieces(line)) == pieces


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_pieces_spell_any_line(line: str) -> None:
    assert "".join(text for _kind, text in json_pieces(line)) == line


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=25,
)
LAYOUTS = st.sampled_from(
    [
        {},
        {"indent": 4},
        {"separators": (",", ":")},
        {"indent": "\t", "ensure_ascii": False},
        {"separators": (" , ", " : "), "ensure_ascii": False},
    ]
)


@settings(max_examples=300, deadline=None)
@given(JSONISH, LAYOUTS)
def test_any_document_keeps_its_tokens(document: object, layout: dict[str, object]) -> None:
    sent = json.dumps(document, **layout)  # type: ignore[arg-type]
    pretty = reindent(sent).text
    assert squeezed(pretty) == squeezed(sent)
    assert json.loads(pretty, object_pairs_hook=list) == json.loads(sent, object_pairs_hook=list)


@pytest.mark.parametrize(
    ("body", "pretty"),
    [
        (b'{"a":1,"a":2}', '{\n  "a": 1,\n  "a": 2\n}'),
        (b'{"n":1e2,"z":-0,"f":1.0}', '{\n  "n": 1e2,\n  "z": -0,\n  "f": 1.0\n}'),
        (b'["\\u00e9", "\xc3\xa9"]', '[\n  "\\u00e9",\n  "é"\n]'),
        (b'{"b":1,"a":2}', '{\n  "b": 1,\n  "a": 2\n}'),
    ],
)
def test_json_bodies_are_shown_as_sent(body: bytes, pretty: str) -> None:
    decoded = decode_body(b"application/json", body)
    assert decoded.kind == "json"
    assert decoded.json_pretty == pretty
