"""Copy-as against a real server: each exported command, run, sends the recorded bytes.

A `netbench serve http` child records a set of requests sent from a raw
socket (hostile header values, whitespace, Content-Length after
Content-Type, binary and 1 MiB bodies, chunked, HTTP/1.0, LF-only lines,
a NUL byte). `netbench session export --FORMAT --exchange N` then prints a
command for each; the command runs in `sh` (or Python), the same server
records what it received, and the new request's bytes, read back from the
session's chunks, are compared byte for byte with the original's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netbench.protocol.textsafe import visible_text
from netbench.protocol.wire_request import split_request
from netbench.store import SessionReader
from netbench.store.exchange_bytes import request_bytes

BIG = bytes(range(256)) * 4096  # 1 MiB, every byte value
BINARY = bytes(range(256)) + b"\r\n\x00'\"$`\\%"
HOSTILE = b'\x1b]0;pwned\x07 $HOME "it\'s" `touch pwned` $(touch pwned) \\ %s %d'

REQUESTS: dict[str, bytes] = {
    "curl-get": b"GET /search?q=caf%C3%A9&n=1 HTTP/1.1\r\nHost: {host}\r\n"
    b"User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    "hostile-headers": b"GET /h HTTP/1.1\r\nHost: {host}\r\nX-Evil: " + HOSTILE + b"\r\n"
    b"X-Quote: 'single' \"double\"\r\nX-Latin1: caf\xe9\r\nX-Utf8: caf\xc3\xa9\r\n\r\n",
    "length-after-type": b"POST /form HTTP/1.1\r\nHost: {host}\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 22\r\n"
    b"Accept: text/html\r\n\r\nfirstname=Ann&last=O'B",
    "whitespace": b"GET /ws HTTP/1.1\r\nHost:  {host}\r\nX-Padded:   three and two  \r\n"
    b"x-lower:nospace\r\nX-Empty:\r\nX-Tab:\tv\r\n\r\n",
    "binary-put": b"PUT /upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Length: " + str(len(BINARY)).encode() + b"\r\n\r\n" + BINARY,
    "big-body": b"POST /big HTTP/1.1\r\nHost: {host}\r\nContent-Length: "
    + str(len(BIG)).encode()
    + b"\r\nContent-Type: application/octet-stream\r\n\r\n"
    + BIG,
    "http10": b"GET /old HTTP/1.0\r\nUser-Agent: seeds/1.0\r\n\r\n",
    "chunked": b"POST /chunks HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: text/plain\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
    "lf-only": b"GET /lf HTTP/1.1\nHost: {host}\nX-A: b\n\n",
    "nul-header": b"GET /nul HTTP/1.1\r\nHost: {host}\r\nX-Nul: a\x00b\r\n\r\n",
}

EXACT: dict[str, set[str]] = {
    "curl": {
        "curl-get",
        "hostile-headers",
        "length-after-type",
        "whitespace",
        "binary-put",
        "big-body",
        "http10",
    },
    "python": set(REQUESTS),
    "nc": set(REQUESTS),
}
"""format -> the requests its command must send byte for byte."""

HTTPIE_FIELDS = {"curl-get", "length-after-type", "binary-put", "big-body"}
"""Requests HTTPie must send with the same request line, header fields and body."""

VENV_BIN = str(Path(sys.executable).parent)
NO_PROXY = {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}


class Recorded:
    """The server, its session, and the recorded originals by name."""

    def __init__(self, server, session: Path) -> None:  # type: ignore[no-untyped-def]
        self.server = server
        self.session = session
        self.host = f"127.0.0.1:{server.port}".encode()
        self.exchange_ids: dict[str, int] = {}
        self.originals: dict[str, bytes] = {}

    def send_raw(self, data: bytes) -> None:
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass

    def connections(self) -> set[int]:
        with SessionReader(self.session) as reader:
            return {conn.id for conn in reader.connections()}

    def new_request(self, known: set[int], timeout: float = 10.0) -> tuple[int, bytes]:
        """The first exchange on a connection not in `known` (waits for the writer)."""
        deadline = time.monotonic() + timeout
        while True:
            with SessionReader(self.session) as reader:
                for conn in reader.connections():
                    if conn.id in known:
                        continue
                    for exchange in reader.exchanges(conn.id, include_bodies=False):
                        if exchange.request is not None and conn.closed is not None:
                            return exchange.id, request_bytes(reader, conn, exchange)
            if time.monotonic() > deadline:
                pytest.fail("the server recorded no new request")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def recorded(start_module_serve, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    session = tmp_path_factory.mktemp("copy-as") / "copy-as.netbench.sqlite"
    server = start_module_serve("http", "--close", "--any-host", "--session", str(session))
    found = Recorded(server, session)
    for name, template in REQUESTS.items():
        data = template.replace(b"{host}", found.host)
        known = found.connections()
        found.send_raw(data)
        found.exchange_ids[name], found.originals[name] = found.new_request(known)
        assert found.originals[name] == data, name  # the recording holds the bytes as sent
    return found


def export(recorded: Recorded, kind: str, name: str, bodies: Path) -> str:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "netbench", "session", "export", str(recorded.session)),
            *(f"--{kind}", "--exchange", str(recorded.exchange_ids[name]), "--bodies", str(bodies)),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    command = result.stdout
    assert visible_text(command, keep_newlines=True).replace("␊\n", "\n") == command
    return command


def run_command(kind: str, command: str, where: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in NO_PROXY}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    argv = [sys.executable, "-c", command] if kind == "python" else ["sh", "-c", command]
    result = subprocess.run(
        argv, cwd=where, env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0 or kind == "nc", result.stderr[-2000:]


def _skip_without(kind: str) -> None:
    if kind == "curl" and shutil.which("curl") is None:
        pytest.skip("needs curl")
    if kind == "nc" and shutil.which("nc") is None:
        pytest.skip("needs nc (Debian: apt-get install netcat-openbsd)")


CASES = [(kind, name) for kind, names in EXACT.items() for name in REQUESTS if name in names]


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_the_command_sends_the_recorded_bytes(
    recorded: Recorded, kind: str, name: str, tmp_path: Path
) -> None:
    _skip_without(kind)
    command = export(recorded, kind, name, tmp_path / "bodies")
    known = recorded.connections()
    run_command(kind, command, tmp_path)
    _exchange, sent = recorded.new_request(known)
    assert sent == recorded.originals[name]
    assert not (tmp_path / "pwned").exists()


def _fields(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    wire = split_request(data)
    request_line = data.split(b"\r\n", 1)[0]
    headers = sorted(name.lower() + b": " + value.strip() for name, value in wire.headers)
    return request_line, headers, wire.body


@pytest.mark.parametrize("name", sorted(HTTPIE_FIELDS))
def test_the_httpie_command_sends_the_same_fields(
    recorded: Recorded, name: str, tmp_path: Path
) -> None:
    if shutil.which("http", path=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}") is None:
        pytest.skip("HTTPie is not installed (it is in netbench's test extras: pip install httpie)")
    command = export(recorded, "httpie", name, tmp_path / "bodies")
    known = recorded.connections()
    run_command("httpie", command, tmp_path)
    _exchange, sent = recorded.new_request(known)
    assert _fields(sent) == _fields(recorded.originals[name])


def test_a_big_body_is_written_beside_not_inlined(recorded: Recorded, tmp_path: Path) -> None:
    command = export(recorded, "curl", "big-body", tmp_path / "bodies")
    body_file = tmp_path / "bodies" / f"exchange-{recorded.exchange_ids['big-body']}.body"
    assert f"--data-binary @{body_file}" in command
    assert len(command) < 1000
    assert body_file.read_bytes() == BIG


def test_replay_sends_the_recorded_bytes_and_records_the_new_exchange(
    recorded: Recorded, tmp_path: Path
) -> None:
    replayed = tmp_path / "replayed.netbench.sqlite"
    for name in ("length-after-type", "whitespace", "lf-only", "big-body"):
        known = recorded.connections()
        result = subprocess.run(
            [
                *(sys.executable, "-m", "netbench", "session", "replay", str(recorded.session)),
                *(str(recorded.exchange_ids[name]), "--session", str(replayed)),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("HTTP/1.1 ")
        # The server received the recorded bytes...
        _exchange, received = recorded.new_request(known)
        assert received == recorded.originals[name], name
        # ...and the replay's own session holds the new exchange, with the same bytes sent.
        new_id = int(result.stderr.split("the new exchange is ", 1)[1].split()[0])
        with SessionReader(replayed) as reader:
            exchange = next(e for e in reader.exchanges() if e.id == new_id)
            conn = reader.connection(exchange.conn_id)
            assert conn is not None
            assert conn.role.value == "client"
            assert request_bytes(reader, conn, exchange) == recorded.originals[name]
            assert exchange.response is not None


@pytest.fixture
def other_server() -> Iterator[tuple[int, list[bytes]]]:
    """A stdlib server for `--to`: reads one request head, answers 200, closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    received: list[bytes] = []
    import threading

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    break
                data += piece
            received.append(data)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], received
    listener.close()
    thread.join(10)


def test_replay_to_another_server(recorded: Recorded, other_server, run_netbench) -> None:  # type: ignore[no-untyped-def]
    port, received = other_server
    result = run_netbench(
        "session",
        "replay",
        str(recorded.session),
        str(recorded.exchange_ids["whitespace"]),
        "--to",
        f"127.0.0.1:{port}",
        "--no-record",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("HTTP/1.1 200 OK")
    assert received == [recorded.originals["whitespace"]]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["999"], 1, "no exchange 999"),
        (["1", "--to", "nowhere"], 2, "--to must be HOST:PORT"),
    ],
)
def test_replay_errors_are_one_line(  # type: ignore[no-untyped-def]
    recorded: Recorded, run_netbench, args: list[str], code: int, message: str
) -> None:
    result = run_netbench("session", "replay", str(recorded.session), *args, "--no-record")
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
