"""A long connection's ends, and a chunk found by stream offset, from a real session file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sessionkit import long_connection, long_request, long_response, record

from netbench.events import ChunkRecorded, ConnectionOpened, Event, ServerStarted
from netbench.model import Direction, Endpoint, Role, Transport
from netbench.store import SessionReader
from netbench.store.ends import PROBE, StreamFinder, chunk_ends, find_chunk

EXCHANGES = 3_000
Q, R = len(long_request(0)), len(long_response(0))


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> SessionReader:
    path = tmp_path_factory.mktemp("ends") / "long.netbench.sqlite"
    long_connection(path, EXCHANGES)
    return SessionReader(path)


@pytest.mark.parametrize("n", [0, 1, PROBE // 2, PROBE, 1_499, 1_500, EXCHANGES - 2, EXCHANGES - 1])
@pytest.mark.parametrize("at", ["first", "middle", "last"])
def test_a_chunk_is_found_by_any_of_its_bytes(reader: SessionReader, n: int, at: str) -> None:
    for direction, size, seq in ((Direction.IN, Q, 2 * n), (Direction.OUT, R, 2 * n + 1)):
        byte = {"first": 0, "middle": size // 2, "last": size - 1}[at]
        found = find_chunk(reader, 1, direction, n * size + byte)
        assert found is not None and found.seq == seq


def test_a_range_finds_the_first_chunk_it_touches_and_nothing_past_the_end(
    reader: SessionReader,
) -> None:
    found = find_chunk(reader, 1, Direction.OUT, 10 * R - 1, 12 * R)
    assert found is not None and found.seq == 2 * 9 + 1
    assert find_chunk(reader, 1, Direction.IN, EXCHANGES * Q) is None
    assert find_chunk(reader, 2, Direction.IN, 0) is None  # no such connection


def test_the_ends_are_the_first_and_last_chunks_and_a_count(reader: SessionReader) -> None:
    ends = chunk_ends(reader, 1, 100)
    assert [meta.seq for meta in ends.head] == list(range(100))
    assert [meta.seq for meta in ends.tail] == list(range(2 * EXCHANGES - 100, 2 * EXCHANGES))
    assert ends.hidden == 2 * EXCHANGES - 200
    whole = chunk_ends(reader, 1, EXCHANGES)
    assert (len(whole.head), whole.tail, whole.hidden) == (2 * EXCHANGES, [], 0)


def test_stream_bytes_come_from_the_ends_read_and_else_a_search(reader: SessionReader) -> None:
    ends = chunk_ends(reader, 1, 100)
    finder = StreamFinder(reader, 1, [ends.head, ends.tail])
    requests = b"".join(long_request(n) for n in range(3, 6))
    assert finder.read(Direction.IN, 3 * Q + 5, 2 * Q) == requests[5 : 5 + 2 * Q]
    last = EXCHANGES - 1
    assert finder.read(Direction.OUT, last * R, R) == long_response(last)  # the end
    assert finder.searches == 0
    assert finder.read(Direction.OUT, 1_000 * R, 8) == long_response(1_000)[:8]
    assert finder.searches == 1


def test_a_one_way_stretch_is_searched_past(tmp_path: Path) -> None:
    # A download: one request, then thousands of response chunks, then a second request.
    t0 = time.monotonic()
    local, peer = Endpoint("127.0.0.1", 8000), Endpoint("127.0.0.1", 50000)
    events: list[Event] = [
        ServerStarted(1, "http", Transport.TCP, local, t0),
        ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, local, peer, t0),
        ChunkRecorded(1, 0, Direction.IN, 0, b"GET /big", t0),
    ]
    events += [
        ChunkRecorded(1, s, Direction.OUT, (s - 1) * 4, b"data", t0) for s in range(1, 5_000)
    ]
    events.append(ChunkRecorded(1, 5_000, Direction.IN, 8, b"GET /two", t0))
    path = tmp_path / "download.netbench.sqlite"
    record(path, events)
    reader = SessionReader(path)
    first, second = (find_chunk(reader, 1, Direction.IN, offset) for offset in (3, 9))
    assert first is not None and first.seq == 0
    assert second is not None and second.seq == 5_000
    found = find_chunk(reader, 1, Direction.OUT, 4 * 2_500 + 1)
    assert found is not None and found.seq == 2_501
