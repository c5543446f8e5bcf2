"""The inspector on real traffic: exact bytes in the Bytes tab, HTTP read back, inert text.

Requests are real (http.client, or a raw socket for bytes http.client refuses
to send); rows are selected the way a user does (traffic list, End, Enter).
"""

from __future__ import annotations

import asyncio
import http.client
import re
import socket
import time
from pathlib import Path

from uikit import Running

from netbench.events import ChunkRecorded, ConnectionClosed, ConnectionOpened, ServerStarted
from netbench.model import Direction, Endpoint, EndReason, Role, Transport
from netbench.store import SessionWriter, chunk_index
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.messages import Selection
from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.http_view import HttpView
from netbench.ui.widgets.traffic import TrafficList

_HEX_LINE = re.compile(r"^([0-9a-f]{8,})  ((?:[0-9a-f]{2} {1,2}){1,16})")


async def send(
    running: Running, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> int:
    """A real request with headers in this order (http.client adds Host first)."""

    def call() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    return await asyncio.to_thread(call)


async def send_raw(running: Running, data: bytes) -> bytes:
    """Bytes exactly as given (http.client refuses control bytes in a path)."""

    def call() -> bytes:
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            return b"".join(iter(lambda: sock.recv(65536), b""))

    return await asyncio.to_thread(call)


async def select_last(running: Running, rows: int) -> None:
    """Wait for `rows` rows, then End and Enter in the traffic list, as a user does."""
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= rows)
    traffic.focus()
    await running.pilot.press("end", "enter")
    await running.pilot.pause(0.3)  # the store is up to ~100 ms behind the engine


def lines(view: BytesView) -> list[str]:
    return [
        view.render_line(y - round(view.scroll_y)).text.rstrip() for y in range(view.line_count)
    ]


def chunk_bytes(view: BytesView) -> list[tuple[str, bytes]]:
    """Each chunk's header line and the bytes its hex lines spell."""
    out: list[tuple[str, bytes]] = []
    for line in lines(view):
        match = _HEX_LINE.match(line)
        if match:
            out[-1] = (out[-1][0], out[-1][1] + bytes.fromhex(match.group(2)))
        else:
            out.append((line, b""))
    return out


async def test_bytes_tab_shows_the_exact_request_and_the_response(running: Running) -> None:
    status, _ = await running.get("/hello")
    assert status == 404
    await select_last(running, 1)
    view = running.app.screen.query_one(BytesView)
    await running.until(lambda: len(view.chunks) >= 2)
    request = f"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\nAccept-Encoding: identity\r\n\r\n"
    (in_head, in_bytes), (out_head, out_bytes) = chunk_bytes(view)[:2]
    assert in_bytes == request.encode()
    assert out_bytes.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert "#0" in in_head and "<- in" in in_head and f"{len(request)} B" in in_head
    assert re.search(r"\+\d+\.\d{3} ms", in_head)
    assert "#1" in out_head and "-> out" in out_head and "offset 0" in out_head
    first = lines(view)[1]
    assert first.startswith(
        "00000000  47 45 54 20 2f 68 65 6c  6c 6f 20 48 54 54 50 2f  GET /hello HTTP/"
    )
    assert lines(view)[2].endswith("1.1␍␊Host: 127.0")

    view.focus()
    await running.pilot.press("x")  # text only: one line per LF, CR and LF as symbols
    text = lines(view)
    assert "GET /hello HTTP/1.1␍␊" in text
    assert f"Host: 127.0.0.1:{running.port}␍␊" in text
    assert "HTTP/1.1 404 Not Found␍␊" in text
    await running.pilot.press("right_square_bracket", "c")  # select chunk #0, copy it
    assert running.app.clipboard.startswith("GET /hello HTTP/1.1␍␊\nHost: ")  # as shown
    await running.pilot.press("x", "c")  # back to hex: the same chunk as hex
    assert running.app.clipboard == request.encode().hex(" ")


async def test_http_tab_shows_headers_in_wire_order_and_the_form(running: Running) -> None:
    headers = {"content-TYPE": "application/x-www-form-urlencoded", "X-lower-Case": "yes"}
    await send(running, "POST", "/form?x=1", b"firstname=Ann", headers)
    await select_last(running, 1)
    view = running.app.screen.query_one(HttpView)
    await running.until(lambda: view.exchange is not None and view.exchange.response is not None)
    doc = view.document.plain
    assert "POST /form?x=1 HTTP/1.1" in doc
    head = doc.split("POST /form?x=1 HTTP/1.1\n", 1)[1].split("\n\n", 1)[0]
    names = [line.split(":")[0] for line in head.splitlines()]
    assert names[:5] == [
        "Host",
        "Accept-Encoding",
        "Content-Length",
        "content-TYPE",
        "X-lower-Case",
    ]
    assert "Body · form · application/x-www-form-urlencoded · 13 bytes" in doc
    assert re.search(r"^  firstname +Ann$", doc, re.MULTILINE)
    assert "raw bytes: Bytes tab (b)" in doc
    assert re.search(r"total +\d+\.\d{3} ms", doc)

    await running.pilot.press("h")
    assert running.app.screen.query_one("#inspector").active == "http"  # type: ignore[attr-defined]
    view.focus()
    await running.pilot.press("k", "c")  # copy as… curl: the recorded bytes, in wire order
    await running.until(lambda: running.app.clipboard.startswith("curl"))
    assert running.app.clipboard == (
        f"curl -H 'Host: 127.0.0.1:{running.port}' -H 'Accept-Encoding: identity'"
        " -H 'Content-Length: 13'"
        " -H 'content-TYPE: application/x-www-form-urlencoded' -H 'X-lower-Case: yes'"
        " -H User-Agent: -H Accept:"
        f" --data-binary firstname=Ann 'http://127.0.0.1:{running.port}/form?x=1'"
    )


async def inspect(running: Running, index: int) -> tuple[str, list[str]]:
    """The HTTP document and the Bytes tab's text lines for traffic row `index`."""
    traffic = running.app.screen.query_one(TrafficList)
    http_view = running.app.screen.query_one(HttpView)
    bytes_view = running.app.screen.query_one(BytesView)
    await running.until(lambda: len(traffic.model) > index)
    row = traffic.model.row_at(index, running.app.reader())
    assert row is not None
    selection = Selection(row.conn_id, row.exchange_id)
    http_view.show(selection)
    bytes_view.show(selection)
    await running.until(lambda: http_view.exchange is not None and len(bytes_view.chunks) >= 2)
    bytes_view.text_only = True
    return http_view.document.plain, lines(bytes_view)


async def test_markup_in_a_request_is_shown_literally(running: Running) -> None:
    await send(running, "GET", "/[bold]x[/]", None, {"X-Markup": "[/] [@click=app.quit]"})
    document, stream = await inspect(running, 0)
    assert "GET /[bold]x[/] HTTP/1.1" in document
    assert "X-Markup: [/] [@click=app.quit]" in document
    assert "GET /[bold]x[/] HTTP/1.1␍␊" in stream
    assert running.app.is_running


async def test_escape_sequences_are_shown_as_symbols(running: Running) -> None:
    # http.client refuses control bytes: these go out raw. The parser rejects
    # both requests; the error is shown first, the bytes stay visible.
    await send_raw(running, b"GET /\x1b]0;pwned\x07 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await send_raw(running, b"GET / HTTP/1.1\r\nX-Evil: \x1b]0;pwned\x07\r\n\r\n")
    for index, raw in ((0, "GET /␛]0;pwned␇ HTTP/1.1␍␊"), (1, "X-Evil: ␛]0;pwned␇␍␊")):
        document, stream = await inspect(running, index)
        assert raw in stream
        assert document.splitlines()[2].startswith(" ⚠ request parse error: ")
        assert "400 Bad Request" in document
        for text in (document, *stream):
            assert not set(text) & {"\x1b", "\x07", "\r", "\x00"}


async def test_a_live_connection_grows_in_place(running: Running) -> None:
    """Keep-alive: the Bytes tab follows new chunks; an exchange opens at its own."""
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)

    def get(path: str) -> None:
        conn.request("GET", path)
        conn.getresponse().read()

    try:
        await asyncio.to_thread(get, "/one")
        await select_last(running, 1)
        view = running.app.screen.query_one(BytesView)
        await running.until(lambda: len(view.chunks) == 2)
        await asyncio.to_thread(get, "/two")
        await running.until(lambda: len(view.chunks) == 4)  # no new selection needed
        assert any(line.startswith("00000050  ") for line in lines(view))  # offsets run on

        await select_last(running, 2)  # the second exchange: its request chunk on top
        await running.until(lambda: view.render_line(0).text.startswith("── #2 "))
        http_view = running.app.screen.query_one(HttpView)
        assert view.selection is not None
        http_view.show(Selection(view.selection.conn_id))  # the connection alone
        summary = http_view.document.plain
    finally:
        conn.close()
    assert "Exchanges (2)" in summary
    assert re.search(r"GET /one -> 404.*\n.*GET /two -> 404", summary)
    assert "raw bytes: Bytes tab (b)" in summary


CHUNK = 256 * 1024


def big_session(path: Path, chunks: int) -> bytes:
    """A session with one connection of `chunks` 256 KiB chunks; its last chunk."""
    t0 = time.monotonic()
    local, peer = Endpoint("127.0.0.1", 8000), Endpoint("127.0.0.1", 50000)
    with SessionWriter(path) as writer:
        writer(ServerStarted(1, "http", Transport.TCP, local, t0))
        writer(ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, local, peer, t0))
        writer(ChunkRecorded(1, 0, Direction.IN, 0, b"GET /big HTTP/1.1\r\n\r\n", t0 + 0.001))
        for seq in range(1, chunks + 1):
            lines = b"".join(b"chunk %04d line %06d\r\n" % (seq, n) for n in range(CHUNK // 24 + 1))
            data = lines[:CHUNK]
            writer(ChunkRecorded(1, seq, Direction.OUT, (seq - 1) * CHUNK, data, t0 + seq * 0.001))
        writer(ConnectionClosed(1, EndReason.FIN_LOCAL, t0 + 1, 21, chunks * CHUNK))
    return data


async def test_a_20_mb_connection_scrolls_without_loading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.netbench.sqlite"
    last = big_session(path, chunks=80)
    app = NetbenchApp(AppConfig(open_path=path))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        view = app.screen.query_one(BytesView)
        start = time.perf_counter()
        view.show(Selection(1))
        shown = time.perf_counter()
        view.action_end()
        jumped = time.perf_counter()
        screen = [view.render_line(y).text for y in range(view.scrollable_content_region.height)]
        drawn = time.perf_counter()
        print(
            f"\n20 MB connection: index {1000 * (shown - start):.1f} ms, "
            f"end key {1000 * (jumped - shown):.1f} ms, one screen {1000 * (drawn - jumped):.1f} ms"
        )
        assert len(view.chunks) == 81
        end = 80 * CHUNK
        assert screen[-1].startswith(f"{end - 16:08x}  ")
        tail = last[-16:].decode().replace("\r", "␍").replace("\n", "␊")
        assert screen[-1].rstrip().endswith(tail.rstrip())
        assert view.fetches <= 3 and view.cached_chunks <= 3

        view.focus()
        await pilot.press("x")  # text mode: counts are exact for what is on screen
        await pilot.press("end")
        text = [
            view.render_line(y).text.rstrip() for y in range(view.scrollable_content_region.height)
        ]
        assert text[-1] == last.decode().splitlines()[-1] + "␍␊" or text[-1].startswith(
            "chunk 0080"
        )
        await pilot.press("home")
        assert view.render_line(0).text.startswith("── #0 ")
        assert view.render_line(1).text.rstrip() == "GET /big HTTP/1.1␍␊"
        assert view.fetches <= 8
        assert len(chunk_index(app.reader(), 1)) == 81  # type: ignore[arg-type]
