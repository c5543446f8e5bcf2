"""`netbench session export PATH --har OUT` on real traffic, read back by haralyzer.

One `netbench serve http` records what curl and raw sockets send it: a GET
with a query, url-encoded and multipart POSTs in UTF-8, a binary PUT, the
JPEG, a chunked response, a gzip response, a response netbench resets, a
request the client resets before it is answered, and bytes that are not
HTTP. The export must be a HAR 1.2 file (tests/harschema.py) that
haralyzer, a HAR reader no one here wrote, reads back with the same
entries, decoded fields, bodies byte for byte and timings.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from haralyzer import HarEntry, HarParser
from harschema import har_problems

from netbench.engine.engine import load_test_jpeg
from netbench.store import SessionReader

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")

BINARY = bytes(range(256)) * 8 + b"\x00\r\n\x1b[2J"
GZIPPED_TEXT = "gzip, décodé ✓\n" * 50
RULES = """
[[rule]]
path = "/chunked"
raw = true
text = "HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n7\\r\\n, world\\r\\n0\\r\\n\\r\\n"

[[rule]]
path = "/reset"
text = "#!netbench reset-after head+5\\nHTTP/1.1 200 OK\\nContent-Type: text/plain\\nContent-Length: 20\\n\\n01234567890123456789"

[[rule]]
path = "/gzip"
response = "gzip.http"
"""


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert CURL is not None
    return subprocess.run(
        [CURL, "--silent", "--max-time", "10", "--output", "/dev/null", *args],
        capture_output=True,
        timeout=20,
        check=False,
    )


def send_raw(port: int, data: bytes, *, reset: bool) -> None:
    """Send bytes on a fresh connection; then reset it (RST) or read the answer to the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        if reset:
            time.sleep(0.2)  # the server has read the bytes
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        while conn.recv(65536):
            pass


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, start_module_serve: Any) -> Path:
    """A session of the traffic above, the server stopped (the file complete)."""
    if CURL is None:
        pytest.skip("curl is not installed: the recorded traffic is curl's")
    folder = tmp_path_factory.mktemp("har")
    (folder / "rules.toml").write_text(RULES)
    (folder / "page.gz").write_bytes(gzip.compress(GZIPPED_TEXT.encode()))
    (folder / "gzip.http").write_text(
        "#!netbench body-file page.gz\nHTTP/1.1 200 OK\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Encoding: gzip\n\n"
    )
    (folder / "image.jpg").write_bytes(load_test_jpeg())
    (folder / "binary.bin").write_bytes(BINARY)
    session = folder / "traffic.netbench.sqlite"
    server = start_module_serve(
        "http", "--session", str(session), "--rules", str(folder / "rules.toml")
    )
    base = server.url.rstrip("/")
    assert curl(f"{base}/search?q=caf%C3%A9&tags=a&tags=b&empty=").returncode == 0
    form = ["--data-urlencode", "name=Zoë", "--data-urlencode", "city=Zürich & co"]
    assert curl(*form, f"{base}/form").returncode == 0
    image = f"file=@{folder / 'image.jpg'};type=image/jpeg"
    assert curl("-F", "note=héllo wörld ✓", "-F", image, f"{base}/upload").returncode == 0
    binary = ["-H", "Content-Type: application/octet-stream", "--data-binary"]
    assert curl("-X", "PUT", *binary, f"@{folder / 'binary.bin'}", f"{base}/blob").returncode == 0
    assert curl(f"{base}/test.jpg").returncode == 0
    assert curl(f"{base}/chunked").returncode == 0
    assert curl("-H", "Cookie: session=abc; theme=dark", f"{base}/gzip").returncode == 0
    assert curl(f"{base}/reset").returncode != 0  # netbench reset it mid-body
    half = b"POST /half HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly this"
    send_raw(server.port, half, reset=True)
    send_raw(server.port, b"NOT HTTP AT ALL\r\n\r\n", reset=False)
    server.events(lambda event: event.get("event") == "close" and event.get("reason") == "rst-peer")
    assert server.stop() == 0
    return session


@pytest.fixture(scope="module")
def exported(recorded: Path) -> dict[str, Any]:
    out = recorded.with_name("traffic.har")
    result = subprocess.run(
        [sys.executable, "-m", "netbench", "session", "export", str(recorded), "--har", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("netbench: wrote 10 entries"), result.stderr
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


def by_path(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    entries = document["log"]["entries"]
    return {entry["request"]["url"].split("/", 3)[-1].split("?")[0]: entry for entry in entries}


def test_the_export_is_a_har_1_2_file(exported: dict[str, Any]) -> None:
    assert har_problems(exported) == []
    assert exported["log"]["creator"]["name"] == "netbench"


def test_haralyzer_reads_every_exchange(exported: dict[str, Any], recorded: Path) -> None:
    with SessionReader(recorded) as reader:
        exchanges = reader.counts().exchanges
    parser = HarParser(exported)
    entries = [entry for page in parser.pages for entry in page.entries]
    assert len(entries) == exchanges == 10
    methods = sorted(entry.request.method for entry in entries)
    assert methods.count("POST") == 3  # the form, the upload, the half-sent one
    for page in parser.pages:
        assert page.entries, page.page_id


def entry_for(exported: dict[str, Any], path: str) -> HarEntry:
    return HarEntry(by_path(exported)[path])


def test_query_and_form_fields_are_decoded(exported: dict[str, Any]) -> None:
    search = entry_for(exported, "search")
    assert search.request.queryString == [
        {"name": "q", "value": "café"},
        {"name": "tags", "value": "a"},
        {"name": "tags", "value": "b"},
        {"name": "empty", "value": ""},
    ]
    form = by_path(exported)["form"]["request"]["postData"]
    assert form["params"] == [
        {"name": "name", "value": "Zoë"},
        {"name": "city", "value": "Zürich & co"},
    ]
    assert form["text"] == "name=Zo%C3%AB&city=Z%C3%BCrich+%26+co"  # as curl sent it
    upload = by_path(exported)["upload"]["request"]["postData"]
    assert upload["mimeType"].startswith("multipart/form-data; boundary=")
    assert upload["params"] == [
        {"name": "note", "value": "héllo wörld ✓"},
        {"name": "file", "fileName": "image.jpg", "contentType": "image/jpeg"},
    ]


def test_binary_bodies_come_back_byte_for_byte(exported: dict[str, Any]) -> None:
    blob = entry_for(exported, "blob")
    post = blob.raw_entry["request"]["postData"]
    assert post["encoding"] == "base64"
    assert base64.b64decode(post["text"]) == BINARY
    assert blob.request.bodySize == len(BINARY)
    picture = entry_for(exported, "test.jpg")
    assert picture.response.mimeType == "image/jpeg"
    assert picture.response.textEncoding == "base64"
    assert base64.b64decode(picture.response.text) == load_test_jpeg()
    assert picture.response.bodySize == len(load_test_jpeg())


def test_a_chunked_body_without_its_framing_and_a_gzip_body_decoded(
    exported: dict[str, Any],
) -> None:
    chunked = entry_for(exported, "chunked")
    assert chunked.response.text == "hello, world"
    assert chunked.response.get_header_value("Transfer-Encoding") == "chunked"
    coded = entry_for(exported, "gzip")
    content = coded.raw_entry["response"]["content"]
    assert content["text"] == GZIPPED_TEXT
    assert content["size"] == len(GZIPPED_TEXT.encode())
    assert coded.response.bodySize == len(gzip.compress(GZIPPED_TEXT.encode()))
    assert content["compression"] == content["size"] - coded.response.bodySize > 0
    assert coded.raw_entry["request"]["cookies"] == [
        {"name": "session", "value": "abc"},
        {"name": "theme", "value": "dark"},
    ]


def test_headers_in_wire_order_and_http_1_sizes(exported: dict[str, Any], recorded: Path) -> None:
    search = by_path(exported)["search"]["request"]
    assert [h["name"] for h in search["headers"]] == ["Host", "User-Agent", "Accept"]
    with SessionReader(recorded) as reader:
        exchange = next(reader.exchanges())
        first = next(reader.chunks(exchange.conn_id))
    assert search["headersSize"] == len(first.data)  # the whole GET, head only
    assert search["httpVersion"] == "HTTP/1.1"


def test_reset_unanswered_and_malformed_exchanges_say_so(exported: dict[str, Any]) -> None:
    entries = by_path(exported)
    reset = entries["reset"]
    assert "reset by netbench" in reset["comment"]
    assert reset["response"]["status"] == 200
    assert reset["response"]["content"]["text"] == "01234"
    half = entries["half"]
    assert half["response"]["status"] == 0
    assert "unanswered" in half["comment"] and "reset by the peer" in half["comment"]
    raw = half["_rawRequest"]
    sent = b"POST /half HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly this"
    assert raw["sha256"] == hashlib.sha256(sent).hexdigest()
    assert (raw["offset"], raw["length"]) == (0, len(sent))
    garbage = next(
        e for e in exported["log"]["entries"] if "malformed request" in e.get("comment", "")
    )
    assert garbage["_error"]
    assert garbage["response"]["status"] == 400
    assert (
        garbage["_rawRequest"]["sha256"] == hashlib.sha256(b"NOT HTTP AT ALL\r\n\r\n").hexdigest()
    )


def test_timings_are_the_recorded_ones(exported: dict[str, Any], recorded: Path) -> None:
    with SessionReader(recorded) as reader:
        rows = {row.id: row for row in reader.exchanges(include_bodies=False)}
    for entry in exported["log"]["entries"]:
        row = rows[entry["_exchange"]]
        timings = entry["timings"]
        assert (timings["blocked"], timings["dns"], timings["connect"], timings["ssl"]) == (
            -1,
            -1,
            -1,
            -1,
        )
        assert row.t_request_start is not None and row.t_request_end is not None
        assert timings["send"] == pytest.approx(
            (row.t_request_end - row.t_request_start) * 1000, abs=0.002
        )
        if row.t_response_start is not None and row.t_response_end is not None:
            waited = max(0.0, row.t_response_start - row.t_request_end) * 1000
            assert timings["wait"] == pytest.approx(waited, abs=0.002)
            received = (row.t_response_end - row.t_response_start) * 1000
            assert timings["receive"] == pytest.approx(received, abs=0.002)
        started = HarEntry(entry).startTime
        assert started is not None
        assert started.timestamp() == pytest.approx(row.t_request_start, abs=0.001)


def test_pages_group_by_connection_for_curl(exported: dict[str, Any]) -> None:
    pages = exported["log"]["pages"]
    # curl asks for */*: no browser page, so one page per connection.
    assert all(page["id"].startswith("connection_") for page in pages)
    assert len(pages) == len({entry["connection"] for entry in exported["log"]["entries"]})


def test_stdout_and_bad_output(
    recorded: Path, run_netbench: Callable[..., Any], tmp_path: Path
) -> None:
    result = run_netbench("session", "export", str(recorded), "--har", "-")
    assert result.returncode == 0
    assert len(json.loads(result.stdout)["log"]["entries"]) == 10
    missing = tmp_path / "no" / "such" / "dir" / "out.har"
    result = run_netbench("session", "export", str(recorded), "--har", str(missing))
    assert result.returncode == 1
    assert result.stderr.startswith("netbench: error: cannot write")
    assert len(result.stderr.strip().splitlines()) == 1
