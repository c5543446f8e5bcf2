"""`netbench serve http --response FILE / --rules FILE`: files that change the answer live.

The server stats its files on every request, so a rewrite is seen by the very
next request: these tests never sleep between writing a file and asking.
Rewrites change the file's size (or its inode), which the reload check
compares along with the mtime, so no test depends on the file system's mtime
granularity.
"""

from __future__ import annotations

import html
import http.client
import os
import socket
from pathlib import Path

import pytest

IO_TIMEOUT = 5.0


def raw_exchange(address: tuple[str, int], request: bytes) -> bytes:
    """Send `request` on a fresh connection; every byte until the server closes."""
    with socket.create_connection(address, timeout=IO_TIMEOUT) as sock:
        sock.sendall(request)
        data = bytearray()
        while chunk := sock.recv(65536):
            data += chunk
    return bytes(data)


def get_close(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()


def split_response(data: bytes) -> tuple[list[bytes], bytes]:
    """(head lines, body) of a CRLF response; fails on any bare LF in the head."""
    head, separator, body = data.partition(b"\r\n\r\n")
    assert separator, f"no CRLF CRLF in {data!r}"
    lines = head.split(b"\r\n")
    assert not any(b"\n" in line for line in lines), f"bare LF in the head: {head!r}"
    return lines, body


def header(lines: list[bytes], name: bytes) -> bytes | None:
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def request(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


# -- --response FILE ------------------------------------------------------------------


def test_lf_response_file_goes_out_with_crlf_head_and_content_length(
    start_serve, tmp_path: Path
) -> None:
    response_file = tmp_path / "answer.http"
    response_file.write_bytes(b"HTTP/1.1 200 OK\nContent-Type: text/plain\nX-Test: one\n\nhello\n")
    server = start_serve("http", "--response", str(response_file))

    lines, body = split_response(raw_exchange(server.address, get_close("/anything")))

    assert lines[0] == b"HTTP/1.1 200 OK"
    assert lines[1:3] == [b"Content-Type: text/plain", b"X-Test: one"]
    assert body == b"hello\n"
    assert header(lines, b"Content-Length") == b"6"
    assert server.stop() == 0


def test_rewritten_response_file_answers_the_very_next_request(start_serve, tmp_path: Path) -> None:
    response_file = tmp_path / "answer.http"
    response_file.write_bytes(b"HTTP/1.1 200 OK\n\nfirst\n")
    server = start_serve("http", "--response", str(response_file))
    conn = http.client.HTTPConnection(*server.address, timeout=IO_TIMEOUT)
    try:
        assert request(conn, "GET", "/") == (200, b"first\n")
        response_file.write_bytes(b"HTTP/1.1 202 Accepted\n\nsecond, longer\n")
        assert request(conn, "GET", "/") == (202, b"second, longer\n")
        # An editor that saves by replacing the file (new inode, same size).
        replacement = tmp_path / "answer.http.tmp"
        replacement.write_bytes(b"HTTP/1.1 203 Accepted\n\nthird, longer!\n")
        os.replace(replacement, response_file)
        assert request(conn, "GET", "/") == (203, b"third, longer!\n")
    finally:
        conn.close()
    exchanges = server.events(
        lambda e: e["event"] == "exchange" and e["status"] == 203, timeout=IO_TIMEOUT
    )
    exchanges = [e for e in exchanges if e["event"] == "exchange"]
    # One keep-alive connection carried all three: the reload needs no reconnect.
    assert [e["status"] for e in exchanges] == [200, 202, 203]
    assert len({e["conn"] for e in exchanges}) == 1
    assert server.stop() == 0


def test_raw_mode_sends_the_file_byte_for_byte(start_serve, tmp_path: Path) -> None:
    # LF-only head and a Content-Length that lies: exactly what --raw is for.
    crafted = b"HTTP/1.1 200 OK\nContent-Length: 100\nX-Odd:  spaced \n\nshort body"
    response_file = tmp_path / "broken.http"
    response_file.write_bytes(crafted)
    server = start_serve("http", "--response", str(response_file), "--raw")

    received = raw_exchange(server.address, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

    assert received == crafted
    exchange = server.events(lambda e: e["event"] == "exchange")[-1]
    assert exchange["path"] == "/"
    assert server.stop() == 0


def test_missing_response_file_at_start_is_a_clean_error(run_netbench, tmp_path: Path) -> None:
    result = run_netbench("serve", "http", "--port", "0", "--response", str(tmp_path / "nope.http"))
    assert result.returncode == 1
    assert result.stderr.startswith("netbench: error:")
    assert "nope.http" in result.stderr
    assert "Traceback" not in result.stderr


# -- --rules FILE ------------------------------------------------------------------------

RULES = """\
[[rule]]
method = "GET"
path = "/api/*"
response = "api.http"

[[rule]]
method = "POST"
path = "/form"
text = "HTTP/1.1 201 Created\\nContent-Type: text/plain\\n\\nthanks\\n"
"""

RULES_EDITED = """\
[[rule]]
path = "/api/*"
text = "HTTP/1.1 200 OK\\n\\nversion 2 of the api\\n"

[[rule]]
method = ["GET", "POST"]
path = "/new"
text = "HTTP/1.1 200 OK\\n\\nnew route\\n"
"""

API_RESPONSE = b'HTTP/1.1 200 OK\nContent-Type: application/json\n\n{"api": true}\n'


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    (tmp_path / "api.http").write_bytes(API_RESPONSE)
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    return path


def test_rules_route_by_method_and_path_and_follow_edits(start_serve, rules_file: Path) -> None:
    server = start_serve("http", "--rules", str(rules_file))
    conn = http.client.HTTPConnection(*server.address, timeout=IO_TIMEOUT)
    try:
        assert request(conn, "GET", "/api/users?id=1") == (200, b'{"api": true}\n')
        assert request(conn, "POST", "/form", b"firstname=Ann") == (201, b"thanks\n")
        # No rule matches: the page server answers as usual.
        status, page = request(conn, "GET", "/")
        assert (status, b"Wow, Python Server" in page) == (200, True)
        assert request(conn, "GET", "/form")[0] == 404
        assert request(conn, "POST", "/api/users", b"a=1")[0] == 404

        rules_file.write_text(RULES_EDITED)

        assert request(conn, "GET", "/api/users") == (200, b"version 2 of the api\n")
        assert request(conn, "POST", "/new", b"a=1") == (200, b"new route\n")
        assert request(conn, "POST", "/form", b"firstname=Ann")[0] == 404
    finally:
        conn.close()
    assert server.stop() == 0


def test_rule_file_edit_is_seen_by_the_next_request(start_serve, rules_file: Path) -> None:
    server = start_serve("http", "--rules", str(rules_file))
    conn = http.client.HTTPConnection(*server.address, timeout=IO_TIMEOUT)
    try:
        assert request(conn, "GET", "/api/x") == (200, b'{"api": true}\n')
        (rules_file.parent / "api.http").write_bytes(b"HTTP/1.1 200 OK\n\n{}\n")
        assert request(conn, "GET", "/api/x") == (200, b"{}\n")
    finally:
        conn.close()
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ("[[rule]\npath = ", "not valid TOML"),
        ('[[rules]]\ntext = "x"\n', "unknown top-level key(s): rules"),
        ('[[rule]]\npath = "/api/*"\n', "rule 1: give exactly one of response (a file) or text"),
        ('[[rule]]\nmethod = 5\ntext = "x"\n', "rule 1: method must be a string or a list"),
        ('[[rule]]\ntext = "x"\nstatus = 200\n', "rule 1: unknown key(s) status"),
        ('[[rule]]\nresponse = "missing.http"\n', "missing.http"),
    ],
    ids=["toml", "top-level", "neither", "method", "key", "missing-file"],
)
def test_invalid_rules_give_a_500_naming_the_problem_and_the_server_lives_on(
    broken: str, problem: str, start_serve, rules_file: Path
) -> None:
    server = start_serve("http", "--rules", str(rules_file))
    assert raw_exchange(server.address, get_close("/api/a")).endswith(b'{"api": true}\n')

    rules_file.write_text(broken)
    lines, body = split_response(raw_exchange(server.address, get_close("/api/a")))
    assert lines[0] == b"HTTP/1.1 500 Internal Server Error"
    assert problem in html.unescape(body.decode())
    exchange = server.events(lambda e: e["event"] == "exchange" and e["status"] == 500)[-1]
    assert exchange["path"] == "/api/a"

    # Still serving, and a fixed file is picked up at once.
    assert server.popen.poll() is None
    rules_file.write_text(RULES + "\n# fixed\n")
    assert raw_exchange(server.address, get_close("/api/a")).endswith(b'{"api": true}\n')
    assert server.stop() == 0


def test_static_files_answer_behind_the_rules(start_serve, rules_file: Path) -> None:
    """The Respond tab takes rules for static; `serve static --rules` must too."""
    (rules_file.parent / "site").mkdir()
    (rules_file.parent / "site" / "index.html").write_bytes(b"<p>from the root</p>")
    server = start_serve(
        "static", "--root", str(rules_file.parent / "site"), "--rules", str(rules_file)
    )
    conn = http.client.HTTPConnection(*server.address, timeout=IO_TIMEOUT)
    try:
        assert request(conn, "GET", "/api/users") == (200, b'{"api": true}\n')
        assert request(conn, "GET", "/index.html") == (200, b"<p>from the root</p>")
    finally:
        conn.close()
    assert server.stop() == 0
