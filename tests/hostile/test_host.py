"""The Host check: a page on another site cannot reach netbench by DNS rebinding."""

from __future__ import annotations

import pytest
from rawclient import only_response, talk


def get(host_line: bytes, target: bytes = b"/") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + host_line + b"Connection: close\r\n\r\n"


@pytest.mark.parametrize(
    "request_bytes",
    [
        get(b"Host: evil.example\r\n"),
        get(b"Host: 127.0.0.1.evil.example\r\n"),
        get(b"Host: 127.0.0.1\r\n", b"http://evil.example/"),  # absolute form names the host
    ],
    ids=["foreign-name", "loopback-lookalike", "absolute-form"],
)
def test_a_foreign_host_is_refused_with_a_page_saying_how_to_allow_it(
    http_server, recorded_in, request_bytes: bytes
) -> None:
    response = only_response(talk(http_server.port, request_bytes))
    assert response.status in (403, 421), response
    assert b"--allow-host" in response.body
    assert recorded_in("status IN (403, 421)")


def test_http_1_1_without_host_gets_400(http_server) -> None:
    response = only_response(talk(http_server.port, get(b"")))
    assert response.status == 400
    assert b"Host" in response.body


@pytest.mark.parametrize(
    "host", [b"localhost", b"LOCALHOST.", b"127.0.0.1", b"127.1.2.3", b"[::1]", b"app.localhost"]
)
def test_loopback_names_with_any_port_are_served(http_server, host: bytes) -> None:
    for value in (host, host + b":" + str(http_server.port).encode()):
        response = only_response(talk(http_server.port, get(b"Host: " + value + b"\r\n")))
        assert response.status == 200, (value, response)


def test_allow_host_and_any_host(start_serve) -> None:
    allowed = start_serve("http", "--no-capture", "--no-record", "--allow-host", "dev.test")
    response = only_response(talk(allowed.port, get(b"Host: dev.test\r\n")))
    assert response.status == 200
    assert only_response(talk(allowed.port, get(b"Host: other.test\r\n"))).status in (403, 421)
    anything = start_serve("http", "--no-capture", "--no-record", "--any-host")
    assert only_response(talk(anything.port, get(b"Host: other.test\r\n"))).status == 200


def test_binding_beyond_loopback_warns(start_serve) -> None:
    server = start_serve("http", "--host", "0.0.0.0", "--no-capture", "--no-record")
    warning = server.wait_for(lambda event: event.get("event") == "warning")
    assert warning is not None and warning["detail"] == "beyond-loopback"
    # Bound to every address, any IP literal is one of ours; names still are not.
    assert only_response(talk(server.port, get(b"Host: 10.1.2.3\r\n"))).status == 200
    assert only_response(talk(server.port, get(b"Host: evil.example\r\n"))).status == 403
