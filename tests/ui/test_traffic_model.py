"""The traffic model keeps what it holds per connection bounded by its recent rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sessionkit import record

from netbench.events import (
    ConnectionClosed,
    ConnectionOpened,
    Event,
    HttpRequestRecorded,
    HttpResponseRecorded,
    ServerStarted,
)
from netbench.model import Endpoint, EndReason, HttpRequest, HttpResponse, Role, Transport
from netbench.store import SessionReader
from netbench.ui.traffic_model import TrafficModel
from netbench.ui.widgets.traffic import column_widths, row_cells

LOCAL = Endpoint("127.0.0.1", 8000)
REQUEST = HttpRequest(b"GET", b"/", "1.1", (), b"", 0)
RESPONSE = HttpResponse(200, b"OK", "1.1", (), b"", 0)


def opened(conn_id: int) -> ConnectionOpened:
    peer = Endpoint("127.0.0.1", 50000 + conn_id)
    return ConnectionOpened(conn_id, 1, Role.SERVER, Transport.TCP, LOCAL, peer, 0.0)


def exchange(exchange_id: int, conn_id: int) -> list[Event]:
    t = exchange_id / 1000
    return [
        HttpRequestRecorded(exchange_id, conn_id, exchange_id, REQUEST, 0, 0, t, t),
        HttpResponseRecorded(exchange_id, conn_id, RESPONSE, 0, 0, t, t),
    ]


def tracked(model: TrafficModel) -> int:
    return sum(len(keys) for keys in model._conn_keys.values())


@pytest.mark.parametrize(
    ("requests", "recent_limit"),
    [(5, 100), (100, 100), (101, 100), (10_000, 100), (10_000, 1)],
)
def test_a_long_keep_alive_connection_tracks_only_its_recent_rows(
    requests: int, recent_limit: int
) -> None:
    model = TrafficModel(recent_limit=recent_limit)
    model.apply([ServerStarted(1, "http", Transport.TCP, LOCAL, 0.0), opened(1)])
    for exchange_id in range(1, requests + 1):
        model.apply(exchange(exchange_id, 1))
    assert tracked(model) <= recent_limit + 1

    model.apply([ConnectionClosed(1, EndReason.FIN_PEER, 99.0, 0, 0)])
    # Every row is an exchange: closing added no "(no HTTP)" connection row.
    assert list(model.keys) == list(range(1, requests + 1))
    newest = model.row_at(requests - 1, None)
    assert newest is not None and newest.end_reason is EndReason.FIN_PEER
    assert tracked(model) == 0


def test_a_connection_whose_rows_all_left_the_recent_ones() -> None:
    """Its last key stays as a marker, and its later rows are trimmed all the same."""
    model = TrafficModel(recent_limit=10)
    model.apply([ServerStarted(1, "http", Transport.TCP, LOCAL, 0.0), opened(1), opened(2)])
    model.apply(exchange(1, 1))
    for exchange_id in range(2, 40):  # connection 2 pushes connection 1's row out
        model.apply(exchange(exchange_id, 2))
    for exchange_id in range(40, 1000):
        model.apply(exchange(exchange_id, 1))
    assert tracked(model) <= 10 + 2

    model.apply([ConnectionClosed(2, EndReason.RST_PEER, 99.0, 0, 0)])
    model.apply([ConnectionClosed(1, EndReason.FIN_PEER, 99.0, 0, 0)])
    assert len(model.keys) == 999  # no connection rows for either
    newest = model.row_at(998, None)
    assert newest is not None and newest.end_reason is EndReason.FIN_PEER


def test_an_http_connection_without_requests_still_gets_its_row() -> None:
    model = TrafficModel(recent_limit=10)
    model.apply([ServerStarted(1, "http", Transport.TCP, LOCAL, 0.0), opened(1)])
    model.apply([ConnectionClosed(1, EndReason.FIN_PEER, 1.0, 0, 0)])
    assert list(model.keys) == [-1]
    row = model.row_at(0, None)
    assert row is not None and row.exchange_id is None and row.end_reason is EndReason.FIN_PEER


def proxied_request() -> list[Event]:
    """A request through a proxy (server 1): client connection 1, its upstream leg 2."""
    upstream = Endpoint("127.0.0.1", 8001)
    return [
        ServerStarted(1, "proxy", Transport.TCP, Endpoint("127.0.0.1", 8099), 0.0),
        ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, Endpoint("127.0.0.1", 8099), LOCAL, 0.0),
        HttpRequestRecorded(1, 1, 0, REQUEST, 0, 0, 0.001, 0.001),
        ConnectionOpened(
            2, None, Role.CLIENT, Transport.TCP, Endpoint("127.0.0.1", 50002), upstream, 0.002, 1
        ),
        HttpRequestRecorded(2, 2, 0, REQUEST, 0, 0, 0.003, 0.003),
        HttpResponseRecorded(2, 2, RESPONSE, 1, 1, 0.004, 0.004),
        HttpResponseRecorded(1, 1, RESPONSE, 1, 1, 0.005, 0.005),
        ConnectionClosed(2, EndReason.FIN_PEER, 0.006, 100, 100),
        ConnectionClosed(1, EndReason.FIN_PEER, 0.007, 100, 100),
    ]


def test_a_proxied_request_shows_its_upstream_leg_under_the_client_row(tmp_path: Path) -> None:
    model = TrafficModel()
    model.apply(proxied_request())
    assert list(model.keys) == [1, 2]  # the leg's exchange, no separate connection row
    rows = [model.row_at(index, None) for index in range(2)]
    assert [(row.conn_id, row.via) for row in rows if row] == [(1, None), (2, 1)]
    leg = rows[1]
    assert leg is not None
    label = model.server_label(leg)
    assert label == "→ :8001"  # where the proxy connected: the upstream
    cells = row_cells(leg, column_widths(160, 20), label)
    assert cells[2][0].startswith("↳#1 → :8001 ")

    path = tmp_path / "proxy.netbench.sqlite"
    record(path, proxied_request())
    recorded = TrafficModel()
    with SessionReader(path) as reader:
        recorded.load(reader)
        shown = [recorded.row_at(index, reader) for index in range(len(recorded))]
    assert [(row.conn_id, row.via) for row in shown if row] == [(1, None), (2, 1)]


def client_opened(conn_id: int) -> ConnectionOpened:
    local = Endpoint("127.0.0.1", 50000 + conn_id)
    return ConnectionOpened(conn_id, None, Role.CLIENT, Transport.TCP, local, LOCAL, 0.0)


@pytest.mark.parametrize("rows_between", [0, 3, 2000])
def test_a_client_connection_that_carries_a_request_is_one_row(rows_between: int) -> None:
    """The HTTP client's connection showed raw from its open, and its exchange
    then got a second row; the session file lists it once, as its exchange."""
    model = TrafficModel()
    model.apply([ServerStarted(1, "echo", Transport.TCP, LOCAL, 0.0), client_opened(1)])
    model.set_filter("GET", None)  # a filter counting blocks, as the list's does
    for conn_id in range(2, 2 + rows_between):  # echo connections: a row each
        model.apply([opened(conn_id)])
    assert model.keys[0] == -1
    assert len(model) == 0  # counted: a full block is known now, and must be recounted
    model.apply(exchange(1, 1))
    model.apply([ConnectionClosed(1, EndReason.FIN_LOCAL, 9.0, 40, 20)])
    assert list(model.keys) == [1, *(-c for c in range(2, 2 + rows_between))]
    row = model.row_at(0, None)  # unfiltered index 0 is the first match too
    assert row is not None and (row.key, row.method, row.status) == (1, b"GET", 200)
    assert row.end_reason is EndReason.FIN_LOCAL
    assert len(model) == 1 and model.key_at(0) == 1  # the filter counts it once
    model.set_filter("", None)
    assert len(model) == 1 + rows_between


def test_a_client_connection_without_a_request_keeps_its_raw_row() -> None:
    model = TrafficModel()
    model.apply([client_opened(1)])
    model.apply([ConnectionClosed(1, EndReason.FIN_PEER, 1.0, 5, 5)])
    row = model.row_at(0, None)
    assert row is not None and row.key == -1 and row.bytes_in == 5


def test_an_unanswered_exchange_reads_no_response_live_and_from_the_session(
    tmp_path: Path,
) -> None:
    # The printed line and the HTTP tab say "no response" and why; the list said "error".
    why = "the client reset the connection before it was answered"
    unanswered = HttpResponse(None, b"", "", (), b"", 0, error=why)
    broken = HttpResponse(None, b"", "", (), b"", 0, error="no parseable status line")
    events: list[Event] = [
        ServerStarted(1, "http", Transport.TCP, LOCAL, 0.0),
        opened(1),
        HttpRequestRecorded(1, 1, 0, REQUEST, 0, 0, 0.001, 0.001),
        HttpResponseRecorded(1, 1, unanswered, -1, -1, 0.5, 0.5),
        HttpRequestRecorded(2, 1, 1, REQUEST, 1, 1, 0.6, 0.6),
        HttpResponseRecorded(2, 1, broken, 2, 2, 0.7, 0.7),  # bytes sent that did not parse
    ]
    live = TrafficModel()
    live.apply(events)
    session = tmp_path / "s.netbench.sqlite"
    record(session, events)
    stored = TrafficModel()
    with SessionReader(session) as reader:
        stored.load(reader)
        for model in (live, stored):
            rows = [model.row_at(i, reader) for i in range(2)]
            cells = [[text for text, _ in row_cells(row, column_widths(120), "")] for row in rows]  # type: ignore[arg-type]
            requests = [next(cell for cell in row if "->" in cell) for row in cells]
            assert "-> no response" in requests[0]
            assert "-> error" in requests[1]
