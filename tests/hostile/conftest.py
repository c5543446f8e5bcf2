"""Real `netbench serve` servers for the hostile suite, and the check after every case.

Every test here attacks a real server child on 127.0.0.1. Whatever the case
did, `survives` then asks each server the test used for a normal page: it
must answer within 2 s (issue 5: nothing the network sends takes a server
down).

`http_server` is every kind that answers HTTP on netbench's own server: the
page server (`http`), a WSGI app with the same routes (`wsgi`,
hostile_wsgi.py) and that app behind the reverse proxy (`proxy`), so each
case runs against all three. A module about the page
server's own pages says `pytestmark = pytest.mark.http_kind_only`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rawclient import SECRET, still_answers

LIMITS = (
    "--max-body", "4096",
    "--header-timeout", "1",
    "--idle-timeout", "2",
    "--max-connections", "300",
    "--backlog", "512",
)  # fmt: skip
"""Small limits so that each case hits one quickly; the rest stay at their defaults.
The backlog holds the 200 connections opened at once (and a proxy's 200 upstream
legs): with the default 128 the kernel drops SYNs and retries them after 1, 3,
7 s, which is the kernel's answer to a full queue, not the server's."""

SERVER_FIXTURES = ("http_server", "static_server")

HTTP_KINDS: dict[str, tuple[str, ...]] = {
    "http": (),
    "wsgi": ("hostile_wsgi:app", "--app-dir", str(Path(__file__).parent)),
    "proxy": (),  # --upstream: the wsgi app, started for it
}
"""The kinds `http_server` runs as, and the arguments each needs."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "http_server" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("http_kind_only")
        kinds = ["http"] if only else list(HTTP_KINDS)
        metafunc.parametrize("http_kind", kinds, scope="module")


@pytest.fixture(scope="module")
def http_kind() -> str:
    """The page server, for a test that reaches `http_server` by name (getfixturevalue)."""
    return "http"


@pytest.fixture(scope="module")
def http_server(start_module_serve, tmp_path_factory, http_kind: str) -> Any:  # type: ignore[no-untyped-def]
    session = tmp_path_factory.mktemp("hostile") / f"{http_kind}.netbench.sqlite"
    extra = HTTP_KINDS[http_kind]
    if http_kind == "proxy":
        app = start_module_serve(
            "wsgi", *HTTP_KINDS["wsgi"], "--no-capture", "--no-record", "--backlog", "512"
        )
        extra = ("--upstream", f"127.0.0.1:{app.port}")
    return start_module_serve(http_kind, *extra, "--no-capture", "--session", str(session), *LIMITS)


@pytest.fixture(scope="module")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/ with tricky names (markup, escapes, not UTF-8), a big file and symlinks out;
    secret.txt beside it."""
    base = tmp_path_factory.mktemp("static")
    (base / "secret.txt").write_bytes(SECRET)
    root = base / "root"
    (root / "docs").mkdir(parents=True)
    (root / "hello.txt").write_text("hello\n")
    (root / "<img src=x onerror=alert(1)>.txt").write_text("x")
    (root / "a\"b'c&d.txt").write_text("x")
    (root / "\x1b]0;pwned\x07\u009b<script>alert(1).txt").write_text("x")  # terminal escapes
    (root / os.fsdecode(b"not-utf8-\xff.txt")).write_text("x")
    (root / "big.bin").write_bytes(os.urandom(1 << 16) * 128)  # 8 MiB, streamed
    os.symlink(base / "secret.txt", root / "escape.txt")
    os.symlink(base, root / "up")
    return root


@pytest.fixture(scope="module")
def static_server(start_module_serve, static_root: Path) -> Any:  # type: ignore[no-untyped-def]
    session = static_root.parent / "static.netbench.sqlite"
    return start_module_serve(
        "static", "--root", str(static_root), "--no-capture", "--session", str(session), *LIMITS
    )


@pytest.fixture(autouse=True)
def survives(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the case: every shared server it attacked still answers a normal request."""
    yield
    for name in SERVER_FIXTURES:
        if name in request.fixturenames:
            server = request.getfixturevalue(name)
            assert server.popen.poll() is None, f"{name} exited: {server.stderr[-2000:]}"
            assert still_answers(server.port, timeout=2.0) == 200


def recorded(session: Path, where: str, *args: object, timeout: float = 5.0) -> list[tuple]:
    """Rows of the session's `exchanges` matching `where`, waiting (bounded) for one.

    Recording is committed within ~100 ms, so a refused request is readable by
    another process almost at once; `timeout` only absorbs a busy machine.
    """
    deadline = time.monotonic() + timeout
    query = f"SELECT status, target, req_error FROM exchanges WHERE {where}"
    while True:
        with sqlite3.connect(f"file:{session}?mode=ro", uri=True, timeout=1.0) as db:
            rows = db.execute(query, args).fetchall()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


@pytest.fixture
def recorded_in(http_server) -> Callable[..., list[tuple]]:  # type: ignore[no-untyped-def]
    """`recorded_in("status = ?", 414)`: exchanges the shared HTTP server recorded."""
    assert http_server.session is not None
    return lambda where, *args: recorded(http_server.session, where, *args)
