"""`netbench serve KIND` through the real CLI process, driven by real clients.

Every test starts `python -m netbench serve ... --port 0 --json` (see
tests/conftest.py), talks to it on 127.0.0.1 with the standard library (or
curl), and asserts what a user would see: the bytes on the wire, the JSON
lines, the exit code and the session file.
"""

from __future__ import annotations

import datetime
import functools
import http.client
import http.server
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from netbench.model import Direction, EndReason, Transport
from netbench.protocol.images import describe_image, is_complete_jpeg
from netbench.store import SessionReader

IO_TIMEOUT = 5.0
"""Seconds any single socket operation may take before the test fails."""


def recv_until_eof(sock: socket.socket, bufsize: int = 4096) -> bytes:
    """Everything the peer sends until it closes (each recv bounded by IO_TIMEOUT)."""
    sock.settimeout(IO_TIMEOUT)
    data = bytearray()
    while chunk := sock.recv(bufsize):
        data += chunk
    return bytes(data)


def recv_exactly(sock: socket.socket, size: int, bufsize: int) -> bytes:
    """Read `size` bytes in recv(bufsize) pieces, as seed 001's client loop does."""
    sock.settimeout(IO_TIMEOUT)
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(bufsize)
        assert chunk, f"EOF after {len(data)} of {size} bytes"
        assert len(chunk) <= bufsize
        data += chunk
    return bytes(data)


def connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=IO_TIMEOUT)


# -- one real client per kind ----------------------------------------------------------


def client_reply(address: tuple[str, int], root: Path) -> None:
    """Seed 000: ask, get exactly b"Yes", then EOF."""
    with connect(address) as sock:
        sock.sendall(b"can you hear me?")
        assert recv_until_eof(sock) == b"Yes"


def client_echo(address: tuple[str, int], root: Path) -> None:
    """Seed 001: send b"Hello", read it back in recv(10) pieces; then a longer one."""
    with connect(address) as sock:
        sock.sendall(b"Hello")
        assert recv_exactly(sock, 5, 10) == b"Hello"
        longer = bytes(range(32, 127)) * 3
        sock.sendall(longer)
        assert recv_exactly(sock, len(longer), 10) == longer
        sock.shutdown(socket.SHUT_WR)
        assert recv_until_eof(sock) == b"", "echo must close after the client's FIN"


def client_prefix_echo(address: tuple[str, int], root: Path) -> None:
    """Seed 002: one chunk in, b"Echo=>" + chunk out, then EOF."""
    with connect(address) as sock:
        sock.sendall(b"Hello,Server")
        assert recv_until_eof(sock) == b"Echo=>Hello,Server"


def client_time(address: tuple[str, int], root: Path) -> None:
    """Connect, read one CRLF-terminated date line, then EOF."""
    with connect(address) as sock:
        data = recv_until_eof(sock)
    match = re.fullmatch(rb"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) .*\r\n", data)
    assert match, data
    stamp = datetime.datetime.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S")
    assert abs((stamp - datetime.datetime.now()).total_seconds()) < 60


def client_udp_echo(address: tuple[str, int], root: Path) -> None:
    """Datagrams come back whole, one for one, including an empty-ish binary one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(IO_TIMEOUT)
        for datagram in (b"ping", b"\x00\xff" * 700):
            sock.sendto(datagram, address)
            data, sender = sock.recvfrom(65535)
            assert data == datagram
            assert sender == address


def client_http(address: tuple[str, int], root: Path) -> None:
    """The seed page and its picture, on one keep-alive connection; then curl."""
    conn = http.client.HTTPConnection(*address, timeout=IO_TIMEOUT)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        page = response.read()
        assert response.status == 200
        assert b"Wow, Python Server" in page
        assert response.getheader("Content-Length") == str(len(page))
        conn.request("GET", "/test.jpg")
        response = conn.getresponse()
        image = response.read()
        assert response.status == 200
        assert response.getheader("Content-Type") == "image/jpeg"
        assert is_complete_jpeg(image)
    finally:
        conn.close()
    curl_get(f"http://{address[0]}:{address[1]}/", b"Wow, Python Server")


def client_static(address: tuple[str, int], root: Path) -> None:
    """A file under --root comes back byte for byte; the listing names it."""
    conn = http.client.HTTPConnection(*address, timeout=IO_TIMEOUT)
    try:
        conn.request("GET", "/hello.txt")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == STATIC_TEXT
        assert (response.getheader("Content-Type") or "").startswith("text/plain")
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert b"hello.txt" in response.read()
    finally:
        conn.close()
    curl_get(f"http://{address[0]}:{address[1]}/hello.txt", STATIC_TEXT)


STATIC_TEXT = b"hello from the static root\n"
APPS = Path(__file__).resolve().parents[1] / "apps"


def client_wsgi(address: tuple[str, int], root: Path) -> None:
    """Seed 004's test.py (no MODULE:APP given): Hello World, to http.client and curl."""
    conn = http.client.HTTPConnection(*address, timeout=IO_TIMEOUT)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"Hello World")
    finally:
        conn.close()
    curl_get(f"http://{address[0]}:{address[1]}/", b"Hello World")


def client_asgi(address: tuple[str, int], root: Path) -> None:
    """tests/apps/starlette_site.py: its lifespan's greeting."""
    curl_get(f"http://{address[0]}:{address[1]}/", b"started by the lifespan")


def client_proxy(address: tuple[str, int], root: Path) -> None:
    """The forward proxy (no --upstream): `curl -x` to a loopback web server."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as origin:
        thread = threading.Thread(target=origin.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{origin.server_address[1]}/hello.txt"
            curl_get(url, STATIC_TEXT, proxy=f"http://{address[0]}:{address[1]}")
        finally:
            origin.shutdown()


def curl_get(url: str, expected: bytes, *, proxy: str = "") -> None:
    """`curl -i URL` shows a 200 status line and `expected` in the body."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed: the curl half of this test cannot run")
    result = subprocess.run(
        [
            curl,
            "--silent",
            "--show-error",
            "--include",
            "--max-time",
            "10",
            *(("--proxy", proxy) if proxy else ()),
            url,
        ],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    assert expected in body


KINDS: list[tuple[str, Callable[[tuple[str, int], Path], None], Transport]] = [
    ("reply", client_reply, Transport.TCP),
    ("echo", client_echo, Transport.TCP),
    ("prefix-echo", client_prefix_echo, Transport.TCP),
    ("time", client_time, Transport.TCP),
    ("udp-echo", client_udp_echo, Transport.UDP),
    ("http", client_http, Transport.TCP),
    ("static", client_static, Transport.TCP),
    ("wsgi", client_wsgi, Transport.TCP),
    ("asgi", client_asgi, Transport.TCP),
    ("proxy", client_proxy, Transport.TCP),
]


def test_every_kind_is_covered() -> None:
    from netbench.engine import registry

    assert sorted(kind for kind, _client, _transport in KINDS) == sorted(registry.names())


@pytest.mark.parametrize(
    ("kind", "client", "transport"), KINDS, ids=[kind for kind, _c, _t in KINDS]
)
def test_kind_answers_a_real_client_and_records_it(
    kind: str,
    client: Callable[[tuple[str, int], Path], None],
    transport: Transport,
    start_serve,
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_bytes(STATIC_TEXT)
    extra = {
        "static": ("--root", str(root)),
        "asgi": ("starlette_site:app", "--app-dir", str(APPS)),
    }.get(kind, ())
    server = start_serve(kind, *extra)
    assert server.host == "127.0.0.1"
    assert server.port > 0
    scheme = "http" if kind in ("http", "static", "wsgi", "asgi", "proxy") else transport.value
    expected_url = f"{scheme}://127.0.0.1:{server.port}" + ("/" if scheme == "http" else "")
    assert server.url == expected_url

    client(server.address, root)

    assert server.stop() == 0
    assert server.session is not None
    with SessionReader(server.session) as reader:
        servers = reader.servers()
        assert [(s.kind, s.transport, s.address.port) for s in servers] == [
            (kind, transport, server.port)
        ]
        assert servers[0].stopped is not None
        connections = reader.connections()
        assert connections, "the session holds no connection"
        for conn in connections:
            assert conn.transport is transport
            assert conn.closed is not None, f"connection {conn.id} never closed in the record"
            assert conn.end_reason is not None
        assert sum(c.bytes_out for c in connections) > 0
        if kind == "proxy":  # the upstream leg names the client's connection
            links = [(c.role.value, c.via_conn_id) for c in connections]
            assert links == [("server", None), ("client", connections[0].id)]


@pytest.mark.parametrize(
    ("options", "received"),
    [
        pytest.param((), b"", id="as-seed-002"),
        pytest.param(("--timeout-message", "Time Out\r\n"), b"Time Out\r\n", id="message"),
    ],
)
def test_prefix_echo_closes_an_idle_client(
    start_serve, options: tuple[str, ...], received: bytes
) -> None:
    """Seed 002 prints 'Time Out' on the server and closes; the option sends a message."""
    server = start_serve("prefix-echo", "--idle-timeout", "0.3", *options)
    started = time.monotonic()
    with connect(server.address) as sock:
        data = recv_until_eof(sock)
    waited = time.monotonic() - started
    assert 0.25 <= waited < IO_TIMEOUT
    assert data == received
    close = server.events(lambda e: e["event"] == "close")[-1]
    assert close["reason"] == EndReason.TIMEOUT.value
    assert close["detail"] == "Time Out: nothing received in 0.3 s"
    assert server.stop() == 0


def test_json_lines_of_an_http_exchange_have_the_stable_keys(start_serve) -> None:
    server = start_serve("http")
    conn = http.client.HTTPConnection(*server.address, timeout=IO_TIMEOUT)
    try:
        conn.request("GET", "/?q=1")
        response = conn.getresponse()
        body = response.read()
        client_port = conn.sock.getsockname()[1]
    finally:
        conn.close()
    events = server.events(lambda e: e["event"] == "exchange")
    opened = next(e for e in events if e["event"] == "open")
    exchange = events[-1]
    stable = {"event", "conn", "ts", "peer", "method", "path", "status", "bytes_in", "bytes_out"}
    assert stable <= exchange.keys()
    assert exchange["conn"] == opened["conn"]
    assert exchange["peer"] == opened["peer"] == f"127.0.0.1:{client_port}"
    assert (exchange["method"], exchange["path"], exchange["status"]) == ("GET", "/?q=1", 200)
    assert (exchange["bytes_in"], exchange["bytes_out"]) == (0, len(body))
    assert isinstance(exchange["ts"], float)
    assert abs(exchange["ts"] - time.time()) < 60
    close = server.events(lambda e: e["event"] == "close")[-1]
    assert close["conn"] == opened["conn"]
    assert {"conn", "ts", "peer", "reason", "bytes_in", "bytes_out"} <= close.keys()
    assert close["bytes_out"] > len(body)  # the head counts on the connection
    assert server.stop() == 0


def test_sigint_exits_0_and_the_session_holds_every_connection(start_serve) -> None:
    server = start_serve("echo")
    finished = connect(server.address)
    finished.sendall(b"first")
    assert recv_exactly(finished, 5, 10) == b"first"
    finished.close()
    server.events(lambda e: e["event"] == "close")
    still_open = connect(server.address)
    still_open.sendall(b"second")
    assert recv_exactly(still_open, 6, 10) == b"second"
    try:
        assert server.stop() == 0
        # The server closed the open connection as it stopped: the client sees EOF.
        assert recv_until_eof(still_open) == b""
    finally:
        still_open.close()
    server.drain()
    closes = [e for e in server.seen if e["event"] == "close"]
    assert {e["reason"] for e in closes} == {EndReason.FIN_PEER.value, EndReason.STOPPED.value}
    assert server.session is not None
    with SessionReader(server.session) as reader:
        connections = reader.connections()
        assert [(c.bytes_in, c.bytes_out) for c in connections] == [(5, 5), (6, 6)]
        assert [c.end_reason for c in connections] == [EndReason.FIN_PEER, EndReason.STOPPED]
        assert reader.servers()[0].stopped is not None


@pytest.mark.parametrize(
    ("kind", "sock_type"), [("echo", socket.SOCK_STREAM), ("udp-echo", socket.SOCK_DGRAM)]
)
def test_port_in_use_exits_1_with_one_clean_line(kind: str, sock_type: int) -> None:
    with socket.socket(socket.AF_INET, sock_type) as taken:
        taken.bind(("127.0.0.1", 0))
        if sock_type == socket.SOCK_STREAM:
            taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "netbench", "serve", kind, "--port", str(port), "--json"],
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("netbench: error:")
    assert str(port) in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "nope"],
        ["serve", "echo", "--port", "70000"],
        ["serve", "echo", "--port", "-1"],
        ["serve", "echo", "--port", "eighty"],
        ["serve", "echo", "--idle-timeout", "-1"],
        ["serve", "echo", "--recv-size", "0"],
        ["serve"],
    ],
    ids=lambda args: " ".join(args),
)
def test_bad_usage_exits_2(args: list[str], run_netbench) -> None:
    result = run_netbench(*args)
    assert result.returncode == 2, result
    assert "error" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


NOT_FOR_THE_KIND = [
    (["wsgi", "app:app", "--upstream", "24001"], "--upstream applies to proxy only"),
    (["asgi", "main:app", "--threads", "4"], "--threads applies to wsgi only"),
    (["proxy", "--threads", "3"], "--threads applies to wsgi only"),
    (["http", "--app-dir", "."], "--app-dir applies to wsgi and asgi only"),
    (["http", "--text", "foo"], "--text applies to reply only"),
    (["proxy", "--upstream", "1", "--app-dir", "."], "--app-dir applies to wsgi and asgi only"),
    (["echo", "--close"], "--close applies to http, static, wsgi, asgi and proxy only"),
    (
        ["echo", "--max-body", "5"],
        "--max-body applies to http, static, wsgi, asgi and proxy only",
    ),
    (["udp-echo", "--max-connections", "3"], "--max-connections does not apply to udp-echo"),
    (["time", "--idle-timeout", "3"], "--idle-timeout does not apply to time"),
]
"""(`serve` arguments, the error): an option given to a kind that does not take it."""


@pytest.mark.parametrize(
    ("args", "error"), NOT_FOR_THE_KIND, ids=[" ".join(a) for a, _ in NOT_FOR_THE_KIND]
)
def test_an_option_the_kind_does_not_take_is_a_usage_error(
    args: list[str], error: str, run_netbench
) -> None:
    """Silently ignored before: `serve wsgi --upstream X` started a plain app server."""
    result = run_netbench("serve", *args, "--port", "0", "--no-record", timeout=10)
    assert result.returncode == 2, result
    assert result.stderr.splitlines() == [
        "usage: netbench serve [-h] [options] KIND",
        f"netbench serve: error: {error}",
    ]
    assert result.stdout == ""


def test_options_the_kind_takes_are_accepted(start_serve) -> None:
    """The check counts options given, not their defaults, and lets each kind's own through."""
    for args in (["wsgi", "--threads", "2", "--close"], ["proxy", "--close", "--max-body", "9"]):
        server = start_serve(*args)  # fails the test unless it prints its listening line
        assert server.port > 0
        assert server.stop() == 0


def test_proxy_takes_close_and_the_limits(start_serve) -> None:
    """As docs/cli.md and `serve -h` say: --close and --max-body apply to the proxy too."""
    app = start_serve("wsgi", "--no-record", "--no-capture")
    proxy = start_serve(
        "proxy", "--upstream", str(app.port), "--close", "--max-body", "5", "--no-capture"
    )
    with socket.create_connection(proxy.address, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")  # keep-alive asked
        answer = b""
        while chunk := sock.recv(4096):  # ends: the proxy closes after the response
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"Hello World")
    assert b"\r\nConnection: close\r\n" in answer
    with socket.create_connection(proxy.address, timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("recv_size", [None, "7"], ids=["default-recv", "recv-size-7"])
def test_echo_records_every_byte_exactly(recv_size: str | None, start_serve) -> None:
    rng = random.Random(20240509)
    sent = b"\x00\xff\xfe GET \x1b[31m\r\n" + rng.randbytes(3000)
    cuts = sorted(rng.sample(range(1, len(sent)), 5))
    pieces = [sent[a:b] for a, b in zip([0, *cuts], [*cuts, len(sent)], strict=True)]
    server = start_serve("echo", *(("--recv-size", recv_size) if recv_size else ()))
    with connect(server.address) as sock:
        for piece in pieces:
            sock.sendall(piece)
        assert recv_exactly(sock, len(sent), 4096) == sent
        conn_id = server.events(lambda e: e["event"] == "open")[-1]["conn"]
    server.events(lambda e: e["event"] == "close")
    assert server.stop() == 0
    assert server.session is not None
    with SessionReader(server.session) as reader:
        chunks = list(reader.chunks(conn_id))
        connection = reader.connection(conn_id)
    ins = [c for c in chunks if c.direction is Direction.IN]
    outs = [c for c in chunks if c.direction is Direction.OUT]
    assert b"".join(c.data for c in ins) == sent
    assert [c.data for c in outs] == [c.data for c in ins]
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    if recv_size is not None:
        assert max(len(c.data) for c in ins) <= int(recv_size)
        assert len(ins) >= len(sent) // int(recv_size)
    offset = 0
    for chunk in ins:
        assert chunk.offset == offset
        offset += len(chunk.data)
    assert connection is not None
    assert (connection.bytes_in, connection.bytes_out) == (len(sent), len(sent))


def test_http_picture_is_recorded_whole(start_serve) -> None:
    server = start_serve("http")
    conn = http.client.HTTPConnection(*server.address, timeout=IO_TIMEOUT)
    try:
        conn.request("GET", "/test.jpg")
        image = conn.getresponse().read()
    finally:
        conn.close()
    server.events(lambda e: e["event"] == "exchange")
    assert server.stop() == 0
    assert server.session is not None
    with SessionReader(server.session) as reader:
        (exchange,) = reader.exchanges()
    assert exchange.response is not None
    assert exchange.response.body == image
    info = describe_image(image)
    assert info is not None
    assert info.mime == "image/jpeg"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["static", "--root", "{tmp}/no-such-dir"], "is not a directory"),
        (["echo", "--session", "{tmp}/plain.txt"], "is not a netbench session"),
        (["echo", "--session", "{tmp}"], "it is a directory"),
        (["echo", "--host", "nosuchhost.invalid"], "unknown host"),
    ],
    ids=["static-root", "not-a-session", "session-is-dir", "unknown-host"],
)
def test_runtime_failures_exit_1_with_one_clean_line(
    args: list[str], says: str, run_netbench, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"not sqlite\n")
    argv = [arg.format(tmp=tmp_path) for arg in args]
    result = run_netbench("serve", *argv, "--port", "0", "--json")
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("netbench: error:")
    assert says in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert plain.read_bytes() == b"not sqlite\n", "a foreign file was modified"


def test_sigterm_stops_cleanly_too(start_serve) -> None:
    server = start_serve("reply")
    with connect(server.address) as sock:
        sock.sendall(b"hi")
        assert recv_until_eof(sock) == b"Yes"
    server.events(lambda e: e["event"] == "close")
    server.popen.terminate()
    assert server.popen.wait(10) == 0
    assert [e["event"] for e in server.drain()] == ["stopped"]
    assert server.session is not None
    with SessionReader(server.session) as reader:
        assert len(reader.connections()) == 1
        assert reader.servers()[0].stopped is not None


def test_a_forward_proxy_reaching_beyond_loopback_says_so(start_serve) -> None:
    server = start_serve("proxy", "--allow-remote")
    warning = server.wait_for(lambda event: event.get("event") == "warning")
    assert warning is not None and warning["detail"] == "allow-remote"
    assert server.stop() == 0
