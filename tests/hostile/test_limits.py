"""Requests over a limit get a clear answer, recorded, and the connection closed."""

from __future__ import annotations

import time

import pytest
from payloads import HOST, OVERSIZED
from rawclient import connect, only_response, read_until_closed, responses, still_answers, talk


@pytest.mark.parametrize(
    ("case", "status", "option", "error"),
    [
        ("long-request-line", 414, b"--max-request-line", "request target"),
        ("huge-header", 431, b"--max-header-bytes", "request head"),
        ("many-fields", 431, b"--max-header-fields", "header fields"),
    ],
)
def test_an_oversized_head_is_refused_and_the_page_names_the_option(
    http_server, recorded_in, case: str, status: int, option: bytes, error: str
) -> None:
    reply = talk(http_server.port, OVERSIZED[case])
    response = only_response(reply)
    assert response.status == status and reply.closed
    assert option in response.body
    assert recorded_in("status = ? AND req_error LIKE ?", status, f"{error}%")


def test_an_announced_body_over_the_limit_gets_413_before_it_is_sent(http_server) -> None:
    with connect(http_server.port) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\n" + HOST + b"Content-Length: 5000000\r\n\r\n")
        reply = read_until_closed(sock)  # nothing of the 5 MB was sent
    response = only_response(reply)
    assert response.status == 413 and reply.closed
    assert b"--max-body" in response.body


def test_a_chunked_body_over_the_limit_gets_413(http_server, recorded_in) -> None:
    chunks = b"400\r\n" + b"c" * 1024 + b"\r\n"
    head = b"POST /chunked-upload HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
    reply = talk(http_server.port, head + chunks * 5 + b"0\r\n\r\n")
    response = only_response(reply)
    assert response.status == 413 and reply.closed
    assert recorded_in("status = 413 AND target = '/chunked-upload'")


def test_slowloris_gets_408_after_the_header_timeout(http_server, recorded_in) -> None:
    head = b"GET /slowloris HTTP/1.1\r\n" + HOST + b"X-Drip: "
    drip = [head] + [b"d"] * 12  # one byte every 0.25 s: never idle, never complete
    reply = talk(http_server.port, drip, gap=0.25)
    response = only_response(reply)
    assert response.status == 408 and reply.closed
    assert b"--header-timeout" in response.body
    assert recorded_in("status = 408")


def test_an_idle_keep_alive_connection_is_closed(http_server) -> None:
    started = time.monotonic()
    reply = talk(http_server.port, b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
    assert [r.status for r in responses(reply.data)] == [200]
    assert reply.closed, "the server kept an idle connection open past --idle-timeout 2"
    assert 1.5 < time.monotonic() - started < 4.5


def test_past_the_connection_cap_a_503_then_room_again(start_serve) -> None:
    server = start_serve("http", "--no-capture", "--no-record", "--max-connections", "3")
    held = [connect(server.port) for _ in range(3)]
    try:
        for sock in held:  # each answered once: accepted and counted
            sock.sendall(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        with connect(server.port) as fourth:
            reply = read_until_closed(fourth)
        response = only_response(reply)
        assert response.status == 503 and reply.closed
        assert b"--max-connections" in response.body
        # A browser sends its request at once: the page still arrives whole
        # (a lingering close, not a RST on the unread request).
        busy = talk(server.port, b"POST /x HTTP/1.1\r\n" + HOST + b"Content-Length: 3\r\n\r\nabc")
        assert only_response(busy).status == 503 and busy.closed
        held.pop().close()
        deadline = time.monotonic() + 2
        while True:  # the server notices the close on its own schedule
            try:
                assert still_answers(server.port) == 200
                break
            except (TimeoutError, AssertionError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        for sock in held:
            sock.close()
