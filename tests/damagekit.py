"""Real session files, then damaged ones (shared by the store, CLI and UI tests).

`record_traffic` runs the engine with a session writer on loopback and sends
real traffic through it; the `damage_*` helpers then break a copy of the
file the ways disks, copies and hand edits do.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import time
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from netbench.engine.clients import http_exchange, open_tcp
from netbench.engine.config import default_config
from netbench.engine.engine import Engine
from netbench.events import CaptureStatus, PacketCaptured
from netbench.model import Endpoint, TcpPacket
from netbench.store import SessionWriter

REQUEST = b"POST /caf\xe9?q=\x1b[2J HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n\x00\xfe\n"
TABLES = (
    "session",
    "servers",
    "connections",
    "chunk_rows",
    "chunk_blocks",
    "socket_events",
    "exchanges",
    "packets",
    "capture",
)
"""Every table of a session file (schema 3)."""


def _raw_round_trip(port: int, data: bytes, kind: int = socket.SOCK_STREAM) -> bytes:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
        sock.sendall(data)
        return sock.recv(65536)


async def _traffic(path: Path) -> None:
    engine = Engine()
    writer = SessionWriter(path, argv=["netbench", "serve", "http"])
    writer.open()
    engine.ctx.bus.subscribe(writer)
    try:
        http = await engine.start_server(default_config("http", host="127.0.0.1", port=0))
        echo = await engine.start_server(default_config("echo", host="127.0.0.1", port=0))
        udp = await engine.start_server(default_config("udp-echo", host="127.0.0.1", port=0))
        for request in (
            REQUEST,
            b"GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        ):
            await http_exchange(engine.ctx, "127.0.0.1", http.address.port, request)
        assert await asyncio.to_thread(_raw_round_trip, echo.address.port, b"hi\x00\xff") != b""
        udp_reply = await asyncio.to_thread(
            _raw_round_trip, udp.address.port, b"datagram", socket.SOCK_DGRAM
        )
        assert udp_reply == b"datagram"
        client = await open_tcp(engine.ctx, "127.0.0.1", echo.address.port)
        client.send(b"from a client\r\n")
        assert await client.recv() != b""
        await client.close()
    finally:
        await engine.stop_all()
        writer.close()


def record_traffic(path: Path) -> Path:
    """A closed session at `path` with real HTTP, TCP, UDP and client traffic, plus packets.

    Capture needs privileges, so the packets and the capture's status are
    appended through a second writer, as the capture's events would be.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(_traffic(path))
    writer = SessionWriter(path)
    writer.open()
    a, b, now = Endpoint("127.0.0.1", 50123), Endpoint("127.0.0.1", 8000), time.monotonic()
    writer(CaptureStatus(True, now, "in-process on lo"))
    for index, flags in enumerate(("S", "SA", "A")):
        src, dst = (b, a) if flags == "SA" else (a, b)
        frame = b"\x00" * 54 + flags.encode()
        writer(
            PacketCaptured(TcpPacket(now + index, src, dst, flags, index, 0, 65535, 0, b"", frame))
        )
    writer.close()
    return path


def damage_sql(path: Path, *statements: str) -> None:
    """Run SQL that no netbench would write (the file stays a valid SQLite database)."""
    with closing(sqlite3.connect(path)) as db:
        for statement in statements:
            db.execute(statement)
        db.commit()


# -- damage -------------------------------------------------------------------------

UNTOUCHED_HEADER = (range(0, 16), range(60, 64))
"""Bytes a flip leaves alone: SQLite's magic and the schema version. Changed,
the file says it is not SQLite, or a newer netbench's, and is refused as such."""


@dataclass(frozen=True)
class Flip:
    """XOR one byte, `where` of the way into the file (0 <= where < 1)."""

    where: float
    mask: int

    def apply(self, path: Path) -> None:
        data = bytearray(path.read_bytes())
        at = int(self.where * len(data))
        if data and not any(at in skipped for skipped in UNTOUCHED_HEADER):
            data[at] ^= self.mask
            path.write_bytes(bytes(data))


@dataclass(frozen=True)
class Cut:
    """Truncate to `keep` of the size (0 < keep < 1; never to nothing: that is an empty file)."""

    keep: float

    def apply(self, path: Path) -> None:
        size = path.stat().st_size
        with path.open("r+b") as file:
            file.truncate(max(1, int(self.keep * size)))


@dataclass(frozen=True)
class Rewrite:
    """Set one column (but the id) of one row to `value` (an SQL expression), constraints off."""

    table: str
    column: int
    row: int
    value: str

    def apply(self, path: Path) -> None:
        _without_not_null(path)
        with closing(sqlite3.connect(path)) as db:
            # Not the row ids: another id is a different row, not a damaged one.
            columns = [
                name
                for _cid, name, _type, _notnull, _default, key in db.execute(
                    f"PRAGMA table_info({self.table})"
                )
                if not key
            ]
            count = db.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]
            if not columns or not count:
                return
            column = columns[self.column % len(columns)]
            db.execute("PRAGMA ignore_check_constraints = ON")
            db.execute(
                f"UPDATE {self.table} SET {column} = {self.value} WHERE rowid ="
                f" (SELECT rowid FROM {self.table} ORDER BY rowid LIMIT 1 OFFSET ?)",
                (self.row % count,),
            )
            db.commit()


@dataclass(frozen=True)
class Drop:
    table: str

    def apply(self, path: Path) -> None:
        damage_sql(path, f"DROP TABLE IF EXISTS {self.table}")


Damage = Flip | Cut | Rewrite | Drop


def _without_not_null(path: Path) -> None:
    """Let any column hold NULL, as a damaged record can (the schema is edited in place)."""
    with closing(sqlite3.connect(path)) as db:
        version = db.execute("PRAGMA schema_version").fetchone()[0]
        db.execute("PRAGMA writable_schema = ON")
        db.execute(
            "UPDATE sqlite_schema SET sql = replace(sql, 'NOT NULL', '') WHERE type = 'table'"
        )
        db.execute(f"PRAGMA schema_version = {version + 1}")
        db.commit()


def damage(path: Path, damages: list[Damage]) -> None:
    """Edits first, then byte damage (an edit of a file cut to nothing would make a
    new, empty database); an edit SQLite refuses is skipped."""
    for each in sorted(damages, key=lambda each: isinstance(each, Flip | Cut)):
        with suppress(sqlite3.Error):
            each.apply(path)


# -- hypothesis ------------------------------------------------------------------------

_SQL_VALUES = st.one_of(
    st.just("NULL"),
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.sampled_from(["1.5", "-1.0", "1e300", "9e999", "-9e999", "0.0"]),
    st.sampled_from(["'x'", "''", "'[]'", "'{}'", "'[[1,2]]'", "'[\"in\",0,0,0,1]'", "'in'"]),
    st.binary(max_size=8).map(lambda data: f"X'{data.hex()}'"),
    st.binary(max_size=8).map(lambda data: f"CAST(X'ff{data.hex()}' AS TEXT)"),
)
_DAMAGE: st.SearchStrategy[Damage] = st.one_of(
    st.builds(Flip, st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
    st.builds(Cut, st.floats(0, 1, exclude_min=True, exclude_max=True)),
    st.builds(
        Rewrite,
        st.sampled_from([table for table in TABLES if table != "chunk_rows"]),
        st.integers(0, 30),
        st.integers(0, 30),
        _SQL_VALUES,
    ),
    st.builds(Drop, st.sampled_from(TABLES)),
)
DAMAGES = st.lists(_DAMAGE, min_size=1, max_size=3)
"""One to three damages of any kind."""

DAMAGE_SETTINGS = settings(  # DAMAGE_EXAMPLES=2000: a longer, random run
    max_examples=int(os.environ.get("DAMAGE_EXAMPLES", "50")),
    deadline=None,
    derandomize="DAMAGE_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
