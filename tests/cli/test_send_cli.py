"""`netbench send tcp|http` through the real CLI, against real servers.

The servers are `netbench serve` children (tests/conftest.py) or, where the
test needs a server netbench would never be, a few lines of stdlib socket
code on a thread.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from netbench.model import EndReason
from netbench.store import SessionReader

IO_TIMEOUT = 5.0


@contextmanager
def one_shot_server(answer: bytes) -> Iterator[tuple[str, int]]:
    """A stdlib TCP server that reads once, sends `answer`, closes; for one client."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(IO_TIMEOUT)
    received: list[bytes] = []

    def serve() -> None:
        try:
            conn, _peer = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(IO_TIMEOUT)
            try:
                received.append(conn.recv(4096))
                conn.sendall(answer)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        listener.close()
        thread.join(IO_TIMEOUT)


@contextmanager
def silent_server() -> Iterator[tuple[str, int]]:
    """A stdlib TCP server that accepts and never answers (nor closes) until the test ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(IO_TIMEOUT)
    held: list[socket.socket] = []

    def accept() -> None:
        with suppress(OSError):  # the listener closed: the test is over
            held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        listener.close()
        thread.join(IO_TIMEOUT)
        for conn in held:
            conn.close()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("netbench: error:")]


def test_send_tcp_to_reply_prints_yes(start_serve, run_netbench) -> None:
    server = start_serve("reply")
    result = run_netbench("send", "tcp", f"127.0.0.1:{server.port}", "can you hear me?")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Yes\n"
    assert "Traceback" not in result.stderr
    exchange = server.events(lambda e: e["event"] == "close")[-1]
    assert (exchange["bytes_in"], exchange["bytes_out"]) == (len(b"can you hear me?"), 3)


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(("{addr}", "48 69", "--hex", "--half-close"), id="data-after-address"),
        pytest.param(("--hex", "--half-close", "{addr}", "48 69"), id="options-first"),
        pytest.param(("{addr}", "--hex", "48 69", "--half-close"), id="options-between"),
    ],
)
def test_send_tcp_hex_with_half_close_to_echo_prints_hi(
    order: tuple[str, ...], start_serve, run_netbench
) -> None:
    server = start_serve("echo")
    args = [arg.format(addr=f"127.0.0.1:{server.port}") for arg in order]
    result = run_netbench("send", "tcp", *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hi\n"
    # The FIN reached the echo server: it saw the peer close first.
    close = server.events(lambda e: e["event"] == "close")[-1]
    assert close["reason"] == EndReason.FIN_PEER.value
    assert (close["bytes_in"], close["bytes_out"]) == (2, 2)


def test_send_tcp_records_its_own_session(start_serve, run_netbench, tmp_path) -> None:
    server = start_serve("reply")
    session = tmp_path / "client.netbench.sqlite"
    result = run_netbench(
        "send", "tcp", f"127.0.0.1:{server.port}", "ping", "--session", str(session)
    )
    assert result.returncode == 0, result.stderr
    assert f"recorded to {session}" in result.stderr
    with SessionReader(session) as reader:
        (conn,) = reader.connections()
        data = {c.direction.value: c.data for c in reader.chunks(conn.id)}
    assert conn.role.value == "client"
    assert data == {"out": b"ping", "in": b"Yes"}


def test_control_bytes_in_a_reply_are_printed_escaped(run_netbench) -> None:
    with one_shot_server(b"\x1b]0;pwned\x07\r\n") as (host, port):
        result = run_netbench("send", "tcp", f"{host}:{port}", "hi", "--wait", "2")
    assert result.returncode == 0, result.stderr
    assert "␛]0;pwned␇␍␊" in result.stdout
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert "\r" not in result.stdout


def test_send_http_form_to_the_page_server(start_serve, run_netbench) -> None:
    server = start_serve("http")
    result = run_netbench("send", "http", f"http://127.0.0.1:{server.port}/", "-d", "firstname=Ann")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("HTTP/1.1 200 OK␍␊\n")
    assert "Content-Length: " in result.stdout
    assert "<p>Ann</p>" in result.stdout
    assert "\r" not in result.stdout
    exchange = server.events(lambda e: e["event"] == "exchange")[-1]
    assert (exchange["method"], exchange["path"], exchange["status"]) == ("POST", "/", 200)
    assert exchange["bytes_in"] == len("firstname=Ann")


def test_connection_refused_exits_1_with_one_error_line(run_netbench) -> None:
    # A port that was free a moment ago; nothing listens there now.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_netbench("send", "tcp", f"127.0.0.1:{port}", "hello")
    assert result.returncode == 1
    assert result.stdout == ""
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert "refused" in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["send", "http", "https://127.0.0.1:1/"],
        ["send", "http", "ftp://127.0.0.1/"],
        ["send", "tcp", "no-port-here", "x"],
        ["send", "tcp", "127.0.0.1:1", "--hex", "zz"],
        ["send"],
    ],
    ids=["https", "ftp", "address", "hex", "no-kind"],
)
def test_bad_usage_exits_2(args: list[str], run_netbench) -> None:
    result = run_netbench(*args)
    assert result.returncode == 2, result
    assert "error" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_send_http_says_a_reset_response_was_cut_short(start_serve, run_netbench, tmp_path) -> None:
    response = tmp_path / "cut.http"
    body = "".join(f"line {n:02d} of a long answer\n" for n in range(10))  # 250 bytes
    response.write_text("#!netbench reset-after head+30\nHTTP/1.1 200 OK\n\n" + body)
    server = start_serve("http", "--response", str(response))
    result = run_netbench("send", "http", f"http://127.0.0.1:{server.port}/", "--no-record")
    assert result.returncode == 1, result
    assert result.stdout.startswith("HTTP/1.1 200 OK␍␊\n")  # what did arrive is shown
    assert error_lines(result.stderr) == [
        "netbench: error: response cut short: the connection was reset after 30 of 250 body bytes"
    ]


def json_lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_send_tcp_json_prints_one_object_per_event(start_serve, run_netbench) -> None:
    server = start_serve("echo")
    result = run_netbench(
        "send", "tcp", f"127.0.0.1:{server.port}", "hi", "--half-close", "--json", "--no-record"
    )
    assert result.returncode == 0, result.stderr
    events = json_lines(result.stdout)  # every line parses: no human text mixed in
    assert [e["event"] for e in events] == ["open", "chunk", "chunk", "close"]
    assert all(isinstance(e["ts"], float) and e["conn"] == 1 for e in events)
    chunks = [(e["dir"], bytes.fromhex(str(e["data_hex"]))) for e in events[1:3]]
    assert chunks == [("out", b"hi"), ("in", b"hi")]
    assert (events[-1]["bytes_in"], events[-1]["bytes_out"]) == (2, 2)


def test_send_http_json_prints_the_exchange(start_serve, run_netbench, tmp_path) -> None:
    server = start_serve("http")
    url = f"http://127.0.0.1:{server.port}/"
    result = run_netbench("send", "http", url, "-d", "a=b", "--json", "--no-record")
    assert result.returncode == 0, result.stderr
    events = json_lines(result.stdout)
    (exchange,) = (e for e in events if e["event"] == "exchange")
    assert (exchange["method"], exchange["path"], exchange["status"]) == ("POST", "/", 200)
    answer = b"".join(bytes.fromhex(str(e["data_hex"])) for e in events if e.get("dir") == "in")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")

    # A response cut short is still an error (exit 1), its exchange saying why.
    response = tmp_path / "cut.http"
    response.write_text("#!netbench reset-after head+3\nHTTP/1.1 200 OK\n\n" + "x" * 50)
    cut = start_serve("http", "--response", str(response))
    url = f"http://127.0.0.1:{cut.port}/"
    result = run_netbench("send", "http", url, "--json", "--no-record")
    assert result.returncode == 1, result
    (exchange,) = (e for e in json_lines(result.stdout) if e["event"] == "exchange")
    assert str(exchange["error"]).startswith("cut short")


def test_send_http_timeout_says_the_client_stopped_waiting(run_netbench) -> None:
    """The client's own --timeout closes the connection: the server closed nothing."""
    with silent_server() as (host, port):
        url = f"http://{host}:{port}/"
        result = run_netbench("send", "http", url, "--timeout", "0.5", "--no-record")
    assert result.returncode == 1, result
    assert error_lines(result.stderr) == ["netbench: error: no response within 0.5 s (--timeout)"]

    with silent_server() as (host, port):
        url = f"http://{host}:{port}/"
        result = run_netbench("send", "http", url, "--timeout", "0.5", "--no-record", "--json")
    assert result.returncode == 1, result
    assert error_lines(result.stderr) == ["netbench: error: no response within 0.5 s (--timeout)"]
    events = json_lines(result.stdout)
    (exchange,) = (e for e in events if e["event"] == "exchange")
    assert (exchange["status"], exchange["error"]) == (None, "no response within 0.5 s")
    assert float(str(exchange["duration_ms"])) >= 450  # it lasted until the client gave up
    assert events[-1]["event"] == "close" and events[-1]["reason"] == "fin-local"


@pytest.mark.parametrize(
    ("options", "body"),
    [
        (["-d", "name=Ann", "-d", "lang=x"], b"name=Ann&lang=x"),
        (["-d", "a", "-d", ""], b"a&"),
        (["-d", "@{file}", "-d", "z=3"], b"x=1y=2&z=3"),
        (["--data-binary", "@{file}", "-d", "z=3"], b"x=1\r\ny=2\n&z=3"),
        (["--data-raw", "@{file}"], b"@{file}"),
        (["-d", "@-"], b"from stdin"),
    ],
    ids=["joined", "empty-part", "at-file", "data-binary", "data-raw", "stdin"],
)
def test_send_http_data_parts_make_the_body_as_curl_does(
    options: list[str], body: bytes, run_netbench, tmp_path
) -> None:
    """The bodies curl 7.88 sends for the same options (CR and LF dropped from -d @FILE)."""
    form = tmp_path / "form.txt"
    form.write_bytes(b"x=1\r\ny=2\n")
    args = [option.replace("{file}", str(form)) for option in options]
    with one_shot_server(b"HTTP/1.1 204 No Content\r\n\r\n") as (host, port):
        result = run_netbench(
            "send",
            "http",
            f"http://{host}:{port}/",
            *args,
            "--json",
            "--no-record",
            input="from stdin\n",
        )
    assert result.returncode == 0, result
    sent = b"".join(
        bytes.fromhex(str(e["data_hex"]))
        for e in json_lines(result.stdout)
        if e.get("dir") == "out"
    )
    head, _, sent_body = sent.partition(b"\r\n\r\n")
    assert head.startswith(b"POST / HTTP/1.1\r\n")
    assert b"\r\nContent-Type: application/x-www-form-urlencoded" in head
    assert sent_body == body.replace(b"{file}", str(form).encode())


def test_send_http_data_from_a_missing_file_is_one_error_line(run_netbench, tmp_path) -> None:
    missing = tmp_path / "missing.txt"
    result = run_netbench("send", "http", "http://127.0.0.1:1/", "-d", f"@{missing}")
    assert result.returncode == 1, result
    assert error_lines(result.stderr) == [
        f"netbench: error: cannot read {missing}: No such file or directory"
    ]
    assert "Traceback" not in result.stderr


def test_an_ipv6_address_that_refuses_is_named_in_brackets(run_netbench, tmp_path) -> None:
    """`cannot connect to ::1:PORT` read as a port of `::1:PORT`'s last group."""
    with socket.socket(socket.AF_INET6) as unused:
        unused.bind(("::1", 0))
        port = unused.getsockname()[1]  # bound, never listening: refused
        result = run_netbench(
            "send", "http", f"http://[::1]:{port}/", "--session", str(tmp_path / "s.sqlite")
        )
    assert result.returncode == 1
    assert f"cannot connect to [::1]:{port}: connection refused" in result.stderr
