"""A request's bytes found again in its connection's stream, and split as spelled."""

from __future__ import annotations

import pytest

from netbench.protocol.http_parse import ParsedRequest, RequestReader
from netbench.protocol.request_span import find_request_span
from netbench.protocol.wire_request import split_request

GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
POST = b"POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
CHUNKED = b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"
GARBAGE = b"\x16\x03\x01 not http"


def cut(stream: bytes, sizes: list[int]) -> list[tuple[int, int, bytes]]:
    """The stream as chunks of these sizes (the rest in the last), seqs 0, 2, 4... (the
    odd seqs are the other direction's)."""
    chunks, offset = [], 0
    for index, size in enumerate([*sizes, len(stream)]):
        piece = stream[offset : offset + size]
        if piece:
            chunks.append((index * 2, offset, piece))
        offset += len(piece)
    return chunks


def spans_as_the_server_read_them(chunks: list[tuple[int, int, bytes]]) -> list[bytes]:
    """Each request's bytes, found from the chunk seqs the server's reader recorded."""
    reader = RequestReader()
    stream = b"".join(data for _seq, _offset, data in chunks)
    found = []
    index = 0
    for seq, _offset, data in chunks:
        for read in reader.feed(data, seq, 0.0):
            span = find_request_span(chunks, index, read.first_chunk, read.last_chunk)
            assert span is not None
            found.append(stream[span.start : span.end])
            index += 1
            if not isinstance(read, ParsedRequest):
                return found
    return found


@pytest.mark.parametrize(
    "sizes",
    [[], [1] * 200, [5, 40, 2], [len(GET) + 3], [len(GET), len(POST)]],
    ids=["one-chunk", "byte-by-byte", "odd-cuts", "pipelined-split", "aligned"],
)
def test_pipelined_requests_are_found_exactly(sizes: list[int]) -> None:
    stream = GET + POST + CHUNKED + GET
    assert spans_as_the_server_read_them(cut(stream, sizes)) == [GET, POST, CHUNKED, GET]


def test_a_malformed_request_runs_to_the_end_of_its_last_chunk() -> None:
    stream = GET + GARBAGE
    assert spans_as_the_server_read_them(cut(stream, [])) == [GET, GARBAGE]
    assert spans_as_the_server_read_them(cut(stream, [len(GET)])) == [GET, GARBAGE]


def test_a_request_cut_short_is_what_arrived() -> None:
    chunks = cut(POST[:-1], [])
    span = find_request_span(chunks, 0, 0, 0)
    assert span is not None
    assert POST[:-1][span.start : span.end] == POST[:-1]


def test_no_chunk_no_span() -> None:
    assert find_request_span([], 0, 0, 0) is None


def test_split_keeps_spelling_whitespace_and_framing() -> None:
    wire = split_request(b"GET /x HTTP/1.1\r\nhost:a\r\nX-A:   b c  \r\nX-E:\r\n\r\n")
    assert (wire.method, wire.target, wire.version) == (b"GET", b"/x", b"1.1")
    assert wire.headers == ((b"host", b"a"), (b"X-A", b"   b c  "), (b"X-E", b""))
    assert wire.irregular == ()
    chunked = split_request(CHUNKED)
    assert chunked.body == b"3\r\nxyz\r\n0\r\n\r\n"
    assert chunked.unchunked() == b"xyz"
    assert chunked.head + chunked.body == CHUNKED


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"GET / HTTP/1.1\nHost: x\n\n", "bare LF"),
        (b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "folded"),
        (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", "not `Name: value`"),
        (b"GET  /  HTTP/1.1\r\n\r\n", "single spaces"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n", "cut short"),
        (GARBAGE, "cut short"),
    ],
)
def test_irregular_heads_are_named(raw: bytes, problem: str) -> None:
    wire = split_request(raw)
    assert any(problem in line for line in wire.irregular), wire.irregular
    assert wire.raw == raw
