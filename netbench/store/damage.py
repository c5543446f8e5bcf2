"""Reading a damaged session file: what counts as damage, and how it is said.

A session file can be damaged by a disk, a copy cut short, or a hand edit.
Reading one must never crash netbench. The rules:

- text that is not UTF-8 is read with U+FFFD in place of the bad bytes
  (`decode_text` is the readers' `text_factory`): one bad byte must not
  hide a whole exchange;
- everything else that cannot be read is damage, raised as a
  `DamagedFileError` whose message ends "(the file is damaged: <what>)":
  SQLite finding the file corrupt or missing a table or column netbench
  wrote (`read_error`), a value of the wrong type (SQLite keeps whatever a
  column is given: `Columns`), JSON that does not parse or has the wrong
  shape;
- SQLite failures that say nothing about the file's contents (busy, I/O,
  permissions, out of memory) are not damage and keep their own message.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from netbench.protocol.textsafe import visible_text
from netbench.store.errors import DamagedFileError, StoreError, one_line

SQLITE_MAGIC = b"SQLite format 3\x00"
"""The first bytes of every SQLite database."""
_SQLITE_HEADER = 100
"""An SQLite file is never shorter than its header (only an empty one is)."""


def decode_text(raw: bytes) -> str:
    """A connection's `text_factory`: TEXT that is not UTF-8 reads with U+FFFD."""
    return raw.decode("utf-8", "replace")


# The result codes that describe the file's contents. SQLITE_ERROR is what a
# query of a healthy file never gets: a table or column missing, JSON that
# does not parse (the `chunks` view, the counts).
_DAMAGE_CODES = frozenset(
    {
        sqlite3.SQLITE_ERROR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_FORMAT,
        sqlite3.SQLITE_MISMATCH,
        sqlite3.SQLITE_TOOBIG,
        sqlite3.SQLITE_SCHEMA,
    }
)


def damaged(where: str, what: str) -> DamagedFileError:
    """The error for damage found reading `where`; `what` says which (one line)."""
    # `what` may quote the file (a value, a name in its schema): made inert.
    what = visible_text(" ".join(what.split()))
    return DamagedFileError(f"cannot read {where} (the file is damaged: {what})", what)


def read_error(exc: sqlite3.Error | UnicodeDecodeError, where: str) -> StoreError:
    """The StoreError for a failed read: damage when SQLite's answer says so."""
    if isinstance(exc, UnicodeDecodeError):
        # SQLite names what it found in a corrupt schema, bytes and all, and
        # Python's sqlite3 fails to decode that message.
        return damaged(where, decode_text(bytes(exc.object)))
    if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _DAMAGE_CODES:
        return damaged(where, one_line(exc))
    return StoreError(f"cannot read {where}: {one_line(exc)}")


def starts_like_sqlite(path: Path) -> bool:
    """The file begins with SQLite's magic, or is cut short inside its header."""
    try:
        with path.open("rb") as file:
            head = file.read(_SQLITE_HEADER)
    except OSError:
        return False
    if len(head) >= len(SQLITE_MAGIC):
        return head.startswith(SQLITE_MAGIC)
    return bool(head) and SQLITE_MAGIC.startswith(head)


def cut_in_header(path: Path) -> str | None:
    """What is wrong when the file ends inside SQLite's header (SQLite reads it as empty)."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if 0 < size < _SQLITE_HEADER and starts_like_sqlite(path):
        return f"it ends after {size} bytes, inside SQLite's {_SQLITE_HEADER}-byte header"
    return None


class Rows:
    """A cursor whose failures, also those met while iterating, are StoreErrors.

    SQLite reads pages as rows are fetched: a corrupt page halfway through a
    table fails on that row, long after the query started.
    """

    __slots__ = ("_cursor", "_where")

    def __init__(self, cursor: sqlite3.Cursor, where: str) -> None:
        self._cursor = cursor
        self._where = where

    def __iter__(self) -> Iterator[Any]:
        try:
            # Not `yield from`: closing this generator would close the cursor,
            # which fails once the connection is closed.
            for row in self._cursor:  # noqa: UP028
                yield row
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise read_error(exc, self._where) from exc

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise read_error(exc, self._where) from exc

    def fetchall(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise read_error(exc, self._where) from exc


# -- values of the right type -----------------------------------------------------

_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "size": (int,),
    "u32": (int,),
    "real": (int, float),
    "time": (int, float),
    "text": (str,),
    "blob": (bytes,),
}
_BOUNDS: dict[str, tuple[float, float]] = {
    "time": (0, 2**32),  # 1970 to 2106, as pcap's 32-bit seconds hold (and a date shows)
    "size": (0, 2**63),  # a byte offset or count
    "u32": (0, 2**32),  # as pcap's header holds a link type
}
"""Kinds whose values must also lie in [low, high) (NaN never does)."""


def _described(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return f"the number {value:g}" if isinstance(value, float) else "an integer"
    if isinstance(value, str):
        return "text"
    return "a blob"


class Columns:
    """The types of a query's columns: a row of other types is damage.

    `spec` names each column with its kind, `?` when it may be NULL:
    `"id:int host:text stopped:time?"` (a name with a dot names a column of
    another table). A `time` is unix seconds that can be shown as a date, a
    `size` an integer from 0, a `u32` one below 2**32. Checking costs one
    C-level pass over the row.
    """

    def __init__(self, table: str, spec: str) -> None:
        self.table = table
        self._names: list[str] = []
        self._kinds: list[str] = []
        types: list[tuple[type, ...]] = []
        for column in spec.split():
            name, kind = column.split(":")
            nullable = kind.endswith("?")
            kind = kind.rstrip("?")
            self._names.append(name if "." in name else f"{table}.{name}")
            self._kinds.append(kind)
            types.append(_KINDS[kind] + ((type(None),) if nullable else ()))
        self._types = tuple(types)
        self._bounded = tuple(
            (index, *_BOUNDS[kind]) for index, kind in enumerate(self._kinds) if kind in _BOUNDS
        )

    def check(self, row: tuple[Any, ...], where: str) -> tuple[Any, ...]:
        """`row` itself when every value has its column's kind, else DamagedFileError."""
        if len(row) == len(self._types) and all(map(isinstance, row, self._types)):
            for index, low, high in self._bounded:
                value = row[index]
                if value is not None and not low <= value < high:
                    break
            else:
                return row
        raise self._damage(row, where)

    def _damage(self, row: tuple[Any, ...], where: str) -> DamagedFileError:
        for name, kind, types, value in zip(
            self._names, self._kinds, self._types, row, strict=False
        ):
            bounds = _BOUNDS.get(kind)
            if not isinstance(value, types):
                return damaged(where, f"{name} holds {_described(value)}, not {kind}")
            if bounds and isinstance(value, int | float) and not bounds[0] <= value < bounds[1]:
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                return damaged(where, f"{name} holds the number {shown}, not a {kind}")
        return damaged(where, f"a {self.table} row has {len(row)} columns")


def load_json(text: str, column: str, where: str) -> Any:
    """A JSON column's value; text that is not JSON is damage."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise damaged(where, f"{column} is not JSON") from exc
