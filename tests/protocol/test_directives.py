"""`#!netbench` directives: parsed strictly, stripped, turned into steps."""

from __future__ import annotations

import pytest

from netbench.protocol.directives import (
    Cut,
    DirectiveError,
    Directives,
    Drip,
    parse_directives,
)
from netbench.protocol.responses import Hangup, Pause, normalize_raw, raw_reply

RESPONSE = b"HTTP/1.1 200 OK\nContent-Type: text/plain\n\nhello"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (b"", Directives()),
        (b"#!netbench delay 2\n", Directives(delay=2.0)),
        (b"#!netbench drip 0.1\n", Directives(drip=Drip(0.1, 1))),
        (b"#!netbench drip 0.1 16\r\n", Directives(drip=Drip(0.1, 16))),
        (b"#!netbench close-after head\n", Directives(cut=Cut("close", True, 0))),
        (b"#!netbench close-after 10\n", Directives(cut=Cut("close", False, 10))),
        (b"#!netbench reset-after head+5\n", Directives(cut=Cut("reset", True, 5))),
        (b"#!netbench body-file my image.jpg \n", Directives(body_file="my image.jpg")),
        (
            b"#!netbench delay 1\n#!netbench   drip 0 4\n",
            Directives(delay=1.0, drip=Drip(0.0, 4)),
        ),
    ],
)
def test_directives_are_parsed_and_stripped(lines: bytes, expected: Directives) -> None:
    directives, rest = parse_directives(lines + RESPONSE)
    assert directives == expected
    assert rest == RESPONSE


def test_a_directive_alone_leaves_an_empty_response() -> None:
    directives, rest = parse_directives(b"#!netbench delay 1")
    assert directives.delay == 1.0 and rest == b""


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (b"#!netbench dirp 0.1\n", r"line 1 \('#!netbench dirp 0.1'\): unknown directive 'dirp'"),
        (b"#!netbench delay 1\n#!netbench wait 1\n", "line 2 .*unknown directive 'wait'"),
        (b"#!netbench\n", "directive name is missing"),
        (b"#!netbenchdelay 1\n", "write '#!netbench NAME ARGUMENTS'"),
        (b"#!netbench delay\n", "write '#!netbench delay SECONDS'"),
        (b"#!netbench delay soon\n", "not a number of seconds"),
        (b"#!netbench delay -1\n", "between 0 and"),
        (b"#!netbench delay nan\n", "between 0 and"),
        (b"#!netbench drip 0.1 0\n", "at least 1"),
        (b"#!netbench drip 0.1 1 2\n", "write '#!netbench drip SECONDS"),
        (b"#!netbench close-after tail\n", "not a whole number"),
        (b"#!netbench reset-after head+x\n", "not a whole number"),
        (b"#!netbench delay 1\n#!netbench delay 2\n", "line 2 .*given twice"),
        (b"#!netbench close-after 1\n#!netbench reset-after 1\n", "exclude each other"),
        (b"#!netbench body-file\n", "needs a file name"),
        ("#!netbench delay 1\u00a0\n".encode(), "plain ASCII"),
    ],
)
def test_wrong_directives_name_the_line(lines: bytes, message: str) -> None:
    with pytest.raises(DirectiveError, match=message):
        parse_directives(lines + RESPONSE)


def test_other_hash_bang_lines_are_not_directives() -> None:
    directives, rest = parse_directives(b"#!/bin/sh\n" + RESPONSE)
    assert directives.plain and rest.startswith(b"#!/bin/sh")


def test_a_plain_response_is_one_write() -> None:
    reply = raw_reply(RESPONSE)
    assert reply.simple == HEAD + b"hello"


def test_drip_sends_the_head_then_the_body_in_pieces() -> None:
    reply = raw_reply(b"#!netbench drip 0.1 2\n" + RESPONSE)
    assert reply.steps == (
        HEAD,
        Pause(0.1),
        b"he",
        Pause(0.1),
        b"ll",
        Pause(0.1),
        b"o",
    )
    assert reply.response.status == 200 and reply.response.body == b"hello"


def test_delay_waits_before_anything() -> None:
    reply = raw_reply(b"#!netbench delay 2\n" + RESPONSE)
    assert reply.steps == (Pause(2.0), HEAD + b"hello")


@pytest.mark.parametrize(
    ("directive", "sent", "hangup"),
    [
        (b"close-after head", HEAD, Hangup.CLOSE),
        (b"close-after head+2", HEAD + b"he", Hangup.CLOSE),
        (b"reset-after head", HEAD, Hangup.RESET),
        (b"reset-after 8", b"HTTP/1.1", Hangup.RESET),
        (b"close-after 100000", HEAD + b"hello", Hangup.CLOSE),
    ],
)
def test_cuts_send_part_then_hang_up(directive: bytes, sent: bytes, hangup: Hangup) -> None:
    reply = raw_reply(b"#!netbench " + directive + b"\n" + RESPONSE)
    assert reply.steps == (sent, hangup)


def test_close_after_zero_sends_nothing() -> None:
    assert raw_reply(b"#!netbench close-after 0\n" + RESPONSE).steps == (Hangup.CLOSE,)


def test_a_cut_response_is_described_as_sent() -> None:
    reply = raw_reply(b"#!netbench close-after head\n" + RESPONSE)
    assert reply.response.body == b""


def test_directives_are_stripped_in_raw_mode_too() -> None:
    raw = b"HTTP/1.1 200 OK\nContent-Length: 9\n\nshort"
    reply = raw_reply(b"#!netbench delay 0.5\n" + raw, raw_mode=True)
    assert reply.steps == (Pause(0.5), raw)


def test_a_wrong_directive_gets_a_500_page_naming_it() -> None:
    reply = raw_reply(b"#!netbench drip fast\n" + RESPONSE, source="file x.http")
    page = reply.simple
    assert page is not None and page.startswith(b"HTTP/1.1 500 ")
    assert b"line 1" in page and b"#!netbench drip fast" in page
    assert not reply.keep_alive


def test_body_file_is_loaded_by_the_caller() -> None:
    jpeg = b"\xff\xd8binary\x00\xff\xd9"
    raw = b"#!netbench body-file test.jpg\nHTTP/1.1 200 OK\nContent-Type: image/jpeg\n\n"
    reply = raw_reply(raw, load_file=lambda name: jpeg if name == "test.jpg" else b"")
    assert reply.simple is not None
    assert reply.simple.endswith(b"Content-Length: 11\r\n\r\n" + jpeg)


def test_body_file_for_head_announces_the_length() -> None:
    raw = b"#!netbench body-file a\nHTTP/1.1 200 OK\n\n"
    reply = raw_reply(raw, head_only=True, load_file=lambda name: b"12345")
    assert reply.simple == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"


@pytest.mark.parametrize(
    ("raw", "loader_fails", "message"),
    [
        (b"#!netbench body-file a\nHTTP/1.1 200 OK\n\ntyped body", False, b"delete the text"),
        (b"#!netbench body-file a\nHTTP/1.1 200 OK\n\n", True, b"body-file a: gone"),
    ],
)
def test_body_file_problems_are_500s(raw: bytes, loader_fails: bool, message: bytes) -> None:
    def load(name: str) -> bytes:
        if loader_fails:
            raise OSError("gone")
        return b"x"

    page = raw_reply(raw, load_file=load).simple
    assert page is not None and page.startswith(b"HTTP/1.1 500 ") and message in page


def test_body_file_needs_a_loader() -> None:
    page = raw_reply(b"#!netbench body-file a\nHTTP/1.1 200 OK\n\n").simple
    assert page is not None and b"no file access" in page


def test_without_auto_length_the_typed_content_length_goes_out() -> None:
    raw = b"HTTP/1.1 200 OK\nContent-Length: 99\n\nshort"
    assert normalize_raw(raw, fix_length=False) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort"
    )
    bare = normalize_raw(b"HTTP/1.1 200 OK\n\nbody", fix_length=False)
    assert bare == b"HTTP/1.1 200 OK\r\n\r\nbody"
    reply = raw_reply(b"HTTP/1.1 200 OK\n\nbody", fix_length=False)
    assert reply.simple == bare and not reply.keep_alive  # delimited by the close
