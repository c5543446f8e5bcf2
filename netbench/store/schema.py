"""The session file's schema, how a file is recognised, and its migrations.

Rules (docs/sessions.md is the user-facing copy; keep both in step):
- a session file is an SQLite database whose `PRAGMA application_id` is
  `APPLICATION_ID` and whose `PRAGMA user_version` is its schema version;
- `MIGRATIONS[n]` turns version n into version n + 1, in its own transaction
  together with the version bump, so a failure leaves the previous version
  intact. Published migrations are never edited: a change is a new function
  appended to the tuple;
- migrations add (tables, columns, indexes, views), so a reader of version
  N can read any older file as is; a missing table reads as empty. The one
  exception, version 3, renamed `chunks` to `chunk_rows` and put a view of
  the same name and columns in its place: readers pick the table by version;
- a file with a newer version, or any other SQLite database, is refused with a
  one-line `StoreError` and never modified; a session that SQLite cannot
  read, or whose header no longer says what it is, is a `DamagedFileError`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from netbench.protocol.words import with_article
from netbench.store.damage import cut_in_header, damaged, read_error, starts_like_sqlite
from netbench.store.errors import StoreError, one_line

Migration = Callable[[sqlite3.Connection], None]

APPLICATION_ID = 0x4E62_5331
"""`PRAGMA application_id` of every session file: "NbS1" in ASCII."""

_V1 = """
CREATE TABLE session (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    created          REAL NOT NULL,
    netbench_version TEXT NOT NULL,
    argv             TEXT NOT NULL,
    hostname         TEXT NOT NULL,
    mono_anchor      REAL NOT NULL,
    wall_anchor      REAL NOT NULL
);

CREATE TABLE servers (
    id        INTEGER PRIMARY KEY,
    kind      TEXT NOT NULL,
    transport TEXT NOT NULL,
    host      TEXT NOT NULL,
    port      INTEGER NOT NULL,
    options   TEXT NOT NULL DEFAULT '{}',
    started   REAL NOT NULL,
    stopped   REAL,
    error     TEXT
);

CREATE TABLE connections (
    id         INTEGER PRIMARY KEY,
    server_id  INTEGER REFERENCES servers (id),
    role       TEXT NOT NULL CHECK (role IN ('server', 'client')),
    transport  TEXT NOT NULL,
    local_host TEXT NOT NULL,
    local_port INTEGER NOT NULL,
    peer_host  TEXT NOT NULL,
    peer_port  INTEGER NOT NULL,
    opened     REAL NOT NULL,
    closed     REAL,
    end_reason TEXT,
    detail     TEXT,
    bytes_in   INTEGER,
    bytes_out  INTEGER
);
CREATE INDEX connections_server ON connections (server_id);

CREATE TABLE chunks (
    id        INTEGER PRIMARY KEY,
    conn_id   INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    t         REAL NOT NULL,
    offset    INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE UNIQUE INDEX chunks_conn_seq ON chunks (conn_id, seq);

CREATE TABLE socket_events (
    id      INTEGER PRIMARY KEY,
    conn_id INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    t       REAL NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT
);
CREATE INDEX socket_events_conn ON socket_events (conn_id, t);

CREATE TABLE exchanges (
    id                  INTEGER PRIMARY KEY,
    conn_id             INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    idx                 INTEGER,
    method              TEXT,
    target              TEXT,
    http_version        TEXT,
    req_headers         TEXT,
    req_body            BLOB,
    req_body_len        INTEGER,
    req_body_truncated  INTEGER,
    req_keep_alive      INTEGER,
    req_error           TEXT,
    req_first_chunk     INTEGER,
    req_last_chunk      INTEGER,
    t_request_start     REAL,
    t_request_end       REAL,
    status              INTEGER,
    reason              TEXT,
    resp_http_version   TEXT,
    resp_headers        TEXT,
    resp_body           BLOB,
    resp_body_len       INTEGER,
    resp_body_truncated INTEGER,
    resp_error          TEXT,
    resp_first_chunk    INTEGER,
    resp_last_chunk     INTEGER,
    t_response_start    REAL,
    t_response_end      REAL
);
CREATE INDEX exchanges_conn ON exchanges (conn_id, idx);

CREATE VIEW http AS
SELECT
    e.id                  AS id,
    e.conn_id             AS conn_id,
    e.idx                 AS idx,
    c.role                AS role,
    c.peer_host           AS peer_host,
    c.peer_port           AS peer_port,
    c.local_host          AS local_host,
    c.local_port          AS local_port,
    c.server_id           AS server_id,
    e.method              AS method,
    e.target              AS target,
    e.http_version        AS http_version,
    e.status              AS status,
    e.reason              AS reason,
    e.req_body_len        AS req_body_len,
    e.resp_body_len       AS resp_body_len,
    e.t_request_start     AS started,
    (e.t_response_end - e.t_request_start) * 1000.0 AS duration_ms,
    coalesce(e.req_error, e.resp_error) AS error
FROM exchanges AS e
JOIN connections AS c ON c.id = e.conn_id;
"""


def _v0_to_v1(conn: sqlite3.Connection) -> None:
    for statement in _V1.split(";\n"):
        if statement.strip():
            conn.execute(statement)


_V2 = """
CREATE TABLE packets (
    id           INTEGER PRIMARY KEY,
    t            REAL NOT NULL,
    src_host     TEXT NOT NULL,
    src_port     INTEGER NOT NULL,
    dst_host     TEXT NOT NULL,
    dst_port     INTEGER NOT NULL,
    flags        TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    ack          INTEGER NOT NULL,
    window       INTEGER NOT NULL,
    payload_len  INTEGER NOT NULL,
    payload_head BLOB NOT NULL,
    frame        BLOB NOT NULL,
    linktype     INTEGER NOT NULL
);
CREATE INDEX packets_ports ON packets (src_port, dst_port, t);

CREATE TABLE capture (
    id      INTEGER PRIMARY KEY,
    t       REAL NOT NULL,
    running INTEGER NOT NULL,
    detail  TEXT NOT NULL,
    dropped INTEGER NOT NULL
);
"""


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Captured TCP packets, and what the capture did (started, failed, dropped)."""
    for statement in _V2.split(";\n"):
        if statement.strip():
            conn.execute(statement)


_V3 = """
ALTER TABLE chunks RENAME TO chunk_rows;

CREATE TABLE chunk_blocks (
    id        INTEGER PRIMARY KEY,
    conn_id   INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    t0        REAL NOT NULL,
    meta      TEXT NOT NULL,
    data      BLOB NOT NULL
);
CREATE UNIQUE INDEX chunk_blocks_conn_seq ON chunk_blocks (conn_id, first_seq);

CREATE VIEW chunks AS
SELECT id, conn_id, seq, direction, t, offset, data FROM chunk_rows
UNION ALL
SELECT
    -- unique and in insertion order: a block's id, then the chunk's place in it
    (b.id << 32) + j.key                     AS id,
    b.conn_id                                AS conn_id,
    b.first_seq + j.key                      AS seq,
    json_extract(j.value, '$[0]')            AS direction,
    b.t0 + json_extract(j.value, '$[1]') / 1e9 AS t,
    json_extract(j.value, '$[2]')            AS offset,
    -- substr of an empty BLOB is NULL, and a datagram can be empty
    coalesce(substr(b.data, json_extract(j.value, '$[3]') + 1, json_extract(j.value, '$[4]')),
             X'')                            AS data
FROM chunk_blocks AS b, json_each(b.meta) AS j;
"""


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """Chunks in blocks (store/chunk_blocks.py): one row per connection per batch.

    Rows already recorded stay as they are, in `chunk_rows`; `chunks` becomes
    a view with the same columns, so queries keep working.
    """
    for statement in _V3.split(";\n"):
        if statement.strip():
            conn.execute(statement)


_V4 = """
CREATE TABLE recordings (
    id              INTEGER PRIMARY KEY,
    pid             INTEGER NOT NULL,
    hostname        TEXT NOT NULL,
    started         REAL NOT NULL,
    ended           REAL,
    first_server_id INTEGER NOT NULL,
    first_conn_id   INTEGER NOT NULL
);
"""


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    """One row per process that recorded into the file, `ended` set by a clean
    close: a reader can tell a recording killed midway (store/recordings.py)."""
    conn.execute(_V4)


_V5 = """
CREATE TABLE imported (
    id      INTEGER PRIMARY KEY,
    t       REAL NOT NULL,
    format  TEXT NOT NULL,
    source  TEXT NOT NULL,
    creator TEXT NOT NULL,
    entries INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    note    TEXT
);
"""


def _v4_to_v5(conn: sqlite3.Connection) -> None:
    """Where a session imported from another tool's file (a HAR) came from: a
    row here tells readers that nothing in the file was recorded (store/har_import.py)."""
    conn.execute(_V5)


def _v5_to_v6(conn: sqlite3.Connection) -> None:
    """`connections.via_conn_id`: the connection whose request caused this one
    (a proxy's upstream leg names its client leg); NULL for every other."""
    conn.execute(
        "ALTER TABLE connections ADD COLUMN via_conn_id INTEGER REFERENCES connections (id)"
    )
    conn.execute("CREATE INDEX connections_via ON connections (via_conn_id)")


MIGRATIONS: tuple[Migration, ...] = (
    _v0_to_v1,
    _v1_to_v2,
    _v2_to_v3,
    _v3_to_v4,
    _v4_to_v5,
    _v5_to_v6,
)
"""`MIGRATIONS[n]` upgrades schema version n to n + 1. Append only."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version this netbench writes."""


def configure(conn: sqlite3.Connection, *, wal_limit: int = 64 * 1024 * 1024) -> None:
    """The writer's settings: WAL, so readers never block it and a crash keeps
    every committed batch; NORMAL sync, durable across a process kill (only a
    power cut may lose the last batches); foreign keys, so rows stay linked;
    no automatic checkpoint: the writer's checkpointer thread copies the log
    back (store/wal.py), so a checkpoint's two fsyncs never hold up a commit;
    and a log file cut back to half the limit when it starts over, should it
    have grown past it."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute(f"PRAGMA journal_size_limit = {wal_limit // 2}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")


def identify(conn: sqlite3.Connection, where: str, *, latest: int = SCHEMA_VERSION) -> int:
    """The file's schema version; 0 for an empty database that can become one.

    Reads the header and the schema only and changes nothing, so it is safe
    on any file. `where` is the file's path.
    """
    try:
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        objects = int(conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0])
        # A session whose header lost netbench's id still has netbench's tables.
        ours = app_id != APPLICATION_ID and _has_session_tables(conn)
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        cut = cut_in_header(Path(where))
        if cut:
            raise damaged(where, cut) from exc
        not_a_database = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB
        if not_a_database and not starts_like_sqlite(Path(where)):
            raise StoreError(f"{where} is not a netbench session (not an SQLite file)") from exc
        raise read_error(exc, where) from exc
    if app_id == 0 and version == 0 and objects == 0:
        return 0
    if ours:
        raise damaged(where, f"its application id is {app_id}, not netbench's")
    if app_id != APPLICATION_ID:
        raise StoreError(f"{where} is an SQLite database but not a netbench session")
    if version > latest:
        raise StoreError(
            f"{where} was written by a newer netbench "
            f"(schema version {version}, this one reads up to {latest})"
        )
    if version < 1:
        raise damaged(where, f"its schema version is {version}")
    _no_view_for_a_table(conn, where, version)
    return version


def _no_view_for_a_table(conn: sqlite3.Connection, where: str, version: int) -> None:
    """A view named like a table netbench reads runs its own SQL in every query:
    a recursive one hung `session list` past Ctrl-C. Only `chunks` is a view of
    netbench's own (version 3 on), and netbench reads `chunk_rows` instead."""
    names = [
        name for name in (*_TABLES, "recordings", "imported") if name != "chunks" or version < 3
    ]
    try:
        found = conn.execute(
            f"SELECT name, type FROM sqlite_schema WHERE type != 'table' AND type != 'index'"
            f" AND lower(name) IN ({', '.join('?' * len(names))})",  # names ignore case
            names,
        ).fetchone()
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        raise read_error(exc, where) from exc
    if found is not None:
        raise damaged(where, f"{found[0]} is {with_article(found[1])}, not a table")


def _has_session_tables(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        f"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
        f" ({', '.join('?' * len(_TABLES))})",
        _TABLES,
    ).fetchone()[0]
    return int(found) >= 4


_TABLES = (
    "session",
    "servers",
    "connections",
    "chunk_rows",
    "chunk_blocks",
    "chunks",
    "socket_events",
    "exchanges",
    "packets",
    "capture",
)
"""netbench's tables, of every version: a file with four of them is a session."""


def migrate(
    conn: sqlite3.Connection,
    where: str,
    *,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Bring the file up to `len(migrations)`, one transaction per step.

    `conn` must be in autocommit mode (`isolation_level=None`). Returns the
    version the file had before; 0 means it was just created.
    """
    latest = len(migrations)
    start = identify(conn, where, latest=latest)
    for version in range(start, latest):
        try:
            # IMMEDIATE takes the write lock first, so two processes opening a
            # fresh file at once cannot both run the same step.
            conn.execute("BEGIN IMMEDIATE")
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current == version:
                migrations[version](conn)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(
                f"cannot upgrade {where} to schema version {version + 1}: {one_line(exc)}"
            ) from exc
    return start
