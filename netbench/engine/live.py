"""Live responses: files that change what the server answers, no restart.

`serve http --response FILE` and `--rules FILE`, and the TUI's Respond
editor (which saves a file and calls `Engine.set_response`), all come here. Each request stats the files it depends on
(~1 µs) and re-reads one only when its mtime, size or inode changed, so a
save in any editor changes the very next response, including editors that
replace the file instead of writing it in place.

A missing or invalid file never stops the server: the request gets a 500
page saying exactly what is wrong, and the next request tries again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from netbench.model import HttpRequest
from netbench.protocol.responses import Reply, error_page, raw_reply
from netbench.protocol.rules import Rule, RulesError, match, parse_rules

T = TypeVar("T")


class LiveFile(Generic[T]):
    """A file's parsed content, reloaded when the file changes on disk."""

    def __init__(self, path: Path, parse: Callable[[bytes], T]) -> None:
        self.path = path
        self._parse = parse
        self._signature: tuple[int, int, int] | None = None
        self._value: T | None = None
        self._error: str | None = None
        self.reloads = 0

    def get(self) -> T:
        """The current content; raises LiveFileError with a one-line reason."""
        try:
            st = os.stat(self.path)
        except OSError as error:
            self._signature = None
            raise LiveFileError(f"cannot read {self.path}: {error.strerror}") from None
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if signature != self._signature:
            self._signature = signature
            self.reloads += 1
            try:
                self._value, self._error = self._parse(self.path.read_bytes()), None
            except (OSError, ValueError) as error:
                self._value, self._error = None, f"{self.path}: {error}"
        if self._error is not None:
            raise LiveFileError(self._error)
        assert self._value is not None
        return self._value


class LiveFileError(Exception):
    pass


class FileLoader:
    """Reads `body-file` directives' files, relative to a directory, cached by stat."""

    def __init__(self, base_dir: Path | None = None) -> None:
        self.base_dir = base_dir
        self._files: dict[Path, LiveFile[bytes]] = {}

    def __call__(self, name: str) -> bytes:
        path = Path(name).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        live = self._files.get(path)
        if live is None:
            live = self._files[path] = LiveFile(path, bytes)
        try:
            return live.get()
        except LiveFileError as error:
            raise ValueError(str(error)) from None


@dataclass(frozen=True, slots=True)
class Answer:
    """How a live source wants a request answered, before keep-alive is known."""

    raw: bytes
    raw_mode: bool
    source: str
    loader: FileLoader
    """Where its `body-file` directive is read from (the file's own directory)."""


class LiveResponder:
    """Answers from the rules file first, then the response file, else defers."""

    def __init__(
        self,
        *,
        response_file: Path | None = None,
        rules_file: Path | None = None,
        raw: bool = False,
        fix_length: bool = True,
    ) -> None:
        self.raw = raw
        self.fix_length = fix_length
        """Fill in a missing Content-Length (the editor's "auto Content-Length")."""
        self.response = LiveFile(response_file, bytes) if response_file else None
        self.rules = (
            LiveFile(rules_file, lambda data: _parse_rules(data, rules_file.parent))
            if rules_file
            else None
        )
        self._rule_files: dict[Path, LiveFile[bytes]] = {}
        self._response_loader = FileLoader(response_file.parent if response_file else None)
        self._rules_loader = FileLoader(rules_file.parent if rules_file else None)

    @property
    def active(self) -> bool:
        return self.response is not None or self.rules is not None

    @property
    def response_path(self) -> Path | None:
        """The response file answered from, if any."""
        return self.response.path if self.response is not None else None

    @property
    def rules_path(self) -> Path | None:
        """The rules file consulted first, if any."""
        return self.rules.path if self.rules is not None else None

    def answer(
        self, request: HttpRequest, path: str, *, keep_alive: bool, date: bytes
    ) -> Reply | None:
        """A reply for this request, or None to let the server's own handler answer."""
        head_only = request.method == b"HEAD"
        try:
            found = self._find(request.method, path)
        except LiveFileError as error:
            return error_page(500, str(error), head_only=head_only, date=date, source="live")
        if found is None:
            return None
        return raw_reply(
            found.raw,
            raw_mode=found.raw_mode,
            head_only=head_only,
            keep_alive=keep_alive,
            fix_length=self.fix_length,
            source=found.source,
            load_file=found.loader,
            date=date,
        )

    def answers(self, method: bytes, path: str) -> bool:
        """Whether `answer` would reply to this method and path (a broken file too: its 500)."""
        try:
            return self._find(method, path) is not None
        except LiveFileError:
            return True

    def _find(self, method: bytes, path: str) -> Answer | None:
        if self.rules is not None:
            rule = match(self.rules.get(), method, path)
            if rule is not None:
                return self._from_rule(rule)
        if self.response is not None:
            return Answer(
                self.response.get(),
                self.raw,
                f"file {self.response.path.name}",
                self._response_loader,
            )
        return None

    def _from_rule(self, rule: Rule) -> Answer:
        raw_mode = self.raw if rule.raw is None else rule.raw
        if rule.text is not None:
            return Answer(rule.text, raw_mode, f"rule {rule.label}", self._rules_loader)
        assert rule.response_file is not None
        live = self._rule_files.get(rule.response_file)
        if live is None:
            live = self._rule_files[rule.response_file] = LiveFile(rule.response_file, bytes)
        return Answer(live.get(), raw_mode, f"rule {rule.label}", self._rules_loader)


def _parse_rules(data: bytes, base_dir: Path) -> tuple[Rule, ...]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RulesError("rules file is not UTF-8") from None
    return parse_rules(text, base_dir)
