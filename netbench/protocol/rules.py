"""Response rules: method + path patterns mapped to raw responses. Pure.

A rules file is TOML, read top to bottom, first match wins:

    [[rule]]
    method = "GET"              # or ["GET", "HEAD"]; omitted = any method
    path = "/api/*"             # shell-style glob on the path (query excluded)
    response = "api.http"       # raw response file, relative to the rules file
    raw = false                 # optional; default: the server's --raw

    [[rule]]
    path = "/teapot"
    text = "HTTP/1.1 418 I'm a teapot\\n\\nshort and stout\\n"   # inline response

Loading the files is the engine's job (engine/live.py); this module only
parses and matches, so it can be tested on strings.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path


class RulesError(ValueError):
    """The rules file is invalid; the message says where and why, in one line."""


@dataclass(frozen=True, slots=True)
class Rule:
    methods: frozenset[bytes] | None
    """Upper-case methods, or None for any."""
    path_glob: str
    response_file: Path | None
    text: bytes | None
    raw: bool | None
    _regex: re.Pattern[str]

    def matches(self, method: bytes, path: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return self._regex.fullmatch(path) is not None

    @property
    def label(self) -> str:
        methods = ",".join(sorted(m.decode() for m in self.methods)) if self.methods else "*"
        return f"{methods} {self.path_glob}"


def parse_rules(text: str, base_dir: Path) -> tuple[Rule, ...]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"not valid TOML: {error}") from None
    unknown = set(document) - {"rule"}
    if unknown:
        raise RulesError(
            f"unknown top-level key(s): {', '.join(sorted(unknown))} (expected [[rule]])"
        )
    entries = document.get("rule", [])
    if not isinstance(entries, list):
        raise RulesError("'rule' must be an array of tables: write [[rule]]")
    return tuple(_parse_rule(number, entry, base_dir) for number, entry in enumerate(entries, 1))


_KEYS = {"method", "path", "response", "text", "raw"}


def _parse_rule(number: int, entry: object, base_dir: Path) -> Rule:
    where = f"rule {number}"
    if not isinstance(entry, dict):
        raise RulesError(f"{where}: must be a table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    method = entry.get("method")
    methods: frozenset[bytes] | None
    if method is None or method == "*":
        methods = None
    elif isinstance(method, str):
        methods = frozenset({method.upper().encode()})
    elif isinstance(method, list) and all(isinstance(m, str) for m in method):
        methods = frozenset(m.upper().encode() for m in method)
    else:
        raise RulesError(f"{where}: method must be a string or a list of strings")
    path = entry.get("path", "*")
    if not isinstance(path, str) or not path:
        raise RulesError(f"{where}: path must be a non-empty string")
    response, text = entry.get("response"), entry.get("text")
    if (response is None) == (text is None):
        raise RulesError(f"{where}: give exactly one of response (a file) or text")
    if response is not None and not isinstance(response, str):
        raise RulesError(f"{where}: response must be a file name")
    if text is not None and not isinstance(text, str):
        raise RulesError(f"{where}: text must be a string")
    raw = entry.get("raw")
    if raw is not None and not isinstance(raw, bool):
        raise RulesError(f"{where}: raw must be true or false")
    return Rule(
        methods=methods,
        path_glob=path,
        response_file=(base_dir / response) if response is not None else None,
        text=text.encode() if text is not None else None,
        raw=raw,
        _regex=re.compile(fnmatch.translate(path)),
    )


def match(rules: tuple[Rule, ...], method: bytes, path: str) -> Rule | None:
    for rule in rules:
        if rule.matches(method, path):
            return rule
    return None
