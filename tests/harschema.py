"""The HAR 1.2 structure, checked field by field (the spec: softwareishard.com HAR 1.2).

`har_problems(document)` lists every place where a HAR breaks the spec:
a required field missing, a field of the wrong type, a field the spec does
not know (custom fields must start with `_`), a date that is not ISO 8601,
a timing below what it may be, or an entry's `time` that is not the sum
of its timings. Written from the spec for these tests; an empty list means
the document is a HAR 1.2 file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Spec = dict[str, tuple[Any, bool]]
"""field -> (type or nested spec or [item spec], required)."""

NUMBER = (int, float)

_COMMENT: Spec = {"comment": (str, False)}
_NAME_VALUE: Spec = {"name": (str, True), "value": (str, True), **_COMMENT}
_CREATOR: Spec = {"name": (str, True), "version": (str, True), **_COMMENT}
_COOKIE: Spec = {
    "name": (str, True),
    "value": (str, True),
    "path": (str, False),
    "domain": (str, False),
    "expires": (str, False),
    "httpOnly": (bool, False),
    "secure": (bool, False),
    **_COMMENT,
}
_PARAM: Spec = {
    "name": (str, True),
    "value": (str, False),
    "fileName": (str, False),
    "contentType": (str, False),
    **_COMMENT,
}
_POST_DATA: Spec = {
    "mimeType": (str, True),
    "params": ([_PARAM], False),
    "text": (str, False),
    # Not HAR 1.2, which has `encoding` for response content only: netbench
    # writes it here too, with the same meaning, so a binary request body
    # survives (docs/sessions.md says so). The one field allowed beyond the spec.
    "encoding": (str, False),
    **_COMMENT,
}
_REQUEST: Spec = {
    "method": (str, True),
    "url": (str, True),
    "httpVersion": (str, True),
    "cookies": ([_COOKIE], True),
    "headers": ([_NAME_VALUE], True),
    "queryString": ([_NAME_VALUE], True),
    "postData": (_POST_DATA, False),
    "headersSize": (int, True),
    "bodySize": (int, True),
    **_COMMENT,
}
_CONTENT: Spec = {
    "size": (int, True),
    "compression": (int, False),
    "mimeType": (str, True),
    "text": (str, False),
    "encoding": (str, False),
    **_COMMENT,
}
_RESPONSE: Spec = {
    "status": (int, True),
    "statusText": (str, True),
    "httpVersion": (str, True),
    "cookies": ([_COOKIE], True),
    "headers": ([_NAME_VALUE], True),
    "content": (_CONTENT, True),
    "redirectURL": (str, True),
    "headersSize": (int, True),
    "bodySize": (int, True),
    **_COMMENT,
}
_CACHE_ENTRY: Spec = {
    "expires": (str, False),
    "lastAccess": (str, True),
    "eTag": (str, True),
    "hitCount": (int, True),
    **_COMMENT,
}
_CACHE: Spec = {
    "beforeRequest": (_CACHE_ENTRY, False),
    "afterRequest": (_CACHE_ENTRY, False),
    **_COMMENT,
}
_TIMINGS: Spec = {
    "blocked": (NUMBER, False),
    "dns": (NUMBER, False),
    "connect": (NUMBER, False),
    "send": (NUMBER, True),
    "wait": (NUMBER, True),
    "receive": (NUMBER, True),
    "ssl": (NUMBER, False),
    **_COMMENT,
}
_ENTRY: Spec = {
    "pageref": (str, False),
    "startedDateTime": (str, True),
    "time": (NUMBER, True),
    "request": (_REQUEST, True),
    "response": (_RESPONSE, True),
    "cache": (_CACHE, True),
    "timings": (_TIMINGS, True),
    "serverIPAddress": (str, False),
    "connection": (str, False),
    **_COMMENT,
}
_PAGE: Spec = {
    "startedDateTime": (str, True),
    "id": (str, True),
    "title": (str, True),
    "pageTimings": ({"onContentLoad": (NUMBER, False), "onLoad": (NUMBER, False)}, True),
    **_COMMENT,
}
_LOG: Spec = {
    "version": (str, True),
    "creator": (_CREATOR, True),
    "browser": (_CREATOR, False),
    "pages": ([_PAGE], False),
    "entries": ([_ENTRY], True),
    **_COMMENT,
}
_DATES = {"startedDateTime", "expires", "lastAccess"}


def har_problems(document: Any) -> list[str]:
    """Every way `document` (parsed JSON) is not a HAR 1.2 file; [] when it is one."""
    problems: list[str] = []
    if not isinstance(document, dict) or set(document) - {"log"}:
        return ["the top level must be an object holding only `log`"]
    _check(document.get("log"), _LOG, "log", problems)
    if problems:
        return problems
    log = document["log"]
    if log["version"] != "1.2":
        problems.append(f"log.version is {log['version']!r}, not '1.2'")
    page_ids = {page["id"] for page in log.get("pages", [])}
    for index, entry in enumerate(log["entries"]):
        where = f"log.entries[{index}]"
        if "pageref" in entry and entry["pageref"] not in page_ids:
            problems.append(f"{where}.pageref {entry['pageref']!r} names no page")
        timings = entry["timings"]
        for name in ("send", "wait", "receive"):
            if timings[name] < 0:
                problems.append(f"{where}.timings.{name} is negative")
        for name in ("blocked", "dns", "connect", "ssl"):
            if timings.get(name, -1) < -1:
                problems.append(f"{where}.timings.{name} is below -1")
        parts = ("blocked", "dns", "connect", "send", "wait", "receive")
        total = sum(timings.get(name, -1) for name in parts if timings.get(name, -1) > 0)
        if abs(total - entry["time"]) > 0.01:
            problems.append(f"{where}.time {entry['time']} is not the sum of its timings {total}")
    return problems


def _check(value: Any, spec: Any, where: str, problems: list[str]) -> None:
    if isinstance(spec, list):
        if not isinstance(value, list):
            problems.append(f"{where} is not a list")
            return
        for index, item in enumerate(value):
            _check(item, spec[0], f"{where}[{index}]", problems)
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            problems.append(f"{where} is not an object")
            return
        for name, (field_spec, required) in spec.items():
            if name in value:
                _check(value[name], field_spec, f"{where}.{name}", problems)
            elif required:
                problems.append(f"{where}.{name} is missing")
        for name in value:
            if name not in spec and not name.startswith("_"):
                problems.append(f"{where}.{name} is not a HAR 1.2 field (custom ones start with _)")
        return
    if isinstance(value, bool) and spec is not bool:
        problems.append(f"{where} is a boolean")
    elif not isinstance(value, spec):
        problems.append(f"{where} is {type(value).__name__}, not {spec}")
    elif where.rsplit(".", 1)[-1] in _DATES:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            problems.append(f"{where} {value!r} is not an ISO 8601 date")
