"""`netbench serve proxy` as a user runs it: in front of serve wsgi, 100 MB each way, the record."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from netbench.cli.printer import EventPrinter
from netbench.engine.kinds.proxy import parse_upstream
from netbench.events import (
    ConnectionClosed,
    ConnectionOpened,
    HttpRequestRecorded,
    HttpResponseRecorded,
)
from netbench.model import Endpoint, EndReason, HttpRequest, HttpResponse, Role, Transport
from netbench.store import SessionReader

APPS = Path(__file__).resolve().parents[1] / "apps"
BODY = 100 * 1000 * 1000
"""100 MB, under the default --max-body of 100 MiB."""


def get_closing(address: tuple[str, int]) -> bytes:
    """`GET /` with `Connection: close`: everything the server sent until it closed."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/PID/status")


def test_100_mb_each_way_through_the_proxy_in_bounded_memory(start_serve, tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc")
    app = start_serve(
        "wsgi", "wsgi_cases:cases", "--app-dir", str(APPS), "--no-capture", "--no-record"
    )
    session = tmp_path / "proxy.netbench.sqlite"
    proxy = start_serve(
        "proxy", "--upstream", f"127.0.0.1:{app.port}", "--no-capture", "--session", str(session)
    )
    piece = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    digest = hashlib.sha256()
    with socket.create_connection(proxy.address, timeout=30) as sock:
        sock.sendall(b"GET /fast HTTP/1.1\r\nHost: localhost\r\n\r\n")  # warm up
        assert sock.recv(4096).endswith(b"fast")
        before = _peak_rss_kb(proxy.popen.pid)
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\n")
        sock.sendall(b"Content-Length: %d\r\n\r\n" % BODY)
        sent = 0
        while sent < BODY:
            part = piece[: BODY - sent]
            sock.sendall(part)
            digest.update(part)
            sent += len(part)
        reply = b""
        while not reply.endswith(digest.hexdigest().encode()):
            chunk = sock.recv(65536)
            assert chunk, reply[-200:]
            reply += chunk
        assert reply.endswith(f"{BODY} {digest.hexdigest()}".encode())
    with socket.create_connection(proxy.address, timeout=30) as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = 0
        while received < BODY:
            chunk = sock.recv(1 << 20)
            assert chunk
            received += len(chunk)
    grew_mb = (_peak_rss_kb(proxy.popen.pid) - before) / 1024
    # Streamed, not held: well under one body (100 MB), let alone both legs' 400 MB.
    # The rest is the recorder's batches of both legs in flight (40-43 MB seen on CI).
    assert grew_mb < 64, f"the proxy's peak memory grew {grew_mb:.0f} MB passing 100 MB each way"
    assert proxy.stop() == 0
    with SessionReader(session) as reader:
        uploads = [e for e in reader.exchanges() if e.request and e.request.target == b"/upload"]
        assert [e.request.body_len for e in uploads if e.request] == [BODY, BODY]  # both legs
        links = {c.id: c.via_conn_id for c in reader.connections()}
        assert links[uploads[1].conn_id] == uploads[0].conn_id


def test_session_show_lists_each_upstream_leg_with_the_connection_it_serves(
    start_serve, tmp_path: Path
) -> None:
    app = start_serve("wsgi", "--no-capture", "--no-record")
    session = tmp_path / "seed004.netbench.sqlite"
    proxy = start_serve(
        "proxy", "--upstream", f"127.0.0.1:{app.port}", "--no-capture", "--session", str(session)
    )
    reply = get_closing(proxy.address)
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"Hello World")
    assert proxy.stop() == 0
    shown = subprocess.run(
        [sys.executable, "-m", "netbench", "session", "show", str(session)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    table = shown[shown.index("\nconnections\n") + 1 :].splitlines()
    assert "VIA" in table[1]
    client = next(line for line in table if " server " in line)
    leg = next(line for line in table if " client " in line)
    assert client.split()[0] == "1" and "#1" in leg.split()
    assert "GET /" in client and "GET /" in leg
    # The leg's line reads from the proxy to the app, who connected first.
    assert f"-> 127.0.0.1:{app.port}" in leg
    one = subprocess.run(
        [sys.executable, "-m", "netbench", "session", "show", str(session), "--conn", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert one.splitlines()[0].endswith(f"-> 127.0.0.1:{app.port}  (for #1)")
    # In HAR the upstream leg's entry names the client connection it served.
    har = json.loads(
        subprocess.run(
            [sys.executable, "-m", "netbench", "session", "export", str(session), "--har", "-"],
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
    )
    entries = {entry["connection"]: entry for entry in har["log"]["entries"]}
    assert set(entries) == {"1", "2"}
    assert entries["2"]["_via"] == "1" and "_via" not in entries["1"]


def test_the_json_open_of_an_upstream_leg_names_the_connection_it_serves(start_serve) -> None:
    app = start_serve("wsgi", "--no-capture", "--no-record")
    proxy = start_serve("proxy", "--upstream", f"127.0.0.1:{app.port}", "--no-capture")
    get_closing(proxy.address)
    events = proxy.events(lambda e: e["event"] == "open" and e["role"] == "client")
    client = next(e for e in events if e["event"] == "open" and e["role"] == "server")
    leg = events[-1]
    assert leg["via"] == client["conn"] and "via" not in client
    assert leg["local"].startswith("127.0.0.1:") and leg["peer"] == f"127.0.0.1:{app.port}"


@pytest.mark.parametrize(
    ("typed", "upstream"),
    [
        ("8001", "127.0.0.1:8001"),
        ("127.0.0.1:8001", "127.0.0.1:8001"),
        ("[::1]:8001", "::1:8001"),
        ("http://127.0.0.1:24001", "127.0.0.1:24001"),  # as nginx's proxy_pass
        ("http://127.0.0.1:24001/", "127.0.0.1:24001"),
        ("HTTP://localhost", "localhost:80"),
        ("http://[::1]:8001/", "::1:8001"),
    ],
)
def test_the_upstream_is_host_port_or_an_nginx_style_http_url(typed: str, upstream: str) -> None:
    assert parse_upstream(typed) == upstream


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("https://127.0.0.1:8443", "not https:// (the proxy speaks plain HTTP to its upstream)"),
        ("http://127.0.0.1:8001/api", "without a path (each request's own path is sent "),
        ("http://127.0.0.1:8001?x=1", "try 127.0.0.1:8001"),
        ("http://", "'http://' is not HOST:PORT"),
        ("127.0.0.1", "'127.0.0.1' is not HOST:PORT"),
        ("http://127.0.0.1:99999", "is not HOST:PORT"),
    ],
)
def test_an_upstream_the_proxy_cannot_reach_is_a_usage_error_of_one_line(
    typed: str, says: str, run_netbench
) -> None:
    result = run_netbench("serve", "proxy", "--upstream", typed, "--port", "0", "--no-record")
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert lines[0].startswith("usage: netbench serve ") and len(lines) == 2, result.stderr
    assert lines[1].startswith("netbench serve: error: argument --upstream: ")
    assert says in lines[1]


def test_an_upstream_given_as_an_http_url_is_forwarded_to(start_serve) -> None:
    app = start_serve("wsgi", "--no-capture", "--no-record")
    proxy = start_serve(
        "proxy", "--upstream", f"http://127.0.0.1:{app.port}/", "--no-capture", "--no-record"
    )
    reply = get_closing(proxy.address)
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"Hello World")


def test_allow_remote_with_an_upstream_is_a_usage_error_naming_what_it_is_for(
    run_netbench,
) -> None:
    result = run_netbench(
        "serve", "proxy", "--upstream", "127.0.0.1:8001", "--allow-remote", "--port", "0",
        "--no-record",
    )  # fmt: skip
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert lines[0].startswith("usage: netbench serve ") and len(lines) == 2, result.stderr
    assert "--allow-remote is for the forward proxy (without --upstream)" in lines[1]
    assert "forwards to any host" not in result.stdout + result.stderr


def _resetting_upstream() -> tuple[socket.socket, threading.Thread]:
    """An upstream that reads one request and resets the connection (RST)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_an_upstream_reset_prints_one_line_per_exchange(start_serve) -> None:
    listener, thread = _resetting_upstream()
    with listener:
        upstream = f"127.0.0.1:{listener.getsockname()[1]}"
        proxy = start_serve("proxy", "--upstream", upstream, "--no-capture", "--no-record")
        reply = get_closing(proxy.address)
        thread.join(5)
    assert reply.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert proxy.stop() == 0
    seen = proxy.drain()
    leg = next(e["conn"] for e in seen if e["event"] == "open" and "via" in e)
    lines = [e for e in seen if e["event"] == "exchange" and e["conn"] == leg]
    assert len(lines) == 1, lines  # the session holds one exchange: one line
    assert lines[0]["method"] == "GET" and lines[0]["status"] is None
    assert lines[0]["error"] == "the upstream reset the connection before a response: 502 sent"


def test_the_human_line_of_a_leg_reset_before_answering_says_no_response_once() -> None:
    """The events in the order the engine publishes them for a reset upstream leg:
    its request, its close (the reset), then the proxy's record of what came."""
    out = io.StringIO()
    printer = EventPrinter(out=out)
    here, there = Endpoint("127.0.0.1", 40000), Endpoint("127.0.0.1", 8001)
    printer(ConnectionOpened(2, None, Role.CLIENT, Transport.TCP, here, there, 0.0, via=1))
    request = HttpRequest(b"GET", b"/", "1.1", (), b"", 0)
    printer(HttpRequestRecorded(3, 2, 0, request, 0, 0, 0.0, 0.001))
    printer(ConnectionClosed(2, EndReason.RST_PEER, 0.002, 0, 60, None))
    error = "the upstream reset the connection before a response: 502 sent"
    response = HttpResponse(None, b"", "", (), b"", 0, error=error)
    printer(HttpResponseRecorded(3, 2, response, -1, -1, 0.0, 0.003))
    exchanges = [line for line in out.getvalue().splitlines() if " -> " in line and "GET" in line]
    assert len(exchanges) == 1, out.getvalue()
    assert f"#2 GET / -> no response (body 0 B in, 0 B out, 3 ms) [{error}]" in exchanges[0]
