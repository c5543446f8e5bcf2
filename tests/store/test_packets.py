"""Schema v2: captured packets and capture status, and the v1 -> v2 migration."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from netbench.events import CaptureStatus, Event, PacketCaptured
from netbench.model import Endpoint, TcpPacket
from netbench.store import SessionReader, SessionWriter
from netbench.store.packets import (
    CaptureRow,
    all_packets,
    capture_history,
    packet_count,
    packets_between,
)
from netbench.store.schema import APPLICATION_ID, MIGRATIONS, configure, migrate

CLIENT = Endpoint("127.0.0.1", 50123)
SERVER = Endpoint("127.0.0.1", 8000)
OTHER = Endpoint("127.0.0.1", 50124)
T0 = 1_700_000_000.0


def packet(src: Endpoint, dst: Endpoint, flags: str, t: float, **more: object) -> TcpPacket:
    fields: dict[str, object] = {
        "seq": 1000,
        "ack": 0,
        "window": 65535,
        "payload_len": 0,
        "payload_head": b"",
        "frame": b"\x00" * 54 + flags.encode(),
    }
    fields.update(more)
    return TcpPacket(t, src, dst, flags, **fields)  # type: ignore[arg-type]


HANDSHAKE = [
    packet(CLIENT, SERVER, "S", T0),
    packet(SERVER, CLIENT, "SA", T0 + 0.001, seq=5000, ack=1001),
    packet(CLIENT, SERVER, "PA", T0 + 0.002, payload_len=3, payload_head=b"\x00\xff\n"),
    packet(OTHER, SERVER, "S", T0 + 0.003),  # another connection, same server
    packet(CLIENT, SERVER, "FA", T0 + 0.004, linktype=113),
]


DOCUMENTED_COLUMNS = {
    "packets": (
        "id t src_host src_port dst_host dst_port flags seq ack window payload_len"
        " payload_head frame linktype"
    ),
    "capture": "id t running detail dropped",
}
"""docs/sessions.md, version 2: users' queries depend on these names."""


def test_version_2_tables_have_the_documented_columns(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    record(path, [])
    docs = (Path(__file__).parents[2] / "docs" / "sessions.md").read_text()
    with closing(sqlite3.connect(path)) as raw:
        for table, columns in DOCUMENTED_COLUMNS.items():
            names = [row[1] for row in raw.execute(f"PRAGMA table_info({table})")]
            assert names == columns.split()
            assert f"### `{table}`" in docs
            for name in names:
                assert f"`{name}`" in docs, f"{table}.{name} is not documented"


def make_v1(path: Path) -> None:
    """A session file as netbench 0.1 wrote it: the first migration only, some rows."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        configure(conn)
        assert migrate(conn, str(path), migrations=MIGRATIONS[:1]) == 0
        conn.execute("INSERT INTO session VALUES (1, ?, '0.1.0', '[]', 'host', 10.0, ?)", (T0, T0))
        conn.execute(
            "INSERT INTO connections (id, role, transport, local_host, local_port, peer_host,"
            " peer_port, opened) VALUES (1, 'server', 'tcp', '127.0.0.1', 8000, '127.0.0.1',"
            " 50123, ?)",
            (T0,),
        )
        conn.execute("PRAGMA journal_mode = DELETE")


def record(path: Path, events: list[Event]) -> None:
    with SessionWriter(path, anchors=(100.0, T0)) as writer:
        for event in events:
            writer(event)


def test_v1_file_reads_without_packets(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    make_v1(path)
    with SessionReader(path) as reader:
        assert reader.schema_version == 1
        assert packets_between(reader, CLIENT, SERVER, 0, 2 * T0) == []
        assert list(all_packets(reader)) == []
        assert packet_count(reader) == 0
        assert capture_history(reader) == []
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1  # reading changed nothing


def test_v1_file_is_upgraded_in_place_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    make_v1(path)
    record(path, [PacketCaptured(HANDSHAKE[0])])
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert raw.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        # What version 1 held is still there, untouched.
        assert raw.execute("SELECT peer_port FROM connections").fetchall() == [(50123,)]
        assert raw.execute("SELECT netbench_version FROM session").fetchall() == [("0.1.0",)]
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_schema")}
    assert {"packets", "packets_ports", "capture"} <= tables
    with SessionReader(path) as reader:
        assert list(all_packets(reader)) == [HANDSHAKE[0]]


def test_packets_and_status_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    statuses = [
        CaptureStatus(True, 100.5, "capturing on lo", 0),
        CaptureStatus(True, 101.0, "capturing on lo", 3),
        CaptureStatus(False, 102.0, "capture stopped", 3),
    ]
    record(path, [*statuses[:1], *map(PacketCaptured, HANDSHAKE), *statuses[1:]])
    with SessionReader(path) as reader:
        assert list(all_packets(reader)) == HANDSHAKE  # bytes, link types, times exact
        assert packet_count(reader) == len(HANDSHAKE)
        assert capture_history(reader) == [
            CaptureRow(T0 + 0.5, True, "capturing on lo", 0),
            CaptureRow(T0 + 1.0, True, "capturing on lo", 3),
            CaptureRow(T0 + 2.0, False, "capture stopped", 3),
        ]


def test_packets_between_both_directions_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    # Out of order on purpose: the query sorts by time.
    record(path, [PacketCaptured(p) for p in reversed(HANDSHAKE)])
    with SessionReader(path) as reader:
        wanted = [p for p in HANDSHAKE if OTHER not in (p.src, p.dst)]
        assert packets_between(reader, CLIENT, SERVER, T0, T0 + 1) == wanted
        assert packets_between(reader, SERVER, CLIENT, T0, T0 + 1) == wanted
        # The time window separates connections that reused a 4-tuple.
        assert packets_between(reader, CLIENT, SERVER, T0 + 0.0015, T0 + 0.0035) == [HANDSHAKE[2]]
        assert packets_between(reader, OTHER, SERVER, 0, 2 * T0) == [HANDSHAKE[3]]
        assert packets_between(reader, CLIENT, Endpoint("::1", 8000), 0, 2 * T0) == []
        mapped = Endpoint("::ffff:127.0.0.1", 8000)  # as a dual-stack server names itself
        assert packets_between(reader, mapped, OTHER, 0, 2 * T0) == [HANDSHAKE[3]]


def test_packet_lookup_uses_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sqlite"
    record(path, [PacketCaptured(HANDSHAKE[0])])
    plans: list[str] = []
    with SessionReader(path) as reader:
        query = reader._query

        def explain(sql: str, params: object = ()) -> sqlite3.Cursor:
            if sql.startswith("SELECT") and "FROM packets WHERE" in sql:
                plans.extend(row[-1] for row in query("EXPLAIN QUERY PLAN " + sql, params))
            return query(sql, params)  # type: ignore[arg-type]

        monkeypatch.setattr(reader, "_query", explain)
        packets_between(reader, CLIENT, SERVER, T0, T0 + 1)
    searches = [plan for plan in plans if plan.startswith("SEARCH packets")]
    assert len(searches) == 2, plans  # one per direction, no table scan
    assert all("packets_ports (src_port=? AND dst_port=? AND t>? AND t<?)" in s for s in searches)


def test_many_packets_are_written_in_batches(
    tmp_path: Path, wait_until: Callable[..., float]
) -> None:
    path = tmp_path / "s.sqlite"
    writer = SessionWriter(path)
    writer.open()
    try:
        base = time.time()
        for i in range(5000):
            writer(PacketCaptured(packet(CLIENT, SERVER, "S", base + i / 1e4, seq=i)))

        def written() -> bool:
            with SessionReader(path) as reader:
                return packet_count(reader) == 5000

        wait_until(written, deadline=5.0)
    finally:
        writer.close()
    assert writer.skipped == 0


@pytest.mark.parametrize("head", [b"", b"\x00" * 32, bytes(range(256))[:32]])
def test_payload_head_bytes_are_kept(tmp_path: Path, head: bytes) -> None:
    path = tmp_path / "s.sqlite"
    sent = packet(CLIENT, SERVER, "PA", T0, payload_len=len(head), payload_head=head)
    record(path, [PacketCaptured(sent)])
    with SessionReader(path) as reader:
        assert list(all_packets(reader)) == [sent]
