"""A message's body read again from its bytes, piece by piece (protocol/body_stream.py)."""

from __future__ import annotations

import pytest

from netbench.protocol.body_stream import BodyStream

BIG = bytes(range(256)) * 40
PUT = b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
)


def body_of(data: bytes, *, response: bool = False, skip: int = 0, step: int = 0) -> bytes:
    stream = BodyStream(response=response, skip=skip)
    pieces: list[bytes] = []
    size = step or len(data)
    for at in range(0, len(data), size):
        pieces.extend(stream.feed(data[at : at + size]))
    assert stream.error is None
    assert stream.done
    return b"".join(pieces)


@pytest.mark.parametrize("step", [0, 1, 7, 4096])
def test_body_whole_or_fed_in_pieces(step: int) -> None:
    assert body_of(PUT, step=step) == BIG
    assert body_of(CHUNKED, response=True, step=step) == b"hello, world"


def test_the_messages_before_are_skipped() -> None:
    two = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + PUT + b"GET /next HTTP/1.1\r\n\r\n"
    assert body_of(two, skip=1) == BIG


def test_an_interim_response_belongs_to_no_exchange() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + CHUNKED
    assert body_of(answer, response=True) == b"hello, world"


def test_bytes_that_are_not_http_say_why_and_stop() -> None:
    stream = BodyStream(response=False)
    assert stream.feed(b"\x16\x03\x01 a TLS hello") == []
    assert stream.error
    assert stream.feed(PUT) == []


def test_a_body_cut_short_gives_what_came() -> None:
    stream = BodyStream(response=False)
    pieces = stream.feed(PUT[:-100])
    assert b"".join(pieces) == BIG[:-100]
    assert not stream.done
    assert stream.body_len == len(BIG) - 100
