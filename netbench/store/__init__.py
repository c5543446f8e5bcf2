"""The SQLite session store: the only package that imports sqlite3.

`SessionWriter` records engine events into a session file, `SessionReader`
reads one back (read-only, also while it is being written). The schema is
public and documented in docs/sessions.md.

Its names load on first use (PEP 562): `netbench.store.recorder`, which the
TUI starts before its first frame, then costs only its own modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netbench.store.chunk_meta import ChunkMeta
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

_HOMES = {
    "DamagedFileError": "errors",
    "StoreError": "errors",
    "SessionSummary": "paths",
    "default_session_dir": "paths",
    "list_sessions": "paths",
    "new_session_path": "paths",
    "ChunkRow": "reader",
    "ConnectionRow": "reader",
    "ExchangeRow": "reader",
    "ServerRow": "reader",
    "SessionCounts": "reader",
    "SessionInfo": "reader",
    "SessionReader": "reader",
    "SocketEventRow": "reader",
    "RecordingRow": "recordings",
    "SCHEMA_VERSION": "schema",
    "FIRST_BYTES": "traffic",
    "ChunkMeta": "chunk_meta",
    "TrafficRow": "traffic",
    "chunk_data": "traffic",
    "chunk_index": "traffic",
    "traffic_id_ranges": "traffic",
    "traffic_keys": "traffic",
    "traffic_matches": "traffic",
    "traffic_rows": "traffic",
    "traffic_search": "traffic",
    "WAL_LIMIT": "wal",
    "SessionWriter": "writer",
}
"""Each exported name -> the module of netbench.store that defines it."""


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


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
