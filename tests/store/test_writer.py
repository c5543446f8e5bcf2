"""The writer's normal work: every event to rows, byte-exact, in time."""

from __future__ import annotations

import os
import platform
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TypeVar

import pytest
from sessionkit import record

import netbench
from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    HttpRequestRecorded,
    HttpResponseRecorded,
    ServerStopped,
)
from netbench.model import (
    Direction,
    Endpoint,
    EndReason,
    HttpRequest,
    HttpResponse,
    Role,
    SocketEventKind,
    Transport,
)
from netbench.store import SCHEMA_VERSION, SessionReader, SessionWriter
from netbench.store.traffic import stream_bytes

E = TypeVar("E")
MakeEvents = Callable[..., list[Event]]
WaitUntil = Callable[..., float]

LOCAL = Endpoint("127.0.0.1", 8000)
PEER = Endpoint("127.0.0.1", 40000)


def client_exchange(t0: float, *, conn_id: int, exchange_id: int) -> tuple[Event, ...]:
    opened = ConnectionOpened(conn_id, None, Role.CLIENT, Transport.TCP, PEER, LOCAL, t0)
    request = HttpRequestRecorded(
        exchange_id,
        conn_id,
        0,
        HttpRequest(b"GET", b"/", "1.1", ((b"Host", b"h"),), b"", 0),
        0,
        0,
        t0 + 0.001,
        t0 + 0.001,
    )
    response = HttpResponseRecorded(
        exchange_id,
        conn_id,
        HttpResponse(None, b"", "", (), b"", 0, error="not a status line"),
        1,
        3,
        t0 + 0.002,
        t0 + 0.004,
    )
    return opened, request, response


def only(events: list[Event], kind: type[E]) -> list[E]:
    return [event for event in events if isinstance(event, kind)]


def test_round_trip_of_every_event_type(session_path: Path, make_events: MakeEvents) -> None:
    t0 = time.monotonic()
    events = make_events(t0)
    [opened] = only(events, ConnectionOpened)
    chunk0, chunk1, chunk2 = only(events, ChunkRecorded)
    [request] = only(events, HttpRequestRecorded)
    [response] = only(events, HttpResponseRecorded)
    [closed] = only(events, ConnectionClosed)
    [stopped] = only(events, ServerStopped)
    argv = ["netbench", "serve", "http", "--port", "0"]
    record(session_path, events, argv=argv)

    with SessionReader(session_path) as reader:
        info = reader.info()
        assert info.argv == tuple(argv)
        assert info.schema_version == SCHEMA_VERSION
        assert info.netbench_version == netbench.__version__
        assert info.hostname == platform.node()
        assert info.created == info.wall_anchor
        assert abs(info.created - time.time()) < 60

        def wall(t: float) -> float:
            return info.wall_anchor + (t - info.mono_anchor)

        [server] = reader.servers()
        assert (server.id, server.kind, server.transport, server.address) == (
            1,
            "http",
            Transport.TCP,
            LOCAL,
        )
        assert server.options == {"backlog": 5, "k": [1]}
        assert server.started == pytest.approx(wall(t0), abs=1e-6)
        assert server.stopped == pytest.approx(wall(stopped.t), abs=1e-6)
        assert server.error == "stopped by user"

        [conn] = reader.connections()
        assert reader.connection(1) == conn
        assert reader.connection(2) is None
        assert (conn.server_id, conn.role, conn.transport) == (1, Role.SERVER, Transport.TCP)
        assert (conn.local, conn.peer) == (opened.local, opened.peer)
        assert conn.opened == pytest.approx(wall(opened.t), abs=1e-6)
        assert conn.duration == pytest.approx(closed.t - opened.t, abs=1e-6)
        assert (conn.end_reason, conn.detail) == (EndReason.FIN_PEER, None)
        assert (conn.bytes_in, conn.bytes_out) == (closed.bytes_in, closed.bytes_out)

        chunks = list(reader.chunks(1))
        assert [(c.seq, c.direction, c.offset, c.data) for c in chunks] == [
            (e.seq, e.direction, e.offset, e.data) for e in (chunk0, chunk1, chunk2)
        ]
        assert [c.t - conn.opened for c in chunks] == pytest.approx([0.001, 0.002, 0.003], abs=1e-6)

        assert [(e.kind, e.detail) for e in reader.socket_events(1)] == [
            (SocketEventKind.ACCEPT, None),
            (SocketEventKind.PEER_FIN, "recv returned b''"),
        ]

        [exchange] = reader.exchanges()
        assert [exchange] == list(reader.exchanges(1))
        assert list(reader.exchanges(2)) == []
        assert exchange.index == 0
        assert exchange.request == request.request
        assert exchange.response == response.response
        assert (exchange.req_first_chunk, exchange.req_last_chunk) == (0, 1)
        assert (exchange.resp_first_chunk, exchange.resp_last_chunk) == (2, 2)
        assert exchange.t_request_end == pytest.approx(wall(request.t_end), abs=1e-6)
        assert exchange.t_response_start == pytest.approx(wall(response.t_start), abs=1e-6)

        [summary] = reader.exchanges(include_bodies=False)
        assert summary.request is not None
        assert summary.request.body == b""
        assert summary.request.target == request.request.target

        counts = reader.counts()
        assert (counts.servers, counts.connections, counts.chunks, counts.exchanges) == (1, 1, 3, 1)


BLOBS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00", id="nul"),
    pytest.param(bytes(range(256)), id="every-byte"),
    pytest.param(b"\xff\xfe\xc3\x28 not utf-8 \x80", id="invalid-utf8"),
    pytest.param(b"\x00" * 100_000 + b"end", id="nul-run"),
    pytest.param(os.urandom(1 << 20), id="random-1MiB"),
]


@pytest.mark.parametrize("data", BLOBS)
def test_chunk_data_is_byte_exact(session_path: Path, data: bytes) -> None:
    t0 = time.monotonic()
    opened = ConnectionOpened(1, None, Role.CLIENT, Transport.TCP, LOCAL, PEER, t0)
    record(session_path, [opened, ChunkRecorded(1, 0, Direction.IN, 0, data, t0)])
    with SessionReader(session_path) as reader:
        [chunk] = reader.chunks(1)
    assert chunk.data == data
    # What a user sees with the sqlite3 shell: a BLOB of the right length.
    with closing(sqlite3.connect(session_path)) as raw:
        assert raw.execute("SELECT typeof(data), length(data) FROM chunks").fetchone() == (
            "blob",
            len(data),
        )


def test_stream_bytes_reads_across_chunks_and_stops_at_a_gap(session_path: Path) -> None:
    t0 = time.monotonic()
    opened = ConnectionOpened(1, None, Role.SERVER, Transport.TCP, LOCAL, PEER, t0)
    chunks = [
        ChunkRecorded(1, 0, Direction.IN, 0, b"GET / HT", t0),
        ChunkRecorded(1, 1, Direction.OUT, 0, b"HTTP/1.1 200", t0),
        ChunkRecorded(1, 2, Direction.IN, 8, b"TP/1.1\r\n", t0),
        ChunkRecorded(1, 3, Direction.IN, 100, b"later", t0),  # bytes 16-99 never recorded
    ]
    record(session_path, [opened, *chunks])
    with SessionReader(session_path) as reader:
        assert stream_bytes(reader, 1, Direction.IN, 4, 8) == b"/ HTTP/1"
        assert stream_bytes(reader, 1, Direction.OUT, 5, 100) == b"1.1 200"
        assert stream_bytes(reader, 1, Direction.IN, 10, 200) == b"/1.1\r\n"  # not "later"
        assert stream_bytes(reader, 1, Direction.IN, 100, 3) == b"lat"
        assert stream_bytes(reader, 2, Direction.IN, 0, 3) == b""


def test_http_fields_are_lossless_latin1_text(session_path: Path) -> None:
    t0 = time.monotonic()
    every_byte = bytes(range(256))
    request = HttpRequest(
        b"G\x00T\xff", b"/\x1b[2J\xe9", "1.1", ((b"N\xffme", every_byte),), every_byte, 256
    )
    response = HttpResponse(599, b"\xffh\x00", "1.0", ((every_byte, b"v"),), b"", 0)
    record(
        session_path,
        [
            ConnectionOpened(1, None, Role.CLIENT, Transport.TCP, LOCAL, PEER, t0),
            HttpRequestRecorded(1, 1, 0, request, 0, 0, t0, t0),
            HttpResponseRecorded(1, 1, response, 1, 1, t0, t0),
        ],
    )
    with SessionReader(session_path) as reader:
        [exchange] = reader.exchanges()
    assert exchange.request == request
    assert exchange.response == response
    with closing(sqlite3.connect(session_path)) as raw:
        method, target = raw.execute("SELECT method, target FROM exchanges").fetchone()
    assert (method, target) == ("G\x00T\xff", "/\x1b[2J\xe9")


@pytest.mark.parametrize("same_batch", [True, False], ids=["same-batch", "later-batch"])
@pytest.mark.parametrize("response_first", [False, True], ids=["request-first", "response-first"])
def test_request_and_response_merge_into_one_row(
    session_path: Path, wait_until: WaitUntil, same_batch: bool, response_first: bool
) -> None:
    opened, request, response = client_exchange(time.monotonic(), conn_id=1, exchange_id=1)
    first, second = (response, request) if response_first else (request, response)
    writer = SessionWriter(session_path, flush_interval=0.01)
    writer.open()
    with SessionReader(session_path) as reader:
        writer(opened)
        writer(first)
        if not same_batch:
            wait_until(lambda: reader.counts().exchanges == 1)
        writer(second)
        writer.close()
        [exchange] = reader.exchanges()
    assert isinstance(request, HttpRequestRecorded)
    assert isinstance(response, HttpResponseRecorded)
    assert exchange.index == 0
    assert exchange.request == request.request
    assert exchange.response == response.response
    assert (exchange.resp_first_chunk, exchange.resp_last_chunk) == (1, 3)


def test_events_reach_a_live_reader_within_a_flush(
    session_path: Path, make_events: MakeEvents, wait_until: WaitUntil
) -> None:
    events = make_events(time.monotonic())
    writer = SessionWriter(session_path)  # default flush_interval: 50 ms
    writer.open()
    try:
        with SessionReader(session_path) as reader:  # WAL: readable while being written
            for event in events[:4]:  # up to the first chunk
                writer(event)
            # ~100 ms is the promise; the deadline leaves room for a loaded CI box.
            wait_until(lambda: reader.counts().chunks == 1, deadline=1.0)
            conn = reader.connection(1)
            assert conn is not None
            assert conn.closed is None
            assert conn.bytes_in == len(events[3].data)  # type: ignore[union-attr]
            for event in events[4:]:
                writer(event)
            wait_until(lambda: reader.counts().exchanges == 1, deadline=1.0)
            wait_until(lambda: reader.connection(1).closed is not None, deadline=1.0)  # type: ignore[union-attr]
    finally:
        writer.close()


def test_the_writer_says_when_rows_are_written(
    session_path: Path, make_events: MakeEvents, wait_until: WaitUntil
) -> None:
    # How views follow the store without polling: when told, the rows are
    # there for any reader; with nothing written, nothing is said.
    events = make_events(time.monotonic())
    seen: list[int] = []
    writer = SessionWriter(session_path)
    writer.open()
    try:
        with SessionReader(session_path) as reader:
            writer.on_written = lambda: seen.append(reader.counts().chunks)
            for event in events[:4]:
                writer(event)
            wait_until(lambda: bool(seen), deadline=1.0)
            assert seen[0] == 1
            quiet = len(seen)
            time.sleep(0.25)  # five flush intervals with nothing queued
            assert len(seen) == quiet
    finally:
        writer.close()


def test_next_ids_continue_numbering_after_reopen(
    session_path: Path, make_events: MakeEvents
) -> None:
    fresh = record(session_path, [], argv=["first"])
    assert fresh.next_ids() == (1, 1, 1)
    t0 = time.monotonic()
    record(
        session_path,
        [*make_events(t0), *client_exchange(t0, conn_id=5, exchange_id=7)],
        argv=["second"],
    )
    with SessionReader(session_path) as reader:
        created = reader.info().created

    writer = SessionWriter(session_path, argv=["third"])
    writer.open()
    try:
        assert writer.next_ids() == (2, 6, 8)
        for event in client_exchange(time.monotonic(), conn_id=6, exchange_id=8):
            writer(event)
    finally:
        writer.close()
    with SessionReader(session_path) as reader:
        assert [conn.id for conn in reader.connections()] == [1, 5, 6]
        assert [exchange.id for exchange in reader.exchanges()] == [1, 7, 8]
        # Appending keeps the session's own row: the first process made it.
        assert reader.info().argv == ("first",)
        assert reader.info().created == created


def test_wal_while_recording_and_one_file_after_close(
    session_path: Path, make_events: MakeEvents
) -> None:
    writer = SessionWriter(session_path)
    writer.open()
    with closing(sqlite3.connect(session_path)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    for event in make_events(time.monotonic()):
        writer(event)
    writer.close()
    files = sorted(session_path.parent.iterdir())
    assert files == [session_path]
    with SessionReader(session_path) as reader:
        assert reader.counts().chunks == 3
    assert sorted(session_path.parent.iterdir()) == files  # reading left nothing behind


def test_close_with_a_reader_attached_keeps_wal_and_loses_nothing(
    session_path: Path, make_events: MakeEvents, wait_until: WaitUntil
) -> None:
    writer = SessionWriter(session_path)
    writer.open()
    with SessionReader(session_path) as reader:
        for event in make_events(time.monotonic()):
            writer(event)
        wait_until(lambda: reader.counts().chunks == 3)
        reading = reader.chunks(1)
        next(reading)  # a read transaction stays open while iterating
        started = time.monotonic()
        writer.close()
        assert time.monotonic() - started < 1.0  # close() did not wait for the reader
        assert reader.counts().exchanges == 1
        assert len(list(reading)) == 2
    with SessionReader(session_path) as reader:
        assert reader.counts().chunks == 3
