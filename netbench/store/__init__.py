"""The SQLite session store: the only package that imports sqlite3.

`SessionWriter` records engine events into a session file, `SessionReader`
reads one back (read-only, also while it is being written). The schema is
public and documented in docs/sessions.md.
"""

from __future__ import annotations

from netbench.store.errors import DamagedFileError, StoreError
from netbench.store.paths import (
    SessionSummary,
    default_session_dir,
    list_sessions,
    new_session_path,
)
from netbench.store.reader import (
    ChunkRow,
    ConnectionRow,
    ExchangeRow,
    ServerRow,
    SessionCounts,
    SessionInfo,
    SessionReader,
    SocketEventRow,
)
from netbench.store.recordings import RecordingRow
from netbench.store.schema import SCHEMA_VERSION
from netbench.store.traffic import (
    FIRST_BYTES,
    ChunkMeta,
    TrafficRow,
    chunk_data,
    chunk_index,
    traffic_id_ranges,
    traffic_keys,
    traffic_matches,
    traffic_rows,
    traffic_search,
)
from netbench.store.wal import WAL_LIMIT
from netbench.store.writer import SessionWriter

__all__ = [
    "FIRST_BYTES",
    "SCHEMA_VERSION",
    "WAL_LIMIT",
    "ChunkMeta",
    "ChunkRow",
    "ConnectionRow",
    "DamagedFileError",
    "ExchangeRow",
    "RecordingRow",
    "ServerRow",
    "SessionCounts",
    "SessionInfo",
    "SessionReader",
    "SessionSummary",
    "SessionWriter",
    "SocketEventRow",
    "StoreError",
    "TrafficRow",
    "chunk_data",
    "chunk_index",
    "default_session_dir",
    "list_sessions",
    "new_session_path",
    "traffic_id_ranges",
    "traffic_keys",
    "traffic_matches",
    "traffic_rows",
    "traffic_search",
]
