"""Bodies in the HTTP tab: JSON as sent, content codings undone; the Bytes tab stays raw.

Requests are real (http.client on a thread), rows are selected as a user
does (traffic list, End, Enter).
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
from pathlib import Path

import brotli
from backports import zstd
from rich.text import Text
from test_inspector import chunk_bytes, select_last
from uikit import Running

from netbench.engine.config import default_config
from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.http_body import JSON_STYLES
from netbench.ui.widgets.http_view import HttpView

SENT = b'{"a":1,"a":2,"n":1e2,"z":-0,"f":1.0,"s":"\\u00e9 [bold]x[/]"}'
SHOWN = (
    '  {\n    "a": 1,\n    "a": 2,\n    "n": 1e2,\n    "z": -0,\n    "f": 1.0,\n'
    '    "s": "\\u00e9 [bold]x[/]"\n  }\n'
)


async def post(
    running: Running, body: bytes, headers: dict[str, str], port: int | None = None
) -> tuple[int, bytes]:
    def call() -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port or running.port, timeout=5)
        try:
            conn.request("POST", "/api", body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    return await asyncio.to_thread(call)


async def http_document(running: Running, rows: int, wanted: str) -> Text:
    """Select the last of `rows` rows; the HTTP tab's document once it shows `wanted`."""
    await select_last(running, rows)
    view = running.app.screen.query_one(HttpView)
    await running.until(lambda: wanted in view.document.plain, timeout=10)
    return view.document


def styles_at(doc: Text, needle: str) -> list[str]:
    """The styles of the spans that cover the first character of `needle`."""
    at = doc.plain.index(needle)
    return [str(span.style) for span in doc.spans if span.start <= at < span.end]


async def test_json_is_shown_as_sent_token_by_token(running: Running) -> None:
    await post(running, SENT, {"Content-Type": "application/json"})
    doc = await http_document(running, 1, '"n": 1e2')
    assert SHOWN in doc.plain  # both "a" keys, 1e2, -0, 1.0 and the escape as sent
    assert f"Body · json · application/json · {len(SENT)} bytes" in doc.plain
    assert styles_at(doc, '"n"') == [JSON_STYLES["key"]]
    assert styles_at(doc, "1e2") == [JSON_STYLES["number"]]
    assert styles_at(doc, '"\\u00e9') == [JSON_STYLES["string"]]


async def test_invalid_json_is_shown_raw_with_the_position(running: Running) -> None:
    await post(running, b'{"a": 1,\n "b": NaN}', {"Content-Type": "application/json"})
    doc = await http_document(running, 1, "invalid JSON")
    assert "invalid JSON: Expecting value at line 2 col 7" in doc.plain
    assert '  {"a": 1,\n   "b": NaN}\n' in doc.plain


async def test_a_gzip_upload_is_decoded_and_the_bytes_stay_raw(running: Running) -> None:
    body = gzip.compress(SENT)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    await post(running, body, headers)
    doc = await http_document(running, 1, "gzip:")
    assert f"\n  gzip: {len(body)} B -> {len(SENT)} B\n" in doc.plain
    assert SHOWN in doc.plain
    assert f"Body · json · application/json · {len(body)} bytes" in doc.plain

    view = running.app.screen.query_one(BytesView)

    def sent() -> list[bytes]:
        # The request's chunks, up to the response: its head and body may
        # come in one recv or in two (http.client sends them apart).
        pieces = [data for _, data in chunk_bytes(view)]
        replied = [n for n, data in enumerate(pieces) if data.startswith(b"HTTP/1.1 ")]
        return pieces[: replied[0]] if replied else []

    await running.until(lambda: bool(sent()))
    request = b"".join(sent())
    assert request.endswith(b"\r\n\r\n" + body)  # as sent: still gzip


async def test_a_br_of_gzip_response(running: Running, tmp_path: Path) -> None:
    (tmp_path / "body.br").write_bytes(brotli.compress(gzip.compress(SENT)))
    reply = tmp_path / "reply.http"
    reply.write_bytes(
        b"#!netbench body-file body.br\n"
        b"HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Encoding: gzip, br\n\n"
    )
    assert running.app.engine is not None
    server = await running.app.engine.start_server(
        default_config("http", port=0, response_file=reply)
    )
    status, received = await post(running, b"", {}, port=server.address.port)
    assert status == 200 and received == (tmp_path / "body.br").read_bytes()
    doc = await http_document(running, 1, "br:")
    size = len(received)
    gzipped = len(gzip.compress(SENT))
    assert f"\n  br: {size} B -> {gzipped} B\n  gzip: {gzipped} B -> {len(SENT)} B\n" in doc.plain
    assert SHOWN in doc.plain


async def test_bombs_and_undecodable_bodies(running: Running) -> None:
    bomb = zstd.compress(b"\0" * (64 * 1024 * 1024))
    await post(running, bomb, {"Content-Encoding": "zstd"})
    doc = await http_document(running, 1, "zstd:")
    assert f"\n  zstd: {len(bomb):,} B -> 10,485,760 B; cut at 10 MiB\n" in doc.plain
    assert "Body · binary · " in doc.plain
    assert "  binary, 10485760 bytes; the first 256:\n" in doc.plain

    await post(running, b"plain text, not gzip", {"Content-Encoding": "gzip"})
    doc = await http_document(running, 2, "shown as sent")
    assert "  gzip: not gzip data (incorrect header check); shown as sent\n" in doc.plain
    assert "  plain text, not gzip\n" in doc.plain


def test_a_request_never_answered_shows_why_and_no_response_section() -> None:
    from netbench.model import HttpRequest, HttpResponse
    from netbench.store.reader import ExchangeRow
    from netbench.ui.widgets.http_view import exchange_document

    why = "the client reset the connection before it was answered"
    request = HttpRequest(b"GET", b"/held", "1.1", (), b"", 0)
    response = HttpResponse(None, b"", "", (), b"", 0, error=why)
    row = ExchangeRow(7, 1, 0, request, response, 0, 0, -1, -1, 10.0, 10.0, 11.0, 11.0)
    shown = exchange_document(None, row).plain
    assert f"unanswered: {why}" in shown
    assert "No response was sent." in shown
    # Not a response that did not parse, and no "first response byte" that never came.
    assert "no parseable status line" not in shown and "Response (sent)" not in shown
    assert "waited       1000.000 ms  until it was given up" in shown
    assert "first response byte" not in shown
