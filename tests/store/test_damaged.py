"""Damaged session files: read what can be read, say "the file is damaged" about the rest."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from damagekit import DAMAGE_SETTINGS, DAMAGES, Damage, damage, damage_sql, record_traffic
from hypothesis import event, given

from netbench.model import Direction, Endpoint
from netbench.store import (
    DamagedFileError,
    SessionReader,
    StoreError,
    chunk_data,
    chunk_index,
    list_sessions,
    traffic_keys,
    traffic_rows,
    traffic_search,
)
from netbench.store.packets import all_packets, capture_history, packet_count, packets_between
from netbench.store.traffic import stream_bytes

CONN_IDS = range(1, 10)
"""Every connection `record_traffic` makes, and one more."""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_traffic(tmp_path_factory.mktemp("recorded") / "real.netbench.sqlite")


@pytest.fixture
def copy(recorded: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(recorded, tmp_path / "damaged.netbench.sqlite"))


def _page_of(path: Path, table: str) -> int:
    with closing(sqlite3.connect(path)) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?", (table,)).fetchone()
    return int(page_size) * (int(root[0]) - 1)


def test_text_that_is_not_utf8_reads_with_replacement_characters(copy: Path) -> None:
    damage_sql(
        copy,
        "UPDATE exchanges SET target = CAST(X'2FFF' AS TEXT), req_headers ="
        " CAST(X'5B5B2258FF222C2279225D5D' AS TEXT)",  # [["X\xff","y"]]
        "UPDATE session SET hostname = CAST(X'6869FF' AS TEXT)",
        "UPDATE connections SET detail = CAST(X'FE' AS TEXT) WHERE id = 1",
    )
    with SessionReader(copy) as reader:
        assert reader.info().hostname == "hi\ufffd"
        assert reader.connections()[0].detail == "\ufffd"
        exchanges = list(reader.exchanges())
        keys = traffic_keys(reader)
        rows = traffic_rows(reader, keys)
    # HTTP fields are bytes, kept as latin-1 text: a character that is no
    # byte at all becomes "?", latin-1's own replacement.
    assert {e.request.target for e in exchanges if e.request} == {b"/?"}
    assert {e.request.headers for e in exchanges if e.request} == {((b"X?", b"y"),)}
    assert {row.target for row in rows.values() if row.exchange_id} == {b"/?"}


@pytest.mark.parametrize(
    ("statements", "what"),
    [
        (["DROP TABLE exchanges"], "no such table: exchanges"),
        (["ALTER TABLE connections DROP COLUMN detail"], "no such column: detail"),
    ],
    ids=["table", "column"],
)
def test_a_missing_table_or_column_is_damage(copy: Path, statements: list[str], what: str) -> None:
    damage_sql(copy, *statements)
    with SessionReader(copy) as reader:
        reader.servers()  # what is there reads on
        with pytest.raises(DamagedFileError) as raised:
            read_all_of(reader)
    assert str(raised.value) == f"cannot read {copy} (the file is damaged: {what})"


def test_a_corrupt_page_fails_as_damage_while_iterating(copy: Path) -> None:
    # The first rows come from an intact page; the next page is garbage.
    at = _page_of(copy, "chunk_blocks")
    data = bytearray(copy.read_bytes())
    data[at + 8 : at + 200] = b"\xa5" * 192
    copy.write_bytes(bytes(data))
    with SessionReader(copy) as reader:
        assert reader.info().hostname  # other tables read on
        with pytest.raises(DamagedFileError, match=r"\(the file is damaged: .*malformed"):
            read_all_of(reader)


@pytest.mark.parametrize(
    ("statement", "what"),
    [
        ("UPDATE connections SET opened = 'soon' WHERE id = 2", "connections.opened holds text"),
        (
            "UPDATE connections SET peer_port = X'00' WHERE id = 2",
            "connections.peer_port holds a blob",
        ),
        ("UPDATE connections SET role = 'spy' WHERE id = 2", "unknown Role 'spy'"),
        ("UPDATE connections SET opened = 1e300 WHERE id = 2", "the number 1e+300, not a time"),
        ("UPDATE servers SET options = '{' WHERE id = 1", "servers.options is not JSON"),
        (
            "INSERT INTO chunk_rows (conn_id, seq, direction, t, offset, data)"
            " VALUES (1, 99, 'in', 1e9, -5, X'00')",
            "chunk_rows.offset holds the number -5, not a size",
        ),
        (
            "UPDATE chunk_blocks SET meta = '[[\"in\",0,0,0,1]]' WHERE id = 1",
            "a block of 2 chunks lists 1 in its meta",
        ),
    ],
    ids=[
        "text-for-time",
        "blob-for-port",
        "unknown-role",
        "time-out-of-range",
        "bad-json",
        "negative-offset",
        "meta-too-short",
    ],
)
def test_values_of_the_wrong_kind_are_damage(copy: Path, statement: str, what: str) -> None:
    damage_sql(copy, "PRAGMA ignore_check_constraints = ON", statement)
    with SessionReader(copy) as reader, pytest.raises(DamagedFileError) as raised:
        read_all_of(reader)
    assert str(raised.value).startswith(f"cannot read {copy} (the file is damaged: ")
    assert what in raised.value.what


def test_a_file_cut_inside_the_header_is_damaged(copy: Path) -> None:
    copy.write_bytes(copy.read_bytes()[:10])
    with pytest.raises(DamagedFileError, match="it ends after 10 bytes"):
        SessionReader(copy)


def test_list_shows_a_damaged_file_and_still_lists_the_others(
    recorded: Path, tmp_path: Path
) -> None:
    good = Path(shutil.copy(recorded, tmp_path / "a.netbench.sqlite"))
    bad = Path(shutil.copy(recorded, tmp_path / "b.netbench.sqlite"))
    bad.write_bytes(bad.read_bytes()[:5000])
    summaries = list_sessions(tmp_path)
    assert [(s.path, s.damaged) for s in summaries] == [
        (good, None),
        (bad, "database disk image is malformed"),
    ]
    assert summaries[0].connections == 8


# -- any damage, every reader -----------------------------------------------------------


def read_all_of(reader: SessionReader) -> None:
    """Every read, stopping at the first that fails."""
    for read in _reads():
        read(reader)


def _reads() -> Iterator[Callable[[SessionReader], object]]:
    """Every read the CLI and the TUI make, one callable each."""
    yield SessionReader.info
    yield SessionReader.counts
    yield SessionReader.servers
    yield SessionReader.connections
    yield lambda reader: list(reader.exchanges())
    yield lambda reader: list(reader.exchanges(include_bodies=False))
    yield lambda reader: traffic_rows(reader, traffic_keys(reader))
    yield lambda reader: traffic_search(reader, "a")
    yield lambda reader: list(all_packets(reader))
    yield packet_count
    yield capture_history
    for conn_id in CONN_IDS:
        yield lambda reader, c=conn_id: reader.connection(c)
        yield lambda reader, c=conn_id: list(reader.chunks(c))
        yield lambda reader, c=conn_id: reader.socket_events(c)
        yield lambda reader, c=conn_id: list(reader.exchanges(c))
        yield lambda reader, c=conn_id: [
            chunk_data(reader, c, m.seq) for m in chunk_index(reader, c)
        ]
        yield lambda reader, c=conn_id: stream_bytes(reader, c, Direction.IN, 0, 100)
    local, peer = Endpoint("127.0.0.1", 8000), Endpoint("127.0.0.1", 50123)
    yield lambda reader: packets_between(reader, local, peer, 0, 2e10)


def _read_all(path: Path) -> list[str]:
    """What every reader says of the file: the damage each one met (none when all read)."""
    said: list[str] = []
    try:
        reader = SessionReader(path)
    except DamagedFileError as error:
        return [str(error)]
    with reader:
        for read in _reads():
            try:
                read(reader)
            except DamagedFileError as error:
                said.append(str(error))
    return said


@DAMAGE_SETTINGS
@given(damages=DAMAGES)
def test_every_reader_reads_any_damaged_file_or_says_it_is_damaged(
    recorded: Path, tmp_path: Path, damages: list[Damage]
) -> None:
    path = Path(shutil.copy(recorded, tmp_path / "damaged.netbench.sqlite"))
    damage(path, damages)
    try:
        said = _read_all(path)
    except StoreError as error:  # any other StoreError fails the test with its message
        pytest.fail(f"not reported as damage: {error}")
    event(said[0].split("damaged: ")[1][:30] if said else "every read worked")
    for message in said:
        assert message.startswith(f"cannot read {path} (the file is damaged: ")
        assert "\n" not in message
    summaries = list_sessions(tmp_path)
    assert [summary.path for summary in summaries] == [path]
