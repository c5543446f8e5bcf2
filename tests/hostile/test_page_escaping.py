"""Every page netbench builds shows hostile bytes as symbols, never raw (issue 19, item 5).

One table, one row per built-in page: each request carries terminal escapes
(ESC, BEL, the C1 CSI U+009B, DEL, NUL) and a `<script>` tag to the place
where that page quotes the request, if it does. Whatever the page, its body
must be UTF-8 with no C0 control but the page's own line breaks and tabs, no
DEL, no C1 control and no live `<script`; where the page quotes the request,
the payload shows as the symbols `textsafe` uses everywhere (␛, ␇, \\u{009B}).
"""

from __future__ import annotations

from typing import Any

import pytest
from payloads import CLOSE, HOST
from rawclient import connect, only_response, read_until_closed, talk

pytestmark = pytest.mark.http_kind_only  # the page server's own pages (conftest.py)

RAW = b"\x1b]0;pwned\x07\xc2\x9b\x7f<script>alert(1)</script>"
"""The payload as raw bytes (where the parser lets them through: bodies)."""
ENCODED = b"%1b]0;pwned%07%C2%9B%7f%3Cscript%3Ealert(1)%3C/script%3E"
"""The payload percent-encoded (paths, queries and form bodies decode it)."""
OBS_TEXT = b"\xc2\x9b<script>alert(1)</script>"
"""What a header value may carry past a strict parser: obs-text bytes and markup."""

ESCAPE_SHOWN = "␛]0;pwned␇"
C1_SHOWN = "\\u{009B}"
TAG_SHOWN = "&lt;script&gt;"


def request(method: bytes, target: bytes, *fields: bytes, body: bytes = b"") -> bytes:
    head = method + b" " + target + b" HTTP/1.1\r\n" + HOST + b"".join(f + b"\r\n" for f in fields)
    if body:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + CLOSE + body


def form(method: bytes, body: bytes) -> bytes:
    return request(method, b"/", b"Content-Type: application/x-www-form-urlencoded", body=body)


def typed(method: bytes, content_type: bytes, body: bytes) -> bytes:
    return request(method, b"/", b"Content-Type: " + content_type, body=body)


JSON_ESCAPED = b'{"a": "\\u001b]0;pwned\\u0007\\u009b\\u007f<script>alert(1)</script>"}'
JSON_ESCAPES_SHOWN = "\\u001b]0;pwned\\u0007\\u009b\\u007f"

# (id, server, request bytes, status, what the page must show of the payload)
PAGES: list[tuple[str, str, bytes, int, tuple[str, ...]]] = [
    ("home", "http_server", request(b"GET", b"/", b"X-Payload: " + OBS_TEXT), 200, ()),
    ("404", "http_server", request(b"GET", b"/%00" + ENCODED), 404,
     (ESCAPE_SHOWN, C1_SHOWN, "␡", "␀", TAG_SHOWN)),
    ("post-form", "http_server", form(b"POST", b"a=" + ENCODED + b"&" + ENCODED + b"=1"), 200,
     (ESCAPE_SHOWN, C1_SHOWN, TAG_SHOWN)),
    ("put-form", "http_server", form(b"PUT", b"firstname=" + ENCODED), 200,
     (ESCAPE_SHOWN, C1_SHOWN, TAG_SHOWN)),
    ("delete-form", "http_server", form(b"DELETE", b"firstname=" + ENCODED), 200,
     (ESCAPE_SHOWN, C1_SHOWN, TAG_SHOWN)),
    # JSON is echoed as sent: its \u escapes stay escapes, never control characters.
    ("post-json", "http_server", typed(b"POST", b"application/json", JSON_ESCAPED), 200,
     (JSON_ESCAPES_SHOWN, TAG_SHOWN)),
    ("put-json", "http_server", typed(b"PUT", b"application/json", JSON_ESCAPED), 200,
     (JSON_ESCAPES_SHOWN, TAG_SHOWN)),
    ("delete-json-raw", "http_server", typed(b"DELETE", b"application/json", RAW), 200, ()),
    ("post-text", "http_server", typed(b"POST", b"text/plain", RAW + b"\r\nline 2\tcol"), 200,
     (ESCAPE_SHOWN, C1_SHOWN, TAG_SHOWN)),
    ("content-type", "http_server", typed(b"POST", b"text/" + OBS_TEXT, b"x"), 200,
     (C1_SHOWN, TAG_SHOWN)),
    ("403-host", "http_server", b"GET / HTTP/1.1\r\nHost: evil" + OBS_TEXT + b".example\r\n"
     + CLOSE, 403, (C1_SHOWN, TAG_SHOWN, "--allow-host")),
    ("400-malformed", "http_server", b"GET /\x1b]0;pwned\x07<script> HTTP/1.1\r\n" + HOST + CLOSE,
     400, ()),
    ("400-no-host", "http_server", b"GET /" + ENCODED + b" HTTP/1.1\r\n" + CLOSE, 400, ()),
    ("413", "http_server", request(b"POST", b"/" + ENCODED, b"Content-Length: 5000000"), 413,
     ()),
    ("414", "http_server", request(b"GET", b"/" + ENCODED * 200), 414, ()),
    ("431", "http_server", request(b"GET", b"/" + ENCODED, b"X-Big: " + OBS_TEXT * 3000), 431,
     ()),
    ("505-http09", "http_server", b"GET /" + ENCODED + b"\r\n", 505, ()),
    ("static-listing", "static_server", request(b"GET", b"/"), 200,
     (ESCAPE_SHOWN, C1_SHOWN, "\\xff", TAG_SHOWN)),
    ("static-404", "static_server", request(b"GET", b"/" + ENCODED), 404,
     (ESCAPE_SHOWN, C1_SHOWN, TAG_SHOWN)),
    ("static-page-404", "static_server", request(b"GET", b"/?page=" + ENCODED), 404,
     (ESCAPE_SHOWN, C1_SHOWN, TAG_SHOWN)),
    ("static-403", "static_server", request(b"GET", b"/..%2f" + ENCODED), 403, ()),
    ("static-403-link", "static_server", request(b"GET", b"/escape.txt?" + ENCODED), 403, ()),
    ("static-400", "static_server", request(b"GET", b"/%00" + ENCODED), 400, ()),
    ("static-405", "static_server", request(b"POST", b"/" + ENCODED, body=RAW), 405, ()),
]  # fmt: skip


def assert_inert(body: bytes) -> str:
    """The page as text, once it is known to hold nothing a browser or terminal obeys."""
    text = body.decode("utf-8")  # strict: every page is UTF-8
    raw = sorted(
        {f"U+{ord(ch):04X}" for ch in text if ord(ch) < 0x20 and ch not in "\r\n\t"}
        | {f"U+{ord(ch):04X}" for ch in text if 0x7F <= ord(ch) <= 0x9F}
    )
    assert not raw, f"raw control characters {raw} in {text[:500]!r}"
    assert "<script" not in text.lower(), text[:500]
    return text


@pytest.mark.parametrize(
    ("server", "data", "status", "shows"),
    [row[1:] for row in PAGES],
    ids=[row[0] for row in PAGES],
)
def test_a_page_shows_hostile_bytes_as_symbols(
    request: pytest.FixtureRequest, server: str, data: bytes, status: int, shows: tuple[str, ...]
) -> None:
    port = request.getfixturevalue(server).port
    response = only_response(talk(port, data))
    assert response.status == status, response
    text = assert_inert(response.body)
    for shown in shows:
        assert shown in text, (shown, text[:800])


def test_the_408_page(http_server: Any) -> None:
    # A head that never ends, carrying the payload: refused after --header-timeout 1.
    reply = talk(http_server.port, b"GET /" + ENCODED + b" HTTP/1.1\r\n" + HOST + b"X: " + OBS_TEXT)
    response = only_response(reply)
    assert response.status == 408
    assert_inert(response.body)


def test_the_503_page(start_serve: Any) -> None:
    server = start_serve("http", "--no-capture", "--no-record", "--max-connections", "1")
    with connect(server.port) as held:
        held.sendall(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        assert held.recv(65536).startswith(b"HTTP/1.1 200")
        with connect(server.port) as refused:
            refused.sendall(request(b"POST", b"/" + ENCODED, body=RAW))
            response = only_response(read_until_closed(refused))
    assert response.status == 503
    assert_inert(response.body)
