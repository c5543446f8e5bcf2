"""A HAR file (a browser's devtools export) turned into a session file.

`netbench open FILE.har` converts the HAR into a temporary session and opens
that read-only, so every screen works unchanged; docs/sessions.md explains
the mapping and its limits.

Rules:
- headers and bodies are stored as the HAR gives them: header text back to
  bytes with `har_fields.wire_bytes`, a body's `text` as UTF-8 or, with
  `"encoding": "base64"`, as the bytes it spells. A browser saves the body
  its content coding already undone, so the response headers may name a
  coding the stored body no longer has;
- nothing is invented: no chunk, no packet, no socket event. Exchanges have
  no chunk seqs, and the `imported` table says where the session came from,
  which is how the screens know to say so;
- the entries sharing a connection id (Chromium's `_connectionId`, else
  `connection`, which browsers fill with a port) and a server address become
  one connection, in the order they started; an entry without one gets its own.
  Connections are the browser's, so their role is `client`: netbench's end
  is `browser`, port 0 (a HAR does not say the browser's port);
- request times follow the HAR's `timings`: the request starts after
  `blocked`, `dns` and `connect`, and `send`, `wait` and `receive` follow;
- an entry that cannot be read (a field of the wrong type, a date that is
  not a date) is skipped and counted, and the first reason kept; a file
  that is not JSON, has no `log.entries`, or whose every entry is bad is
  refused with a one-line `StoreError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import platform
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import netbench
from netbench.protocol import har_fields as har
from netbench.protocol.textsafe import visible_text
from netbench.store import schema
from netbench.store.errors import StoreError, one_line
from netbench.store.paths import create_private_file
from netbench.store.reader import SessionReader

_LONGEST_MS = 1e9
"""A timing past this (11 days) is not one: refused, as infinities are."""
_LARGEST_BODY = 2.0**53
_MOST_HEADERS = 1000
"""Header fields a message may have: ten times what netbench's servers take
(`--max-header-fields` 100). 200,000 made the HTTP tab build for 48 s in 1.3 GB."""
_LATEST = 2.0**32
"""Times a session holds are from 1970 to 2106 (store/damage.py checks them so)."""
BROWSER = "browser"
"""netbench's end of an imported connection: the browser that saved the HAR."""
_SQLITE_MAGIC = b"SQLite format 3\x00"


class _BadEntry(ValueError):
    """One entry cannot be read; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class ImportRow:
    """Where an imported session came from (the `imported` table)."""

    t: float
    format: str
    source: str
    creator: str
    entries: int
    skipped: int
    note: str | None


@dataclass(frozen=True, slots=True)
class _Exchange:
    start: float
    key: tuple[str, ...]
    host: str
    port: int
    row: dict[str, Any]


def looks_like_har(path: Path) -> bool:
    """A `.har` name, or JSON rather than SQLite inside (a session is SQLite)."""
    if path.suffix.lower() == ".har":
        return True
    try:
        with path.open("rb") as file:
            head = file.read(64)
    except OSError:
        return False
    return not head.startswith(_SQLITE_MAGIC) and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def import_har(source: Path, target: Path) -> ImportRow:
    """Write the HAR at `source` into a new session file at `target`."""
    exchanges, creator, skipped, note = _read_har(source)
    if target.exists():
        raise StoreError(f"cannot import into {target}: it exists")
    try:
        create_private_file(target)
        conn = sqlite3.connect(str(target), isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot create {target}: {one_line(exc)}") from exc
    row = ImportRow(time.time(), "har", str(source), creator, len(exchanges), skipped, note)
    try:
        schema.migrate(conn, str(target))
        conn.execute("BEGIN")
        _write(conn, source, exchanges, row)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.close()
        target.unlink(missing_ok=True)
        raise StoreError(f"cannot write {target}: {one_line(exc)}") from exc
    conn.close()
    return row


def imported_from(reader: SessionReader) -> ImportRow | None:
    """What this session was imported from; None for a recorded session."""
    if reader.schema_version < 5:
        return None
    found = reader._query(
        "SELECT t, format, source, creator, entries, skipped, note FROM imported"
        " ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if found is None else ImportRow(*found)


# -- reading the HAR -------------------------------------------------------------------


def _read_har(source: Path) -> tuple[list[_Exchange], str, int, str | None]:
    where = str(source)
    try:
        text = source.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read {where}: {one_line(exc)}") from exc
    try:
        document = json.loads(text, parse_int=_integer)
    except (ValueError, RecursionError) as exc:
        raise StoreError(f"{where} is not a HAR file (not JSON: {one_line(exc)})") from exc
    log = document.get("log") if isinstance(document, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(log, dict) or not isinstance(entries, list):
        raise StoreError(f"{where} is not a HAR file (no log.entries list)")
    creator = log.get("creator")
    name = ""
    if isinstance(creator, dict):
        name = " ".join(str(creator.get(key, "")) for key in ("name", "version")).strip()
    exchanges: list[_Exchange] = []
    first_problem: str | None = None
    for number, entry in enumerate(entries, 1):
        try:
            exchanges.append(_exchange(entry, number))
        except _BadEntry as problem:
            first_problem = first_problem or f"entry {number}: {problem}"
        except (ValueError, TypeError, OverflowError, UnicodeError) as problem:
            # A case `_exchange` did not foresee: this entry is lost, not the file.
            # Python's message may quote the entry's bytes: only its kind is said.
            reason = f"entry {number}: unreadable ({type(problem).__name__})"
            first_problem = first_problem or reason
    if entries and not exchanges:
        raise StoreError(f"{where} has no readable HAR entry ({first_problem})")
    skipped = len(entries) - len(exchanges)
    return exchanges, name or "unknown", skipped, first_problem


def _field(obj: Any, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    if not isinstance(obj, dict):
        raise _BadEntry(f"expected an object holding {key!r}")
    value = obj.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _BadEntry(f"{key} is not a {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "string", int: "number", float: "number", list: "list", dict: "object"}
    return " or ".join(sorted({names.get(k, k.__name__) for k in kinds}))


_MOST_DIGITS = 4000
"""Python refuses to read an integer of over 4,300 digits (a guard against slow
conversions); json would then refuse the whole file for one entry's number."""


_TOO_LARGE = 10**_MOST_DIGITS


def _integer(digits: str) -> int:
    # Past the guard the number only reads as "too large": its entry is refused,
    # as one of 309 digits already is, and the rest of the file still opens.
    return int(digits) if len(digits) <= _MOST_DIGITS else _TOO_LARGE


def _number(obj: Any, key: str, default: float, low: float, high: float) -> float:
    """A number within [low, high]: a HAR's infinities, NaNs or 1e300s are refused."""
    try:
        value = float(_field(obj, key, (int, float), default))
    except OverflowError:  # an integer of 309 digits or more
        raise _BadEntry(f"{key} is a number too large") from None
    if not low <= value <= high:  # also false for NaN
        raise _BadEntry(f"{key} is {value!r}, not between {low:g} and {high:g}")
    return value


def _ms(obj: Any, key: str) -> float:
    """A timing in ms, as seconds; -1 or absent reads as 0 (not applicable)."""
    return max(0.0, _number(obj, key, -1, -1, _LONGEST_MS)) / 1000


def _headers(message: dict[str, Any]) -> str:
    pairs = []
    headers = _field(message, "headers", list, [])
    if len(headers) > _MOST_HEADERS:
        raise _BadEntry(f"{len(headers)} headers, more than {_MOST_HEADERS}")
    for header in headers:
        name = _field(header, "name", str, "")
        value = _field(header, "value", str, "")
        pairs.append(
            [har.wire_bytes(name).decode("latin-1"), har.wire_bytes(value).decode("latin-1")]
        )
    return json.dumps(pairs)


def _body(
    holder: dict[str, Any] | None, size_key: str, size_holder: dict[str, Any]
) -> tuple[bytes, int, bool]:
    """(the body, its full length, whether the HAR left part or all of it out)."""
    text = None if holder is None else _field(holder, "text", str)
    size = _number(size_holder, size_key, -1, -1, _LARGEST_BODY)
    if text is None:
        return b"", max(0, int(size)), size > 0
    if holder is not None and _field(holder, "encoding", str, "") == "base64":
        try:
            data = base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise _BadEntry(f"{size_key}: the base64 text does not decode ({exc})") from exc
    else:
        data = text.encode("utf-8", "replace")
    return data, len(data), False


def _exchange(entry: Any, number: int) -> _Exchange:
    started = _field(entry, "startedDateTime", str)
    if started is None:
        raise _BadEntry("no startedDateTime")
    shown = visible_text(started[:40])
    try:
        when = datetime.fromisoformat(started)
    except ValueError:
        raise _BadEntry(f"startedDateTime {shown!r} is not an ISO 8601 date") from None
    try:
        start = when.timestamp()
    except (OverflowError, OSError, ValueError):  # year 1 in local time: before the epoch
        start = -1.0
    if not 0 <= start < _LATEST - _LONGEST_MS * 5 / 1000:  # its timings come after it
        raise _BadEntry(f"startedDateTime {shown!r} is not between 1970 and 2106")
    request = _field(entry, "request", dict)
    response = _field(entry, "response", dict, {})
    timings = _field(entry, "timings", dict, {})
    if request is None:
        raise _BadEntry("no request")
    url = _field(request, "url", str, "")
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1/"; Python's message quotes the host as it is
        raise _BadEntry(f"request.url {visible_text(url[:60])!r} is not a URL") from None
    try:
        port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    except ValueError:
        port = 0
    address = _field(entry, "serverIPAddress", str, "").strip("[]") or (parts.hostname or "")
    # Chromium's `connection` is the server's port; its socket is `_connectionId`.
    connection = _field(entry, "_connectionId", (str, int), "") or _field(
        entry, "connection", (str, int), ""
    )
    key = (address, str(port), str(connection)) if connection != "" else ("entry", str(number))
    t_req0 = start + _ms(timings, "blocked") + _ms(timings, "dns") + _ms(timings, "connect")
    t_req1 = t_req0 + _ms(timings, "send")
    t_resp0 = t_req1 + _ms(timings, "wait")
    t_resp1 = t_resp0 + _ms(timings, "receive")
    req_body, req_len, req_cut = _body(_field(request, "postData", dict), "bodySize", request)
    row: dict[str, Any] = {
        "method": har.wire_bytes(_field(request, "method", str, "")).decode("latin-1"),
        "target": har.wire_bytes(url).decode("latin-1"),
        "http_version": har.version_from_har(_field(request, "httpVersion", str, "")),
        "req_headers": _headers(request),
        "req_body": req_body,
        "req_body_len": req_len,
        "req_body_truncated": int(req_cut),
        "req_keep_alive": 1,
        "t_request_start": t_req0,
        "t_request_end": t_req1,
    }
    status = _number(response, "status", 0, 0, 999)
    error = _field(entry, "_error", str) or _field(response, "_error", str)
    if status or _field(response, "headers", list, []):
        body, size, cut = _body(
            _field(response, "content", dict, {}), "size", _field(response, "content", dict, {})
        )
        row |= {
            "status": int(status) or None,
            "reason": har.wire_bytes(_field(response, "statusText", str, "")).decode("latin-1"),
            "resp_http_version": har.version_from_har(_field(response, "httpVersion", str, "")),
            "resp_headers": _headers(response),
            "resp_body": body,
            "resp_body_len": size,
            "resp_body_truncated": int(cut),
            "resp_error": None,
        }
    else:
        row |= {"status": None, "reason": "", "resp_http_version": "", "resp_headers": "[]"}
        row |= {"resp_body": b"", "resp_body_len": 0, "resp_body_truncated": 0}
        row["resp_error"] = f"the browser got no response ({error or 'status 0'})"
    row |= {"t_response_start": t_resp0, "t_response_end": t_resp1}
    return _Exchange(start, key, address, port, row)


# -- writing the session ---------------------------------------------------------------

_COLUMNS = (
    "method", "target", "http_version", "req_headers", "req_body", "req_body_len",
    "req_body_truncated", "req_keep_alive", "t_request_start", "t_request_end", "status",
    "reason", "resp_http_version", "resp_headers", "resp_body", "resp_body_len",
    "resp_body_truncated", "resp_error", "t_response_start", "t_response_end",
)  # fmt: skip


def _write(
    conn: sqlite3.Connection, source: Path, exchanges: list[_Exchange], row: ImportRow
) -> None:
    now = time.time()
    conn.execute(
        "INSERT INTO session (id, created, netbench_version, argv, hostname, mono_anchor,"
        " wall_anchor) VALUES (1, ?, ?, ?, ?, ?, ?)",
        (now, netbench.__version__, json.dumps(["netbench", "open", str(source)]),
         platform.node(), time.monotonic(), now),
    )  # fmt: skip
    connections: dict[tuple[str, ...], int] = {}
    positions: dict[int, int] = {}
    ends: dict[int, float] = {}
    placeholders = ", ".join("?" for _ in _COLUMNS)
    for exchange in sorted(exchanges, key=lambda exchange: exchange.start):
        conn_id = connections.get(exchange.key)
        if conn_id is None:
            conn_id = connections[exchange.key] = len(connections) + 1
            conn.execute(
                "INSERT INTO connections (id, server_id, role, transport, local_host, local_port,"
                " peer_host, peer_port, opened) VALUES (?, NULL, 'client', 'tcp', ?, 0, ?, ?, ?)",
                (conn_id, BROWSER, exchange.host, exchange.port, exchange.start),
            )
        position = positions.get(conn_id, 0)
        positions[conn_id] = position + 1
        ends[conn_id] = max(ends.get(conn_id, 0.0), exchange.row["t_response_end"])
        conn.execute(
            f"INSERT INTO exchanges (conn_id, idx, {', '.join(_COLUMNS)})"
            f" VALUES (?, ?, {placeholders})",
            (conn_id, position, *(exchange.row.get(column) for column in _COLUMNS)),
        )
    for conn_id, end in ends.items():
        conn.execute(
            "UPDATE connections SET closed = ?, bytes_in = 0, bytes_out = 0 WHERE id = ?",
            (end, conn_id),
        )
    conn.execute(
        "INSERT INTO imported (t, format, source, creator, entries, skipped, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (row.t, row.format, row.source, row.creator, row.entries, row.skipped, row.note),
    )
