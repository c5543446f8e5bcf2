"""Hand-written responses: tidied only when asked, described as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from netbench.protocol.responses import build_response, error_page, normalize_raw, raw_reply
from netbench.protocol.rules import RulesError, match, parse_rules


def test_normalize_makes_crlf_and_fills_content_length() -> None:
    raw = b"HTTP/1.1 200 OK\nContent-Type: text/plain\n\nline one\nline two\n"
    assert normalize_raw(raw) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\n"
        b"line one\nline two\n"
    )


def test_normalize_keeps_a_given_wrong_content_length() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort"
    assert normalize_raw(raw) == raw


def test_normalize_for_head_and_close() -> None:
    out = normalize_raw(b"HTTP/1.1 200 OK\n\nbody", head_only=True, keep_alive=False)
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"


def test_raw_mode_sends_bytes_untouched_and_closes_if_unframed() -> None:
    raw = b"HTTP/1.1 200 OK\nX: y\n\nno length"
    reply = raw_reply(raw, raw_mode=True)
    assert reply.steps == (raw,) and not reply.keep_alive


def test_built_response_is_one_write_with_length() -> None:
    reply = build_response(201, b"made", content_type=b"text/plain", date=b"D")
    assert reply.simple is not None and reply.simple.endswith(b"Content-Length: 4\r\n\r\nmade")
    assert reply.response.status == 201


RULES = """
[[rule]]
method = ["GET", "HEAD"]
path = "/api/*"
response = "api.http"

[[rule]]
path = "/teapot"
text = "HTTP/1.1 418 I'm a teapot\\n\\n"
raw = true
"""


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "Bad Request"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (408, "Request Timeout"),
        (413, "Content Too Large"),
        (414, "URI Too Long"),
        (431, "Request Header Fields Too Large"),
        (500, "Internal Server Error"),
        (501, "Not Implemented"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Timeout"),
        (505, "HTTP Version Not Supported"),
    ],
)
def test_every_page_netbench_sends_names_its_status_as_rfc_9110_does(
    status: int, reason: str
) -> None:
    page = error_page(status, "why")
    assert page.simple is not None
    assert page.simple.startswith(f"HTTP/1.1 {status} {reason}\r\n".encode())
    assert f"<title>{status} {reason}</title>".encode() in page.simple
    assert page.response.reason == reason.encode()


def test_rules_match_first_by_method_and_glob(tmp_path: Path) -> None:
    rules = parse_rules(RULES, tmp_path)
    api = match(rules, b"get", "/api/users/1")
    assert api is not None and api.response_file == tmp_path / "api.http"
    assert match(rules, b"POST", "/api/x") is None
    teapot = match(rules, b"DELETE", "/teapot")
    assert teapot is not None and teapot.raw is True and teapot.text is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rule]]\npath = '/'\n", "exactly one of response"),
        ("[[rule]]\nmethod = 3\ntext = 'x'\n", "method must be"),
        ("[[rule]]\ntext = 'x'\ncolour = 'red'\n", "unknown key"),
        ("[[rule]\n", "not valid TOML"),
        ("[other]\n", "unknown top-level"),
    ],
)
def test_bad_rules_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        parse_rules(text, tmp_path)
