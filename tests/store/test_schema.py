from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from netbench.store import SessionReader, SessionWriter, StoreError
from netbench.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, migrate

# The documented column lists (docs/sessions.md). Users' queries depend on
# these names: a change here needs a migration and a docs update.
DOCUMENTED_COLUMNS = {
    "session": "id created netbench_version argv hostname mono_anchor wall_anchor",
    "servers": "id kind transport host port options started stopped error",
    "connections": (
        "id server_id role transport local_host local_port peer_host peer_port"
        " opened closed end_reason detail bytes_in bytes_out via_conn_id"
    ),
    "chunks": "id conn_id seq direction t offset data",
    "chunk_blocks": "id conn_id first_seq last_seq t0 meta data",
    "socket_events": "id conn_id t kind detail",
    "exchanges": (
        "id conn_id idx method target http_version req_headers req_body req_body_len"
        " req_body_truncated req_keep_alive req_error req_first_chunk req_last_chunk"
        " t_request_start t_request_end status reason resp_http_version resp_headers"
        " resp_body resp_body_len resp_body_truncated resp_error resp_first_chunk"
        " resp_last_chunk t_response_start t_response_end"
    ),
    "http": (
        "id conn_id idx role peer_host peer_port local_host local_port server_id method"
        " target http_version status reason req_body_len resp_body_len started"
        " duration_ms error"
    ),
}


def new_session(path: Path) -> None:
    writer = SessionWriter(path)
    writer.open()
    writer.close()


def open_writer(path: Path) -> SessionWriter:
    writer = SessionWriter(path)
    writer.open()
    return writer


OPENERS: list[Callable[[Path], object]] = [open_writer, SessionReader]


def pragma(path: Path, name: str) -> object:
    with closing(sqlite3.connect(path)) as raw:
        return raw.execute(f"PRAGMA {name}").fetchone()[0]


def test_fresh_file_has_current_version_and_settings(tmp_path: Path) -> None:
    path = tmp_path / "s.netbench.sqlite"
    new_session(path)
    assert pragma(path, "user_version") == SCHEMA_VERSION == len(MIGRATIONS)
    assert pragma(path, "application_id") == APPLICATION_ID
    # WAL while recording; a finished session is one file again.
    assert pragma(path, "journal_mode") == "delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    with SessionReader(path) as reader:
        assert reader.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("table", sorted(DOCUMENTED_COLUMNS))
def test_tables_have_the_documented_columns(tmp_path: Path, table: str) -> None:
    path = tmp_path / "s.netbench.sqlite"
    new_session(path)
    with closing(sqlite3.connect(path)) as raw:
        columns = [row[1] for row in raw.execute(f"PRAGMA table_info({table})")]
    assert columns == DOCUMENTED_COLUMNS[table].split()


def test_an_empty_file_becomes_a_session(tmp_path: Path) -> None:
    path = tmp_path / "touched.netbench.sqlite"
    path.touch()
    new_session(path)
    assert pragma(path, "user_version") == SCHEMA_VERSION


def _logging_migration(step: str):  # type: ignore[no-untyped-def]
    def step_function(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS migration_log (step TEXT)")
        conn.execute("INSERT INTO migration_log VALUES (?)", (step,))

    return step_function


def test_migrations_run_in_order_from_an_older_version(tmp_path: Path) -> None:
    path = tmp_path / "s.netbench.sqlite"
    new_session(path)  # a file at today's version, "older" than the list below
    later = [*MIGRATIONS, _logging_migration("to-v2"), _logging_migration("to-v3")]
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert migrate(conn, str(path), migrations=later[:-1]) == SCHEMA_VERSION
        assert migrate(conn, str(path), migrations=later) == SCHEMA_VERSION + 1
        assert migrate(conn, str(path), migrations=later) == SCHEMA_VERSION + 2  # nothing to do
        steps = [row[0] for row in conn.execute("SELECT step FROM migration_log ORDER BY rowid")]
        assert steps == ["to-v2", "to-v3"]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 2


def test_migrations_from_scratch_run_every_step(tmp_path: Path) -> None:
    path = tmp_path / "raw.sqlite"
    later = [*MIGRATIONS, _logging_migration("to-v2")]
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert migrate(conn, str(path), migrations=later) == 0
        assert conn.execute("SELECT step FROM migration_log").fetchall() == [("to-v2",)]
        assert conn.execute("SELECT count(*) FROM chunks").fetchone() == (0,)


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "s.netbench.sqlite"
    new_session(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE future_table (id INTEGER PRIMARY KEY)")
        conn.execute("SELECT * FROM no_such_table")

    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
            migrate(conn, str(path), migrations=[*MIGRATIONS, broken])
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema")}
        assert "future_table" not in tables


@pytest.mark.parametrize("opener", OPENERS, ids=["writer", "reader"])
def test_a_newer_version_is_refused(tmp_path: Path, opener: Callable[[Path], object]) -> None:
    path = tmp_path / "future.netbench.sqlite"
    new_session(path)
    with closing(sqlite3.connect(path)) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer netbench") as raised:
        opener(path)
    assert "\n" not in str(raised.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize("opener", OPENERS, ids=["writer", "reader"])
def test_another_applications_sqlite_is_refused_untouched(
    tmp_path: Path, opener: Callable[[Path], object]
) -> None:
    path = tmp_path / "places.sqlite"
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("CREATE TABLE moz_places (url TEXT)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a netbench session") as raised:
        opener(path)
    assert str(path) in str(raised.value)
    assert path.read_bytes() == before  # not even switched to WAL
    assert pragma(path, "journal_mode") == "delete"


@pytest.mark.parametrize("opener", OPENERS, ids=["writer", "reader"])
def test_a_non_sqlite_file_is_refused(tmp_path: Path, opener: Callable[[Path], object]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the bytes you are looking for\n" * 100)
    with pytest.raises(StoreError, match="not an SQLite file"):
        opener(path)


@pytest.mark.parametrize("content", [None, b""], ids=["missing", "empty"])
def test_reader_refuses_missing_and_empty_files(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "s.netbench.sqlite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(StoreError, match="no such session file" if content is None else "empty"):
        SessionReader(path)


def test_a_version_5_file_gains_the_link_between_proxy_legs(tmp_path: Path) -> None:
    path = tmp_path / "v5.netbench.sqlite"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert migrate(conn, str(path), migrations=MIGRATIONS[:5]) == 0
        conn.execute(
            "INSERT INTO connections (id, role, transport, local_host, local_port, peer_host,"
            " peer_port, opened) VALUES (1, 'server', 'tcp', '127.0.0.1', 8099, '127.0.0.1',"
            " 50000, 1.0)"
        )
        assert migrate(conn, str(path)) == 5
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        conn.execute(
            "INSERT INTO connections (id, role, transport, local_host, local_port, peer_host,"
            " peer_port, opened, via_conn_id) VALUES (2, 'client', 'tcp', '127.0.0.1', 50001,"
            " '127.0.0.1', 8000, 1.1, 1)"
        )
    with SessionReader(path) as reader:
        assert [(c.id, c.via_conn_id) for c in reader.connections()] == [(1, None), (2, 1)]
