"""The static server stays inside its root and never redirects to another site."""

from __future__ import annotations

import html

import pytest
from rawclient import SECRET, only_response, responses, talk


def get(target: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


ESCAPES = [
    b"/../secret.txt",
    b"/docs/../../secret.txt",
    b"/%2e%2e/secret.txt",
    b"/%2E%2E%2Fsecret.txt",
    b"/%252e%252e/secret.txt",  # double-encoded: the literal name %2e%2e
    b"/..%5csecret.txt",
    b"/..\\secret.txt",
    b"/hello.txt%00.html",
    b"/escape.txt",  # a symlink to the file beside the root
    b"/up/secret.txt",  # a symlink to the root's parent
    b"http://127.0.0.1/../secret.txt",
]


@pytest.mark.parametrize("target", ESCAPES, ids=[t.decode() for t in ESCAPES])
def test_nothing_outside_the_root_is_served(static_server, target: bytes) -> None:
    reply = talk(static_server.port, get(target))
    response = only_response(reply)
    assert response.status in (400, 403, 404), response
    assert SECRET not in reply.data


REDIRECTS = [b"//docs", b"//evil.example/docs", b"/\\evil.example/docs", b"/%2F%2Fevil.example"]


@pytest.mark.parametrize("target", REDIRECTS, ids=[t.decode() for t in REDIRECTS])
def test_no_redirect_leaves_the_site(static_server, target: bytes) -> None:
    response = only_response(talk(static_server.port, get(target)))
    location = response.headers.get("location", "/")
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    assert "evil.example" not in location


def test_a_directory_without_its_slash_redirects_to_a_local_path(static_server) -> None:
    response = only_response(talk(static_server.port, get(b"/docs")))
    assert (response.status, response.headers["location"]) == (301, "/docs/")


def test_a_directory_redirect_keeps_the_query_encoded(static_server) -> None:
    response = only_response(talk(static_server.port, get(b"/docs?x=1&y=%0d%0aSet-Cookie:%20a")))
    assert (response.status, response.headers["location"]) == (
        301,
        "/docs/?x=1&y=%0d%0aSet-Cookie:%20a",
    )
    assert "set-cookie" not in response.headers


def test_links_leading_out_of_the_root_are_not_listed(static_server) -> None:
    # They would only answer 403 (see above); --follow-symlinks lists and serves them.
    response = only_response(talk(static_server.port, get(b"/")))
    assert response.status == 200 and b"hello.txt" in response.body
    assert b"escape.txt" not in response.body and b'href="up/"' not in response.body


def test_listing_names_are_escaped(static_server) -> None:
    response = only_response(talk(static_server.port, get(b"/")))
    assert response.status == 200
    assert b"<img" not in response.body
    assert html.escape("<img src=x onerror=alert(1)>.txt").encode() in response.body
    assert b"a&quot;b&#x27;c&amp;d.txt" in response.body


def test_a_file_inside_is_served_whole(static_server) -> None:
    reply = talk(static_server.port, get(b"/hello.txt"))
    assert [(r.status, r.body) for r in responses(reply.data)] == [(200, b"hello\n")]
