"""Ambiguous or broken HTTP framing is refused at once; sound framing is honoured.

A request whose end cannot be known for sure (RFC 9112 §6.1, request
smuggling) gets 400 and the connection is closed. Versions netbench does not
speak get an answer, never a wait.
"""

from __future__ import annotations

import ssl

import pytest
from payloads import H2_PREFACE, HOST, HTTP09, REFUSED_WITH_400
from rawclient import only_response, responses, talk


@pytest.mark.parametrize("request_bytes", REFUSED_WITH_400.values(), ids=REFUSED_WITH_400.keys())
def test_broken_framing_gets_400_and_close(http_server, request_bytes: bytes) -> None:
    reply = talk(http_server.port, request_bytes)
    response = only_response(reply)
    assert response.status == 400, response
    assert reply.closed, "a connection whose framing is lost must be closed"
    assert response.headers["content-type"].startswith("text/html")


def test_both_length_headers_are_explained(http_server, recorded_in) -> None:
    reply = talk(http_server.port, REFUSED_WITH_400["content-length-and-transfer-encoding"])
    assert b"Transfer-Encoding" in only_response(reply).body
    assert recorded_in("status = 400 AND target = '/smuggle'")


def test_http_0_9_gets_an_answer_not_a_hang(http_server) -> None:
    reply = talk(http_server.port, HTTP09)
    assert reply.closed and reply.seconds < 2
    assert b"HTTP/0.9" in reply.data and b"GET / HTTP/1.1" in reply.data


def client_hello() -> bytes:
    """The first flight of a real TLS client (Python's ssl), as `curl https://` sends."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_https_to_a_plain_http_port_is_told_so(http_server, recorded_in) -> None:
    # llhttp's own words were "Invalid method encountered".
    reply = talk(http_server.port, client_hello())
    response = only_response(reply)
    assert response.status == 400 and reply.closed
    assert b"TLS handshake (https://) on a plain-HTTP port" in response.body
    assert recorded_in("status = 400 AND req_error LIKE 'a TLS handshake (https://)%'")
    # Its bytes are binary, not a target: they stay in the chunks, not in the request line.
    assert recorded_in("req_error LIKE 'a TLS handshake%' AND target = ''")


def test_a_space_in_the_target_is_explained_without_other_protocols(
    http_server, recorded_in
) -> None:
    reply = talk(http_server.port, b"GET /a b HTTP/1.1\r\n" + HOST + b"\r\n")
    body = only_response(reply).body
    assert b"a space inside the request target: send it as %20" in body
    assert b"RTSP" not in body
    assert recorded_in("status = 400 AND target = '/a b'")  # the whole target, not "/a"


@pytest.mark.parametrize("version", [b"http/1.1", b"HTTPS/1.1", b"FOO"])
def test_a_request_line_without_an_http_version_says_so(http_server, version: bytes) -> None:
    # llhttp says "Expected HTTP/, RTSP/ or ICE/" for these as for a space.
    reply = talk(http_server.port, b"GET / " + version + b"\r\n" + HOST + b"\r\n")
    body = only_response(reply).body
    assert b"the request line does not end in an HTTP/1.x version" in body
    assert b"space" not in body


def test_an_http2_preface_gets_505(http_server) -> None:
    reply = talk(http_server.port, H2_PREFACE)
    response = only_response(reply)
    assert response.status == 505 and reply.closed and reply.seconds < 2
    assert b"HTTP/1.1" in response.body


def test_pipelined_requests_are_answered_in_order(http_server) -> None:
    pipeline = (
        b"GET / HTTP/1.1\r\n" + HOST + b"\r\n"
        b"GET /not-here HTTP/1.1\r\n" + HOST + b"\r\n"
        b"POST /?third HTTP/1.1\r\n" + HOST + b"Content-Length: 3\r\n\r\nabc"
        b"GET /last HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
    )
    reply = talk(http_server.port, pipeline)
    assert [r.status for r in responses(reply.data)] == [200, 404, 200, 404]
    assert reply.closed  # after the request that asked for it


def test_a_request_then_half_close_is_still_answered(http_server) -> None:
    reply = talk(http_server.port, b"GET / HTTP/1.1\r\n" + HOST + b"\r\n", half_close=True)
    assert [r.status for r in responses(reply.data)] == [200]
    assert reply.closed and reply.seconds < 2


def test_a_request_split_into_single_bytes_is_answered(http_server) -> None:
    request = b"GET /drip HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
    reply = talk(http_server.port, [request[i : i + 1] for i in range(len(request))])
    assert [r.status for r in responses(reply.data)] == [404]
