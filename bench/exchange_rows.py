"""SQLite's CPU per exchange recorded: a row each (the schema today) against the
transaction's exchanges packed into one row, as chunks already are.

    python bench/exchange_rows.py [--exchanges 60000] [--batch 450]

A real session file (netbench's schema, ten connections) takes hello-world
exchange rows (the 28 columns `SessionWriter` inserts) in transactions of
`--batch`, the size of a 30 ms commit at ~15,000 req/s: first one `INSERT`
per exchange, then the same rows marshalled into a single row per
transaction of a scratch table. Only SQLite's share and the packing are
timed (process CPU); building the rows from events is the same either way.
It measures what exchanges stored in blocks would save the recorder
(docs/performance.md, "What is left"), not a design netbench has.
"""

from __future__ import annotations

import argparse
import marshal
import sqlite3
import tempfile
import time
from pathlib import Path

from netbench.events import ConnectionOpened
from netbench.model import Endpoint, Role, Transport
from netbench.store import SessionWriter
from netbench.store.rows import INSERT_EXCHANGE

_REQUEST_HEADERS = '[["Host","127.0.0.1:8000"],["User-Agent","wrk"]]'
_RESPONSE_HEADERS = (
    '[["Server","netbench/0.1.0"],["Date","Mon, 07 Dec 2026 15:45:10 GMT"],'
    '["Content-Type","text/html"],["Content-Length","239"]]'
)
_BLOCK = "INSERT INTO exchange_blocks (first_id, last_id, data) VALUES (?, ?, ?)"


def _row(exchange_id: int) -> tuple[object, ...]:
    conn_id, position = exchange_id % 10 + 1, exchange_id // 10
    request = ("GET", "/", "1.1", _REQUEST_HEADERS, b"", 0, 0, 1, None, 0, 0, 1.0, 1.0)
    response = (200, "OK", "1.1", _RESPONSE_HEADERS, b"x" * 239, 239, 0, None, 1, 1, 1.0, 1.0)
    return (exchange_id, conn_id, position, *request, *response)


def _session(path: Path) -> sqlite3.Connection:
    with SessionWriter(path) as writer:
        for conn_id in range(1, 11):
            local, peer = Endpoint("127.0.0.1", 8000), Endpoint("127.0.0.1", 40000 + conn_id)
            writer(ConnectionOpened(conn_id, None, Role.CLIENT, Transport.TCP, local, peer, 1.0))
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
        db.execute(f"PRAGMA {pragma}")
    db.execute(
        "CREATE TABLE exchange_blocks (id INTEGER PRIMARY KEY, first_id INTEGER,"
        " last_id INTEGER, data BLOB)"
    )
    return db


def measure(exchanges: int, batch: int) -> tuple[float, float]:
    """(µs of CPU per exchange as a row each, µs packed per transaction)."""
    rows = [_row(exchange_id) for exchange_id in range(1, exchanges + 1)]
    with tempfile.TemporaryDirectory(prefix="netbench-rows-") as folder:
        db = _session(Path(folder) / "rows.netbench.sqlite")
        try:
            started = time.process_time()
            for start in range(0, exchanges, batch):
                db.execute("BEGIN")
                db.executemany(INSERT_EXCHANGE, rows[start : start + batch])
                db.execute("COMMIT")
            each = time.process_time() - started
            started = time.process_time()
            for start in range(0, exchanges, batch):
                part = rows[start : start + batch]
                db.execute("BEGIN")
                db.execute(_BLOCK, (part[0][0], part[-1][0], marshal.dumps(part)))
                db.execute("COMMIT")
            packed = time.process_time() - started
        finally:
            db.close()
    return each / exchanges * 1e6, packed / exchanges * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=450, help="exchanges per transaction")
    args = parser.parse_args()
    each, packed = measure(args.exchanges, args.batch)
    print(
        f"{args.exchanges} exchanges in transactions of {args.batch}: a row each {each:.1f} us"
        f" of CPU an exchange, packed into a row per transaction {packed:.1f} us"
        f" ({each / packed:.1f}x less)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
