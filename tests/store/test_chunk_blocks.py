"""Schema v3: chunks packed in blocks, the `chunks` view, and the v2 -> v3 migration."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from sessionkit import record

from netbench.events import ChunkRecorded, ConnectionOpened, Event
from netbench.model import Direction, Endpoint, Role, Transport
from netbench.store import (
    FIRST_BYTES,
    DamagedFileError,
    SessionReader,
    SessionWriter,
    chunk_data,
    chunk_index,
    traffic_rows,
    traffic_search,
)
from netbench.store.chunk_blocks import BLOCK_BYTES
from netbench.store.schema import MIGRATIONS, configure, migrate
from netbench.store.traffic import stream_bytes

LOCAL, PEER = Endpoint("127.0.0.1", 8000), Endpoint("127.0.0.1", 50123)
ANCHORS = (100.0, 1_700_000_000.0)


def opened(conn_id: int) -> ConnectionOpened:
    return ConnectionOpened(conn_id, None, Role.SERVER, Transport.TCP, LOCAL, PEER, 100.0)


def chunks_of(conn_id: int, parts: list[tuple[Direction, bytes]], t0: float) -> list[ChunkRecorded]:
    offsets = {Direction.IN: 0, Direction.OUT: 0}
    out = []
    for seq, (direction, data) in enumerate(parts):
        out.append(
            ChunkRecorded(conn_id, seq, direction, offsets[direction], data, t0 + seq / 1000)
        )
        offsets[direction] += len(data)
    return out


IN, OUT = Direction.IN, Direction.OUT
AWKWARD = [
    (IN, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    (OUT, b"HTTP/1.1 200 OK\r\n\r\n\x00\xff\x1b]0;x\x07"),
    (IN, b""),  # an empty datagram is a chunk too
    (IN, bytes(range(256))),
    # Larger than a block, and than what a reader keeps of one: sliced in SQLite.
    (OUT, b"x" * (4 * BLOCK_BYTES + 10)),
    (OUT, b"tail"),
]


def interleaved() -> list[Event]:
    """Two connections whose chunks arrive interleaved, as they do under load."""
    first = chunks_of(1, AWKWARD, 100.5)
    second = chunks_of(2, [(IN, b"a" * 100), (OUT, b"b" * 200)] * 3, 100.6)
    events: list[Event] = [opened(1), opened(2)]
    for index in range(max(len(first), len(second))):
        events.extend(first[index : index + 1])
        events.extend(second[index : index + 1])
    return events


def test_chunks_read_back_exactly_through_reader_index_data_and_view(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    record(path, interleaved(), anchors=ANCHORS)
    with SessionReader(path) as reader:
        read = list(reader.chunks(1))
        assert [(c.seq, c.direction, c.data) for c in read] == [
            (seq, direction, data) for seq, (direction, data) in enumerate(AWKWARD)
        ]
        assert [c.t for c in read] == [ANCHORS[1] + 0.5 + seq / 1000 for seq in range(6)]
        index = chunk_index(reader, 1)
        assert [(m.seq, m.offset, m.length) for m in index] == [
            (c.seq, c.offset, len(c.data)) for c in read
        ]
        assert [chunk_data(reader, 1, m.seq) for m in index] == [data for _d, data in AWKWARD]
        assert chunk_data(reader, 1, 99) == b""
        assert reader.counts().chunks == 6 + 6
        assert stream_bytes(reader, 1, OUT, 30, 20) == (AWKWARD[1][1] + b"x" * 50)[30:50]
        connection = reader.connection(2)
        assert connection is not None
        assert (connection.bytes_in, connection.bytes_out) == (300, 600)  # still open: summed
    with closing(sqlite3.connect(path)) as raw:
        # What users query with sqlite3: one row per chunk, same columns as before.
        rows = raw.execute(
            "SELECT seq, direction, t, offset, typeof(data), data FROM chunks"
            " WHERE conn_id = 1 ORDER BY seq"
        ).fetchall()
        assert [(s, d, t, o, kind, bytes(data)) for s, d, t, o, kind, data in rows] == [
            (c.seq, c.direction.value, c.t, c.offset, "blob", c.data) for c in read
        ]
        blocks = raw.execute("SELECT count(*) FROM chunk_blocks WHERE conn_id = 1").fetchone()[0]
    assert blocks == 2  # packed, and split after the chunk that filled a block


def test_an_index_read_again_reads_only_the_chunks_recorded_since(
    tmp_path: Path, wait_until: Callable[..., float]
) -> None:
    # The Bytes view following a busy connection: re-reading its whole index
    # at every refresh was a long read (and held the WAL back).
    path = tmp_path / "s.sqlite"
    chunks = chunks_of(1, AWKWARD, 100.5)
    writer = SessionWriter(path, anchors=ANCHORS)
    writer.open()
    try:
        with SessionReader(path) as reader:
            for event in [opened(1), *chunks[:3]]:
                writer(event)
            wait_until(lambda: len(chunk_index(reader, 1)) == 3)
            known = chunk_index(reader, 1)
            for event in chunks[3:]:
                writer(event)
            wait_until(lambda: len(chunk_index(reader, 1)) == len(AWKWARD))
            since = chunk_index(reader, 1, after_seq=known[-1].seq)
            assert [m.seq for m in since] == [3, 4, 5]
            assert known + since == chunk_index(reader, 1)
            assert chunk_index(reader, 1, after_seq=5) == []
    finally:
        writer.close()


def make_v2_with_chunk_rows(path: Path) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        configure(raw)
        migrate(raw, str(path), migrations=MIGRATIONS[:2])
        raw.execute("INSERT INTO session VALUES (1, 1.0, '0.1.0', '[]', 'h', 0.0, 1700000000.0)")
        raw.execute(
            "INSERT INTO connections (id, role, transport, local_host, local_port,"
            " peer_host, peer_port, opened) VALUES (1, 'server', 'tcp', 'a', 1, 'b', 2, 1.0)"
        )
        raw.executemany(
            "INSERT INTO chunks (conn_id, seq, direction, t, offset, data) VALUES (1, ?, ?, ?, ?, ?)",
            [(0, "in", 2.0, 0, b"old-in"), (1, "out", 3.0, 0, b"old-out")],
        )


def test_v2_file_reads_its_chunk_rows_and_upgrades_keeping_them(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    make_v2_with_chunk_rows(path)
    with SessionReader(path) as reader:
        assert reader.schema_version == 2
        assert [c.data for c in reader.chunks(1)] == [b"old-in", b"old-out"]
        assert chunk_data(reader, 1, 1) == b"old-out"
    # Appending to it: the writer migrates, the old rows stay, new chunks go in blocks.
    record(path, [ChunkRecorded(1, 2, IN, 6, b"new-in", 5.0)], anchors=(0.0, 0.0))
    with SessionReader(path) as reader:
        assert reader.schema_version == len(MIGRATIONS)
        assert [(c.seq, c.data) for c in reader.chunks(1)] == [
            (0, b"old-in"),
            (1, b"old-out"),
            (2, b"new-in"),
        ]
        assert [m.seq for m in chunk_index(reader, 1)] == [0, 1, 2]
        assert [m.seq for m in chunk_index(reader, 1, after_seq=0)] == [1, 2]
        assert reader.counts().chunks == 3
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT seq, data FROM chunks ORDER BY seq").fetchall() == [
            (0, b"old-in"),
            (1, b"old-out"),
            (2, b"new-in"),
        ]


def test_a_block_of_empty_datagrams_reads_as_empty_chunks(tmp_path: Path) -> None:
    # substr() of an empty BLOB is NULL in SQLite: a UDP flow whose batch held
    # only empty datagrams must still read back (the Bytes view asks for them).
    path = tmp_path / "s.sqlite"
    empties = chunks_of(1, [(IN, b""), (OUT, b"")], 100.5)
    record(path, [opened(1), *empties], anchors=ANCHORS)
    with SessionReader(path) as reader:
        assert [chunk_data(reader, 1, seq) for seq in (0, 1)] == [b"", b""]
        assert [c.data for c in reader.chunks(1)] == [b"", b""]


def test_search_matches_chunk_by_chunk(tmp_path: Path) -> None:
    """Text after a NUL byte in an earlier chunk is found; text across two chunks is not."""
    path = tmp_path / "s.sqlite"
    parts = [(IN, b"bin\x00ary"), (IN, b"findme"), (IN, b"GET /ab"), (OUT, b"cd 200")]
    record(path, [opened(1), *chunks_of(1, parts, 100.5)], anchors=ANCHORS)
    with SessionReader(path) as reader:
        assert traffic_search(reader, "findme") == {-1}
        assert traffic_search(reader, "abcd") == set()


def test_a_connection_row_carries_its_first_chunks_first_bytes(tmp_path: Path) -> None:
    # The traffic list's summary of a raw connection: the start of chunk 0,
    # never run on into the next chunk (an echo's reply is in the same block).
    path = tmp_path / "s.sqlite"
    empty = chunks_of(4, [(IN, b""), (OUT, b"x")], 100.7)
    record(path, [*interleaved(), opened(3), opened(4), *empty], anchors=ANCHORS)
    with SessionReader(path) as reader:
        rows = traffic_rows(reader, [-1, -2, -3, -4])
    assert rows[-1].first_bytes == AWKWARD[0][1]
    assert rows[-2].first_bytes == b"a" * FIRST_BYTES
    assert rows[-3].first_bytes is None  # no chunk at all
    assert rows[-4].first_bytes == b""  # an empty datagram


def test_first_bytes_from_chunk_rows_before_and_after_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    make_v2_with_chunk_rows(path)
    with SessionReader(path) as reader:
        assert traffic_rows(reader, [-1])[-1].first_bytes == b"old-in"
    record(path, [opened(2), *chunks_of(2, [(IN, b"new"), (OUT, b"new")], 5.0)], anchors=(0, 0))
    with SessionReader(path) as reader:
        rows = traffic_rows(reader, [-1, -2])
    assert (rows[-1].first_bytes, rows[-2].first_bytes) == (b"old-in", b"new")


def test_a_first_block_with_a_damaged_meta_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    record(path, interleaved(), anchors=ANCHORS)
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("UPDATE chunk_blocks SET meta = '[[1]]' WHERE conn_id = 1 AND first_seq = 0")
    with SessionReader(path) as reader:
        assert traffic_rows(reader, [-2])[-2].first_bytes == b"a" * FIRST_BYTES
        with pytest.raises(DamagedFileError, match=r"chunk_blocks\.meta is not a list of chunks"):
            traffic_rows(reader, [-1])
