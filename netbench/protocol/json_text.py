"""JSON re-indented as it was sent: tokens are copied, never parsed into values.

Rules:
- pure, standard library only; the input is text (the caller decodes bytes);
- only the whitespace between tokens changes. Every string, number and
  literal is copied character for character, so duplicate keys, key order,
  ``1e2``, ``-0``, ``1.0`` and ``\\u00e9`` escapes read as the sender wrote
  them (json.loads + json.dumps would show ``{"a":1,"a":2}`` as ``"a": 2``);
- the layout is json.dumps(indent=2)'s: one member per line, ``": "`` after a
  key, empty containers as ``{}`` and ``[]``. Indentation stops growing past
  `MAX_INDENT_LEVELS`, so a crafted ``[[[[…`` cannot make the output
  quadratic, and `reindent` stops writing past ``max_chars`` (it still reads
  to the end: validity is about the whole document);
- the grammar is RFC 8259's, checked in one pass with an explicit stack (any
  depth, no recursion): NaN, trailing commas, single quotes, leading zeros,
  raw control characters in strings and bad escapes are errors, raised as
  `JsonTextError` at the first character that cannot be JSON, in the words
  the standard library uses (``Expecting value at line 1 col 5``);
- `json_pieces` splits one line of re-indented text into pieces to colour.
  It is lexical and never fails, so a line cut short still highlights. (A
  JSON string cannot hold a raw line break, so every token sits on one line.)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_INDENT_LEVELS",
    "JsonPiece",
    "JsonTextError",
    "Reindented",
    "json_pieces",
    "reindent",
]

MAX_INDENT_LEVELS = 32
"""Deeper levels are indented as this one."""

JsonPiece = Literal["space", "key", "string", "number", "literal", "punct", "other"]

_STRING = r'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*'
# One token after optional whitespace. Groups: 1 a string, 2 the ':' after it
# (a key: one token fewer to step through), 3 a number, 4 punctuation, 5 a
# literal, 6 any other character (an error). [0-9], not \d: \d also matches
# other scripts' digits.
_TOKEN = re.compile(
    r"[ \t\n\r]*(?:"
    rf'({_STRING}")([ \t\n\r]*:)?'
    r"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
    r"|([][{}:,])"
    r"|(true|false|null)"
    r"|([^ \t\n\r])"
    r")"
)
_STRING_START = re.compile(_STRING)
_SPACE = re.compile(r"[ \t\n\r]*")

# What the parser expects next.
_VALUE = 0  # a value: at the start, after ':' and after ',' in an array
_FIRST_ITEM = 1  # after '[': a value or ']'
_FIRST_KEY = 2  # after '{': a key or '}'
_KEY = 3  # after ',' in an object
_COLON = 4  # after a key
_AFTER_VALUE = 5  # ',' or the container's close
_DONE = 6  # the top-level value is complete: only whitespace may follow

_EXPECTING = {
    _VALUE: "Expecting value",
    _FIRST_ITEM: "Expecting value",
    _FIRST_KEY: "Expecting property name enclosed in double quotes",
    _KEY: "Expecting property name enclosed in double quotes",
    _COLON: "Expecting ':' delimiter",
    _AFTER_VALUE: "Expecting ',' delimiter",
    _DONE: "Extra data",
}


class JsonTextError(ValueError):
    """The text is not JSON; `pos` is the offset of the first character at fault."""

    def __init__(self, message: str, text: str, pos: int) -> None:
        self.message = message
        self.pos = pos
        self.lineno = text.count("\n", 0, pos) + 1
        self.colno = pos - text.rfind("\n", 0, pos)
        super().__init__(f"{message} at line {self.lineno} col {self.colno}")


@dataclass(frozen=True, slots=True)
class Reindented:
    text: str
    """The document, re-indented (its start only, when `cut`)."""
    cut: bool = False
    """Writing stopped at ``max_chars``; the document was still checked to its end."""


def reindent(text: str, *, indent: int = 2, max_chars: int | None = None) -> Reindented:
    """`text` laid out one member per line, every token as sent; JsonTextError if not JSON."""
    newlines = ["\n" + " " * (indent * level) for level in range(MAX_INDENT_LEVELS + 1)]
    deepest = MAX_INDENT_LEVELS
    parts: list[str] = []
    write = parts.append
    written = 0
    budget = sys.maxsize if max_chars is None else max_chars
    stack: list[str] = []
    state = _VALUE
    end = 0
    error_at: int | None = None
    for token in _TOKEN.finditer(text):
        group = token.lastindex
        depth = len(stack)
        if group == 1 or group == 2:  # a string, or a key with its ':'
            string = token.group(1)
            if state in (_FIRST_KEY, _KEY):
                piece = newlines[min(depth, deepest)] + string if state == _FIRST_KEY else string
                if group == 2:
                    piece += ": "
                state = _VALUE if group == 2 else _COLON
            elif state in (_VALUE, _FIRST_ITEM):
                piece = newlines[min(depth, deepest)] + string if state == _FIRST_ITEM else string
                state = _AFTER_VALUE if stack else _DONE
                if group == 2:  # a ':' after a value
                    error_at = token.end() - 1
                    break
            else:
                error_at = token.start(1)
                break
        elif group == 4:
            value = token.group(4)
            if value == ",":
                if state != _AFTER_VALUE:
                    error_at = token.start(4)
                    break
                state = _KEY if stack[-1] == "{" else _VALUE
                piece = "," + newlines[min(depth, deepest)]
            elif value == ":":
                error_at = token.start(4)  # a ':' is only right after a key, read above
                break
            elif value in "[{":
                if state not in (_VALUE, _FIRST_ITEM):
                    error_at = token.start(4)
                    break
                piece = newlines[min(depth, deepest)] + value if state == _FIRST_ITEM else value
                stack.append(value)
                state = _FIRST_ITEM if value == "[" else _FIRST_KEY
            else:
                opener = "[" if value == "]" else "{"
                empty = state == (_FIRST_ITEM if value == "]" else _FIRST_KEY)
                if not stack or stack[-1] != opener or not (empty or state == _AFTER_VALUE):
                    error_at = token.start(4)
                    break
                stack.pop()
                state = _AFTER_VALUE if stack else _DONE
                piece = value if empty else newlines[min(depth - 1, deepest)] + value
        elif group == 3 or group == 5:  # a number or a literal
            if state not in (_VALUE, _FIRST_ITEM):
                error_at = token.start(group)
                break
            value = token.group(group)
            piece = newlines[min(depth, deepest)] + value if state == _FIRST_ITEM else value
            state = _AFTER_VALUE if stack else _DONE
        else:
            error_at = token.start(6)
            break
        end = token.end()
        if written <= budget:
            write(piece)
            written += len(piece)
    if error_at is None:
        error_at = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if error_at == len(text) and state == _DONE:
            pretty = "".join(parts)
            if max_chars is not None and written > max_chars:
                return Reindented(pretty[:max_chars], cut=True)
            return Reindented(pretty)
    raise _error(text, error_at, state)


def _error(text: str, pos: int, state: int) -> JsonTextError:
    if pos < len(text) and text[pos] == '"' and state in (_VALUE, _FIRST_ITEM, _FIRST_KEY, _KEY):
        start = pos
        pos = _STRING_START.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos:] in ("", "\\"):  # the text ends inside the string
            return JsonTextError("Unterminated string", text, start)
        if text[pos] == "\\":
            return JsonTextError("Invalid \\escape", text, pos)
        return JsonTextError("Invalid control character in string", text, pos)
    return JsonTextError(_EXPECTING[state], text, pos)


# Lenient pieces of one line: every character falls in one group, a string
# cut short included, so matching never fails.
_PIECE = re.compile(
    r'([ \t]+)|("(?:[^"\\]|\\.)*(?:"|\\?$))([ \t]*:)?|(-?[0-9][0-9.eE+-]*)'
    r"|(true|false|null)|([][{}:,])|([^ \t\"\[\]{}:,]+)"
)
_PIECE_KINDS: dict[int, JsonPiece] = {1: "space", 4: "number", 5: "literal", 6: "punct", 7: "other"}


def json_pieces(line: str) -> Iterator[tuple[JsonPiece, str]]:
    """(kind, text) pieces that spell `line` exactly, a string before ':' being a key."""
    pos = 0
    while pos < len(line):
        piece = _PIECE.match(line, pos)
        assert piece is not None and piece.lastindex is not None
        if piece.lastindex >= 2 and piece.group(2) is not None:
            yield ("key" if piece.group(3) is not None else "string"), piece.group(2)
            pos = piece.end(2)
        else:
            yield _PIECE_KINDS[piece.lastindex], piece.group()
            pos = piece.end()
