"""HarExport on sessions made event by event: pipelining, pages, selection, odd exchanges."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from harschema import har_problems
from sessionkit import record

from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    HttpRequestRecorded,
    HttpResponseRecorded,
    ServerStarted,
)
from netbench.model import (
    Direction,
    Endpoint,
    EndReason,
    HttpRequest,
    HttpResponse,
    Role,
    Transport,
)
from netbench.store import SessionReader
from netbench.store.har import HarExport

SERVER = Endpoint("127.0.0.1", 8000)
BODY = bytes(range(256)) * 20  # 5,120 bytes, of which the "recording" kept 10
GET_A = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
PUT_B = b"PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(BODY)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def ok_response() -> HttpResponse:
    return HttpResponse(200, b"OK", "1.1", ((b"Content-Length", b"2"),), b"ok", 2)


def export(path: Path, **options: Any) -> dict[str, Any]:
    with SessionReader(path) as reader:
        document: dict[str, Any] = json.loads(b"".join(HarExport(reader, **options)))
    assert har_problems(document) == []
    return document


def test_a_cut_body_of_a_pipelined_request_is_read_again_from_shared_chunks(
    tmp_path: Path,
) -> None:
    """The PUT starts in the chunk that carried the GET before it: the GET is skipped."""
    t = time.monotonic()
    put = HttpRequest(
        b"PUT",
        b"/b",
        "1.1",
        ((b"Host", b"x"), (b"Content-Length", str(len(BODY)).encode())),
        BODY[:10],
        len(BODY),
        body_truncated=True,
    )
    get = HttpRequest(b"GET", b"/a", "1.1", ((b"Host", b"x"),), b"", 0)
    peer = Endpoint("127.0.0.1", 50000)
    first = GET_A + PUT_B + BODY[:100]
    events: list[Event] = [
        ServerStarted(1, "http", Transport.TCP, SERVER, t),
        ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, SERVER, peer, t),
        ChunkRecorded(1, 0, Direction.IN, 0, first, t + 0.001),
        HttpRequestRecorded(1, 1, 0, get, 0, 0, t + 0.001, t + 0.001),
        ChunkRecorded(1, 1, Direction.IN, len(first), BODY[100:3000], t + 0.002),
        ChunkRecorded(1, 2, Direction.OUT, 0, OK, t + 0.003),
        HttpResponseRecorded(1, 1, ok_response(), 2, 2, t + 0.003, t + 0.003),
        ChunkRecorded(1, 3, Direction.IN, len(first) + 2900, BODY[3000:], t + 0.004),
        HttpRequestRecorded(2, 1, 1, put, 0, 3, t + 0.001, t + 0.004),
        ChunkRecorded(1, 4, Direction.OUT, len(OK), OK, t + 0.005),
        HttpResponseRecorded(2, 1, ok_response(), 4, 4, t + 0.005, t + 0.005),
        ConnectionClosed(1, EndReason.FIN_PEER, t + 0.01, len(first) + 2900 + 2120, 2 * len(OK)),
    ]
    path = tmp_path / "pipelined.netbench.sqlite"
    record(path, events)
    get_entry, put_entry = export(path)["log"]["entries"]
    assert "postData" not in get_entry["request"]
    post = put_entry["request"]["postData"]
    assert base64.b64decode(post["text"]) == BODY
    assert post["_bodyFromChunks"] == {"bytes": len(BODY), "complete": True}
    assert "read again from the recorded chunks" in put_entry["comment"]


def browser_events(t: float) -> list[Event]:
    """A page on connection 2 whose picture came first, on connection 1; then curl on 3."""
    picture = HttpRequest(
        b"GET",
        b"/test.jpg",
        "1.1",
        ((b"Host", b"x:8000"), (b"Sec-Fetch-Dest", b"image"), (b"Referer", b"http://x:8000/")),
        b"",
        0,
    )
    page = HttpRequest(
        b"GET", b"/", "1.1", ((b"Host", b"x:8000"), (b"Sec-Fetch-Dest", b"document")), b"", 0
    )
    html = HttpResponse(200, b"OK", "1.1", ((b"Content-Type", b"text/html"),), b"<p>", 3)
    curl = HttpRequest(b"GET", b"/", "1.1", ((b"Host", b"x:8000"), (b"Accept", b"*/*")), b"", 0)
    events: list[Event] = [ServerStarted(1, "http", Transport.TCP, SERVER, t)]
    for conn_id in (1, 2, 3):
        peer = Endpoint("127.0.0.1", 50000 + conn_id)
        events.append(ConnectionOpened(conn_id, 1, Role.SERVER, Transport.TCP, SERVER, peer, t))
    events += [
        HttpRequestRecorded(1, 2, 0, page, 0, 0, t + 0.001, t + 0.001),
        HttpResponseRecorded(1, 2, html, 1, 1, t + 0.002, t + 0.002),
        HttpRequestRecorded(2, 1, 0, picture, 0, 0, t + 0.003, t + 0.003),
        HttpResponseRecorded(2, 1, ok_response(), 1, 1, t + 0.004, t + 0.004),
        HttpRequestRecorded(3, 3, 0, curl, 0, 0, t + 0.005, t + 0.005),
        HttpResponseRecorded(3, 3, html, 1, 1, t + 0.006, t + 0.006),
    ]
    return events


def test_pages_per_browser_page_else_per_connection(tmp_path: Path) -> None:
    path = tmp_path / "browser.netbench.sqlite"
    record(path, browser_events(time.monotonic()))
    log = export(path)["log"]
    assert [(page["id"], page["title"]) for page in log["pages"]] == [
        ("page_1", "http://x:8000/"),
        ("connection_3", "connection 3: 127.0.0.1:50003 -> 127.0.0.1:8000"),
    ]
    pagerefs = {entry["_exchange"]: entry["pageref"] for entry in log["entries"]}
    assert pagerefs == {1: "page_1", 2: "page_1", 3: "connection_3"}


def test_only_the_selected_exchanges(tmp_path: Path) -> None:
    path = tmp_path / "browser.netbench.sqlite"
    record(path, browser_events(time.monotonic()))
    log = export(path, exchange_ids=[2, 3])["log"]
    assert [entry["_exchange"] for entry in log["entries"]] == [2, 3]
    assert {page["id"] for page in log["pages"]} == {"connection_1", "connection_3"}
    assert export(path, exchange_ids=[])["log"]["entries"] == []


def test_a_response_without_a_request_and_a_request_still_open(tmp_path: Path) -> None:
    t = time.monotonic()
    peer = Endpoint("127.0.0.1", 50000)
    waiting = HttpRequest(b"GET", b"/slow", "1.1", ((b"Host", b"x"),), b"", 0)
    events: list[Event] = [
        ConnectionOpened(1, None, Role.CLIENT, Transport.TCP, peer, SERVER, t),
        HttpResponseRecorded(1, 1, ok_response(), 0, 0, t + 0.001, t + 0.002),
        ConnectionOpened(2, None, Role.CLIENT, Transport.TCP, peer, SERVER, t),
        HttpRequestRecorded(2, 2, 0, waiting, 0, 0, t + 0.003, t + 0.003),
    ]
    path = tmp_path / "odd.netbench.sqlite"
    record(path, events)
    lonely, open_ = export(path)["log"]["entries"]
    assert lonely["comment"] == "no request was recorded on this exchange, only a response"
    assert lonely["request"]["url"] == "http://127.0.0.1:8000/"
    assert lonely["response"]["status"] == 200
    assert open_["comment"].startswith("unanswered: no response was recorded")
    assert open_["response"]["status"] == 0
    assert open_["_role"] == "client"
    assert open_["serverIPAddress"] == "127.0.0.1"


def test_a_request_the_server_never_answered_says_why(tmp_path: Path) -> None:
    t = time.monotonic()
    held = HttpRequest(b"GET", b"/held", "1.1", ((b"Host", b"x"),), b"", 0)
    why = "the client reset the connection before it was answered"
    events: list[Event] = [
        ServerStarted(1, "http", Transport.TCP, SERVER, t),
        ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, SERVER, Endpoint("127.0.0.1", 5), t),
        HttpRequestRecorded(1, 1, 0, held, 0, 0, t, t),
        HttpResponseRecorded(
            1, 1, HttpResponse(None, b"", "", (), b"", 0, error=why), -1, -1, t, t
        ),
    ]
    path = tmp_path / "held.netbench.sqlite"
    record(path, events)
    [entry] = export(path)["log"]["entries"]
    assert entry["comment"] == f"unanswered: {why}"  # not "response cut short"
    assert entry["response"]["status"] == 0
