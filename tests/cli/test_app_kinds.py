"""`netbench serve wsgi` and `serve asgi` as a user runs them: errors, output, a 100 MB upload."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from netbench.store import SessionReader

APPS = Path(__file__).resolve().parents[1] / "apps"
UPLOAD = 100 * 1000 * 1000
"""100 MB, under the default --max-body of 100 MiB."""


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["wsgi", "no_such_module:app"], 1, "cannot load no_such_module:app: ModuleNotFoundError"),
        (["wsgi", "wsgi_cases:missing"], 1, "has no attribute 'missing'"),
        (["wsgi", "not a spec"], 2, "is not MODULE:APP"),
        (["asgi"], 2, "asgi needs the application: MODULE:APP"),
        (["asgi", "asgi_cases:a_wsgi_app"], 1, "is not an ASGI application"),
        (["asgi", "asgi_cases:startup_fails"], 1, "lifespan startup failed: the database is down"),
        (["echo", "extra:word"], 2, "echo takes no argument after KIND"),
        (["wsgi", "--app-dir", "/no/such/dir"], 1, "--app-dir /no/such/dir is not a directory"),
        (["wsgi", "--threads", "0"], 2, "argument --threads: must be between 1 and 1024"),
    ],
)
def test_a_bad_app_is_one_line_and_the_right_exit_code(
    args: list[str], code: int, says: str, run_netbench
) -> None:
    # Only the app kinds take --app-dir (any other kind refuses it).
    takes_apps = args[0] in ("wsgi", "asgi") and "--app-dir" not in args
    apps = ("--app-dir", str(APPS)) if takes_apps else ()
    result = run_netbench("serve", *args, *apps, "--port", "0", "--no-record")
    assert result.returncode == code, result
    lines = result.stderr.splitlines()
    assert says in lines[-1], result.stderr
    assert len(lines) <= 2 and "Traceback" not in result.stderr
    if code == 2:  # a usage error says so as argparse's own do: the usage line first
        assert lines[0].startswith("usage: netbench serve "), result.stderr


@pytest.mark.parametrize(
    ("value", "says"),
    [("3", "it is an int"), ("object()", "it is an object"), ("'x'", "it is a str")],
)
def test_an_app_that_is_not_callable_is_named_with_the_right_article(
    value: str, says: str, run_netbench, tmp_path: Path
) -> None:
    (tmp_path / "notapp.py").write_text(f"app = {value}\n")
    result = run_netbench(
        "serve", "wsgi", "notapp:app", "--app-dir", str(tmp_path), "--port", "0", "--no-record"
    )
    assert result.returncode == 1, result
    assert result.stderr.splitlines() == [
        f"netbench: error: cannot load notapp:app: {says}, not an application"
    ]


def test_module_app_after_the_options_is_taken_too(start_serve) -> None:
    server = start_serve("wsgi", "--no-record", "--app-dir", str(APPS), "wsgi_cases:cases")
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"GET /fast HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert sock.recv(4096).endswith(b"fast")


def test_the_traceback_follows_the_exchange_line(start_serve) -> None:
    server = start_serve("wsgi", "wsgi_cases:cases", "--app-dir", str(APPS), "--no-record")
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"GET /raise HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 500")
    exchange = server.events(lambda e: e["event"] == "exchange")[-1]
    assert exchange["status"] == 500
    assert exchange["error"].startswith("the app raised RuntimeError: boom <b>\x1b[31m\n")
    assert "Traceback (most recent call last):" in exchange["error"]


def _peak_rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


@pytest.mark.timeout(120)
def test_a_100_mb_upload_streams_through_in_bounded_memory(start_serve, tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc")
    session = tmp_path / "upload.netbench.sqlite"
    server = start_serve(
        "wsgi",
        "wsgi_cases:cases",
        "--app-dir",
        str(APPS),
        "--no-capture",
        "--session",
        str(session),
    )
    piece = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    digest = hashlib.sha256()
    with socket.create_connection(server.address, timeout=30) as sock:
        sock.sendall(b"GET /fast HTTP/1.1\r\nHost: localhost\r\n\r\n")  # warm: the app's thread
        assert sock.recv(4096).endswith(b"fast")
        before = _peak_rss_kb(server.popen.pid)
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n")
        sock.sendall(b"Content-Length: %d\r\n\r\n" % UPLOAD)
        sent = 0
        while sent < UPLOAD:
            part = piece[: UPLOAD - sent]
            sock.sendall(part)
            digest.update(part)
            sent += len(part)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.endswith(f"{UPLOAD} {digest.hexdigest()}".encode()), reply[-200:]
    grew_mb = (_peak_rss_kb(server.popen.pid) - before) / 1024
    assert grew_mb < 40, f"peak memory grew {grew_mb:.0f} MB during a 100 MB upload"
    assert server.stop() == 0
    with SessionReader(session) as reader:
        (upload,) = [e for e in reader.exchanges() if e.request and e.request.target == b"/upload"]
        assert upload.request is not None and upload.request.body_len == UPLOAD


def test_an_exchange_recorded_after_its_close_still_names_its_peer(start_serve) -> None:
    """The app answers before the body comes and the client leaves: its exchange is
    recorded after the close, and its JSON line had `"peer": null`."""
    server = start_serve("wsgi", "wsgi_cases:cases", "--app-dir", str(APPS), "--no-record")
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"POST /fast HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nab")
        answer = b""
        while not answer.endswith(b"fast"):
            answer += sock.recv(4096)
        host, port = sock.getsockname()[:2]
        local = f"{host}:{port}"
    events = server.events(lambda e: e["event"] == "exchange")
    opened = next(e for e in events if e["event"] == "open")
    assert opened["peer"] == local
    assert events[-1]["peer"] == local and events[-1]["status"] == 200
