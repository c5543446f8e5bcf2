"""The one line saying what a step's call returned: summarised, never a dump of raw bytes."""

from __future__ import annotations

import pytest

from netbench.workshop.returned import returned_summary

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00" + bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s"
            % (len(JPEG), JPEG),
            f"HTTP/1.1 200 OK, {len(JPEG)} B, image/jpeg",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: 11\r\n\r\nHello World",
            "HTTP/1.1 200 OK, 11 B, text/plain: Hello World",
        ),
        (
            b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
            "HTTP/1.1 204 No Content, no body; then HTTP/1.1 404 Not Found, 2 B, no Content-Type: no",
        ),
        (JPEG, "binary data, not shown here"),
        (b"hello\r\n", "hello␍␊"),
        # A C1 CSI and a bidi override in the reason and the type are shown, never obeyed.
        (
            b"HTTP/1.1 200 OK \xc2\x9b31m\xe2\x80\xae\r\nContent-Type: text/\xc2\x9bx\r\n"
            b"Content-Length: 1\r\n\r\n\x00",
            "HTTP/1.1 200 OK \\u{009B}31m\\u{202E}, 1 B, text/\\u{009B}x: ␀",
        ),
    ],
    ids=["jpeg", "text", "two", "binary", "text-bytes", "hostile"],
)
def test_what_a_call_returned_is_said_in_one_line(data: bytes, said: str) -> None:
    assert returned_summary(data) == said
