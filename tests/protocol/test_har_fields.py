"""HAR fields made from recorded HTTP: decoding, sizes, URLs, cookies, form params."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netbench.model import Endpoint, HttpRequest, HttpResponse
from netbench.protocol import har_fields as har

SERVER = Endpoint("127.0.0.1", 8000)


def request(target: bytes = b"/", headers: tuple[tuple[bytes, bytes], ...] = (), **kw: object):
    fields: dict[str, object] = {
        "method": b"GET",
        "target": target,
        "version": "1.1",
        "headers": headers,
        "body": b"",
        "body_len": 0,
    }
    fields.update(kw)
    return HttpRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/", []),
        (b"/s?q=caf%C3%A9&x=1+2&empty=", [("q", "café"), ("x", "1 2"), ("empty", "")]),
        (b"/s?tag=a&tag=b", [("tag", "a"), ("tag", "b")]),  # duplicates kept, in order
        (b"/s?q=%E9t%E9", [("q", "été")]),  # not UTF-8: Latin-1, never an error
        (b"/s?q=a#frag", [("q", "a")]),
    ],
)
def test_query_string_is_decoded_in_order(target: bytes, expected: list[tuple[str, str]]) -> None:
    assert [(p["name"], p["value"]) for p in har.query_string(target)] == expected


@pytest.mark.parametrize(
    ("target", "host", "url"),
    [
        (b"/a?b=c", b"example.test:8080", "http://example.test:8080/a?b=c"),
        (b"/a", None, "http://127.0.0.1:8000/a"),
        (b"/a", b"evil host/x", "http://127.0.0.1:8000/a"),  # not an authority: the address
        (b"/\x1b[2J\xff", b"x", "http://x/%1B[2J%FF"),  # bytes outside ASCII percent-encoded
        (b"http://other.test/p", b"x", "http://other.test/p"),  # absolute form kept
        (b"/[::1]", b"[::1]:80", "http://[::1]:80/[::1]"),
    ],
)
def test_request_url(target: bytes, host: bytes | None, url: str) -> None:
    headers = () if host is None else ((b"Host", host),)
    assert har.request_url(request(target, headers), SERVER) == url


@pytest.mark.parametrize(
    ("target", "url"),
    [
        (b"127.0.0.1:24001", "http://127.0.0.1:24001"),
        (b"example.test:443", "https://example.test:443"),
        (b"[::1]:8443", "http://[::1]:8443"),
        (b"/not/an/authority", "http://proxy.test:3128/not/an/authority"),
    ],
)
def test_a_tunnel_s_url_is_the_authority_it_opens(target: bytes, url: str) -> None:
    connect = request(target, ((b"Host", b"proxy.test:3128"),), method=b"CONNECT")
    assert har.request_url(connect, SERVER) == url


def test_headers_size_counts_the_head_as_http_1_writes_it() -> None:
    wire = b"GET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"
    sent = request(b"/x", ((b"Host", b"a"), (b"Accept", b"*/*")))
    assert har.request_headers_size(sent) == len(wire)
    reply = HttpResponse(404, b"Not Found", "1.1", ((b"Content-Length", b"0"),), b"", 0)
    assert har.response_headers_size(reply) == len(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    )
    assert har.request_headers_size(request(version="")) == -1  # unparsed request line


def test_cookies_from_cookie_and_set_cookie() -> None:
    assert har.request_cookies(((b"Cookie", b"a=1; b=x=y"), (b"cookie", b"c="))) == [
        {"name": "a", "value": "1"},
        {"name": "b", "value": "x=y"},
        {"name": "c", "value": ""},
    ]
    set_cookie = (
        b"id=a3f; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/; Domain=ex.test;"
        b" Secure; HttpOnly; SameSite=Lax"
    )
    assert har.response_cookies(((b"Set-Cookie", set_cookie), (b"Set-Cookie", b"junk"))) == [
        {
            "name": "id",
            "value": "a3f",
            "expires": "2015-10-21T07:28:00Z",
            "path": "/",
            "domain": "ex.test",
            "secure": True,
            "httpOnly": True,
            "_sameSite": "Lax",
        }
    ]


def test_urlencoded_params_are_utf8_decoded() -> None:
    headers = ((b"Content-Type", b"application/x-www-form-urlencoded"),)
    body = "name=Zo%C3%AB&city=Z%C3%BCrich&raw=é".encode()
    assert har.post_params(headers, body) == [
        {"name": "name", "value": "Zoë"},
        {"name": "city", "value": "Zürich"},
        {"name": "raw", "value": "é"},
    ]


def test_multipart_params_name_files_and_decode_fields() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nh\xc3\xa9llo\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="\xc3\xa9t\xc3\xa9.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n\x00\xff\x01\r\n"
        b'--XyZ\r\nContent-Disposition: form-data; name="t"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nline\r\n"
        b"--XyZ--\r\n"
    )
    headers = ((b"Content-Type", b'multipart/form-data; boundary="XyZ"'),)
    assert har.post_params(headers, body) == [
        {"name": "note", "value": "héllo"},
        {"name": "f", "fileName": "été.bin", "contentType": "application/octet-stream"},
        {"name": "t", "fileName": "a.txt", "contentType": "text/plain", "value": "line"},
    ]


def test_other_bodies_have_no_params() -> None:
    assert har.post_params(((b"Content-Type", b"application/json"),), b"{}") is None
    assert har.post_params((), b"a=b") is None


@pytest.mark.parametrize(
    "body",
    [
        b"plain text\r\n\twith tabs",
        "café ✓".encode(),
        b"\x00\xff binary",
        b"\x1b[2J",
        bytes(range(256)),
    ],
)
def test_body_content_comes_back_byte_for_byte(body: bytes) -> None:
    content = har.body_content(body)
    if content.get("encoding") == "base64":
        assert base64.b64decode(content["text"]) == body
    else:
        assert content["text"].encode("utf-8") == body
        assert "\x1b" not in content["text"]  # control bytes always go as base64


@pytest.mark.parametrize(
    ("har_version", "stored"),
    [
        ("HTTP/1.1", "1.1"),
        ("HTTP/1.0", "1.0"),
        ("h2", "2"),
        ("http/2.0", "2"),
        ("h3", "3"),
        ("", ""),
    ],
)
def test_version_from_har(har_version: str, stored: str) -> None:
    assert har.version_from_har(har_version) == stored


def test_wire_text_round_trips_every_byte() -> None:
    data = bytes(range(256))
    assert har.wire_bytes(har.wire_text(data)) == data
    assert har.wire_bytes("✓") == "✓".encode()  # a HAR from elsewhere: UTF-8


def test_iso_time_is_utc_with_milliseconds() -> None:
    assert har.iso_time(1795341600.1234) == "2026-11-22T10:00:00.123Z"


@pytest.mark.parametrize(
    "expires",
    [
        b"Wed, 21 Oct 99999999999999999999 07:28:00 GMT",  # OverflowError stopped the export
        b"Wed, 21 Oct 99999 07:28:00 GMT",
        b"Wed, 32 Oct 2015 07:28:00 GMT",
        b"\xff\xfe",
        b"",
    ],
)
def test_an_expires_that_is_no_date_is_left_out(expires: bytes) -> None:
    set_cookie = b"sid=1; Expires=" + expires + b"; Path=/"
    assert har.response_cookies(((b"Set-Cookie", set_cookie),)) == [
        {"name": "sid", "value": "1", "path": "/"}
    ]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60))
def test_any_set_cookie_gives_cookies_or_none_never_an_error(value: bytes) -> None:
    for cookie in har.response_cookies(((b"Set-Cookie", value),)):
        assert isinstance(cookie["name"], str)
