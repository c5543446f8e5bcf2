"""A HAR saved by a browser's devtools, as a session (store/har_import.py).

tests/data/chromium-devtools.har was saved by headless Chromium 156's own
DevTools (tests/chromiumkit.py) while it loaded netbench's page server (the
page, its JPEG, the favicon) and posted a multipart and a url-encoded form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netbench.engine.engine import load_test_jpeg
from netbench.model import Role
from netbench.store import SessionReader, StoreError
from netbench.store.har import HarExport
from netbench.store.har_import import BROWSER, import_har, imported_from, looks_like_har

CHROMIUM_HAR = Path(__file__).resolve().parent.parent / "data" / "chromium-devtools.har"


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    session = tmp_path / "imported.netbench.sqlite"
    import_har(CHROMIUM_HAR, session)
    return session


def test_a_chromium_har_becomes_a_session(imported: Path) -> None:
    with SessionReader(imported) as reader:
        mark = imported_from(reader)
        assert mark is not None
        assert (mark.format, mark.creator, mark.entries, mark.skipped) == (
            "har",
            "WebInspector 537.36",
            5,
            0,
        )
        assert Path(mark.source) == CHROMIUM_HAR
        [conn] = reader.connections()  # one keep-alive connection (_connectionId 956)
        assert conn.role is Role.CLIENT
        assert (conn.local.host, conn.peer.host) == (BROWSER, "127.0.0.1")
        assert reader.counts().chunks == 0  # nothing invented
        assert reader.socket_events(conn.id) == []
        rows = list(reader.exchanges())
    requests = [(row.request.method, row.request.target) for row in rows if row.request]
    assert requests == [
        (b"GET", b"http://127.0.0.1:43379/"),
        (b"GET", b"http://127.0.0.1:43379/test.jpg"),
        (b"GET", b"http://127.0.0.1:43379/favicon.ico"),
        (b"POST", b"http://127.0.0.1:43379/upload"),
        (b"POST", b"http://127.0.0.1:43379/form?lang=fr&q=caf%C3%A9"),
    ]
    assert [row.index for row in rows] == [0, 1, 2, 3, 4]
    statuses = [row.response.status for row in rows if row.response]
    assert statuses == [200, 200, 404, 404, 404]


def test_headers_and_bodies_as_the_har_gives_them(imported: Path) -> None:
    har = json.loads(CHROMIUM_HAR.read_text(encoding="utf-8"))["log"]["entries"]
    with SessionReader(imported) as reader:
        rows = list(reader.exchanges())
    picture = rows[1]
    assert picture.response is not None and picture.request is not None
    assert picture.response.body == load_test_jpeg()  # Chromium's base64, decoded
    names = [name.decode() for name, _value in picture.request.headers]
    assert names == [header["name"] for header in har[1]["request"]["headers"]]
    form = rows[4].request
    assert form is not None
    assert form.body == b"name=Zo%C3%AB"
    assert rows[0].response is not None
    assert b"Wow, Python Server" in rows[0].response.body
    assert rows[0].request is not None and rows[0].request.version == "1.1"


def test_times_follow_the_har_timings(imported: Path) -> None:
    entry = json.loads(CHROMIUM_HAR.read_text(encoding="utf-8"))["log"]["entries"][0]
    with SessionReader(imported) as reader:
        row = next(reader.exchanges())
    timings = entry["timings"]
    assert row.t_request_start is not None and row.t_request_end is not None
    assert row.t_response_start is not None and row.t_response_end is not None
    assert (row.t_request_end - row.t_request_start) * 1000 == pytest.approx(
        timings["send"], abs=0.001
    )
    assert (row.t_response_start - row.t_request_end) * 1000 == pytest.approx(
        timings["wait"], abs=0.001
    )
    assert (row.t_response_end - row.t_response_start) * 1000 == pytest.approx(
        timings["receive"], abs=0.001
    )


def test_an_imported_session_exports_again(imported: Path, tmp_path: Path) -> None:
    out = tmp_path / "again.har"
    with SessionReader(imported) as reader:
        HarExport(reader).save(out)
    again = json.loads(out.read_text(encoding="utf-8"))["log"]
    original = json.loads(CHROMIUM_HAR.read_text(encoding="utf-8"))["log"]
    assert [e["request"]["url"] for e in again["entries"]] == [
        e["request"]["url"] for e in original["entries"]
    ]
    assert [e["response"]["content"].get("text") for e in again["entries"]] == [
        e["response"]["content"].get("text") for e in original["entries"]
    ]


def har_with(entries: list[Any]) -> dict[str, Any]:
    return {"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}}


def good_entry() -> dict[str, Any]:
    return json.loads(CHROMIUM_HAR.read_text(encoding="utf-8"))["log"]["entries"][0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not a HAR file (not JSON"),
        ('{"log": {}}', "is not a HAR file (no log.entries list)"),
        ("[1, 2]", "is not a HAR file (no log.entries list)"),
        (json.dumps(har_with([{"startedDateTime": "yesterday"}])), "has no readable HAR entry"),
        (
            json.dumps(har_with([{"startedDateTime": 5}])),
            "entry 1: startedDateTime is not a string",
        ),
    ],
)
def test_a_bad_har_is_refused_in_one_line(content: str, message: str, tmp_path: Path) -> None:
    source = tmp_path / "bad.har"
    source.write_text(content)
    with pytest.raises(StoreError, match=re.escape(message)):
        import_har(source, tmp_path / "out.netbench.sqlite")
    assert not (tmp_path / "out.netbench.sqlite").exists()


def test_unreadable_entries_are_skipped_and_counted(tmp_path: Path) -> None:
    broken = good_entry() | {"request": {"url": 5}}
    source = tmp_path / "partly.har"
    source.write_text(json.dumps(har_with([good_entry(), broken])))
    row = import_har(source, tmp_path / "s.netbench.sqlite")
    assert (row.entries, row.skipped) == (1, 1)
    assert row.note == "entry 2: url is not a string"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"response": {"status": "1e400"}}, "status is inf"),
        ({"timings": {"send": "NaN", "wait": 0, "receive": 0}}, "send is nan"),
        ({"response": {"status": 200, "content": {"size": "1e300"}}}, "size is 1e+300"),
        ({"response": {"status": 100000}}, "status is 100000.0"),
    ],
)
def test_numbers_no_session_can_hold_are_refused(
    change: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    """JSON allows 1e400 (inf) and Python's reader NaN: neither is a time or a status."""
    entry = good_entry() | change
    text = json.dumps(har_with([good_entry(), entry]))
    text = text.replace('"1e400"', "1e400").replace('"NaN"', "NaN").replace('"1e300"', "1e300")
    source = tmp_path / "numbers.har"
    source.write_text(text)
    row = import_har(source, tmp_path / "s.netbench.sqlite")
    assert (row.entries, row.skipped) == (1, 1)
    assert row.note is not None and row.note.startswith(f"entry 2: {reason}")


def test_a_session_file_is_not_taken_for_a_har(imported: Path, tmp_path: Path) -> None:
    assert not looks_like_har(imported)
    assert looks_like_har(CHROMIUM_HAR)
    renamed = tmp_path / "saved-from-firefox"
    renamed.write_text('\n  {"log": {"entries": []}}')
    assert looks_like_har(renamed)


def test_netbench_open_of_a_bad_har_is_one_line_exit_1(
    tmp_path: Path, run_netbench: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    source = tmp_path / "bad.har"
    source.write_text("<html>not a har</html>")
    result = run_netbench("open", str(source))
    assert result.returncode == 1
    assert result.stderr.startswith("netbench: error: ")
    assert "is not a HAR file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # A good HAR gets as far as the terminal check, and leaves no file behind.
    result = run_netbench("open", str(CHROMIUM_HAR))
    assert result.returncode == 1
    assert "needs a terminal" in result.stderr
    assert list(temporary.iterdir()) == []


def _imported_with(bad: dict[str, Any], tmp_path: Path, raw: str | None = None) -> Any:
    text = json.dumps(har_with([good_entry(), bad]))
    if raw is not None:
        text = text.replace('"RAW"', raw)
    source = tmp_path / "hostile.har"
    source.write_text(text)
    return import_har(source, tmp_path / "s.netbench.sqlite")


@pytest.mark.parametrize(
    ("change", "raw", "note"),
    [
        # urlsplit raised ValueError, quoting the host raw: ESC c reset the terminal.
        (
            {"request": {"url": "http://\x1bc\x1b(0\x07x\uff03/"}},
            None,
            "entry 2: request.url 'http://␛c␛(0␇x＃/' is not a URL",
        ),
        ({"request": {"url": "http://[::1/"}}, None, "entry 2: request.url 'http://[::1/' is"),
        # float() of an integer of 401 digits: OverflowError, the whole file lost.
        ({"timings": {"send": "RAW"}}, "1" + "0" * 400, "entry 2: send is a number too large"),
        ({"response": {"status": "RAW"}}, "9" * 320, "entry 2: status is a number too large"),
        # Over Python's 4,300 digits json refused the whole file.
        ({"timings": {"wait": "RAW"}}, "7" * 5000, "entry 2: wait is a number too large"),
        # Accepted, then every row of its connection read as damaged.
        ({"startedDateTime": "1969-12-31T23:59:59Z"}, None, "is not between 1970 and 2106"),
        ({"startedDateTime": "9999-12-31T23:00:00+00:00"}, None, "is not between 1970 and 2106"),
        ({"startedDateTime": "0001-01-01T00:00:00"}, None, "is not between 1970 and 2106"),
    ],
)
def test_a_hostile_entry_is_skipped_and_the_file_still_opens(
    change: dict[str, Any], raw: str | None, note: str, tmp_path: Path
) -> None:
    row = _imported_with(good_entry() | change, tmp_path, raw)
    assert (row.entries, row.skipped) == (1, 1)
    assert row.note is not None and note in row.note
    assert "\x1b" not in row.note and "\x07" not in row.note
    with SessionReader(tmp_path / "s.netbench.sqlite") as reader:  # nothing reads as damaged
        assert len(list(reader.connections())) == 1


def test_an_entry_with_more_headers_than_any_server_takes_is_skipped(tmp_path: Path) -> None:
    """200,000 headers made the HTTP tab build for 48 s in 1.3 GB."""
    request = good_entry()["request"] | {
        "headers": [{"name": f"X{i}", "value": "y"} for i in range(1001)]
    }
    row = _imported_with(good_entry() | {"request": request}, tmp_path)
    assert (row.entries, row.skipped) == (1, 1)
    assert row.note == "entry 2: 1001 headers, more than 1000"
