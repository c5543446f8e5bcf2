"""httptools glue: fed whole, one byte at a time, and with trailing data (h11's habit)."""

from __future__ import annotations

import pytest

from netbench.protocol.http_parse import (
    ParsedRequest,
    ParseFailure,
    RequestReader,
    ResponseReader,
    describe_response,
)
from netbench.protocol.http_response_parse import chunked_last

GET = b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Case: KeepMe\r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n"
POST = b"POST /form HTTP/1.1\r\nContent-Length: 11\r\n\r\nfirstname=A"
CHUNKED = b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"


def _feed(pieces: list[bytes]) -> list[ParsedRequest | ParseFailure]:
    reader = RequestReader()
    out: list[ParsedRequest | ParseFailure] = []
    for seq, piece in enumerate(pieces):
        out.extend(reader.feed(piece, seq, float(seq)))
    return out


def _splits(data: bytes) -> dict[str, list[bytes]]:
    return {"whole": [data], "bytewise": [bytes([b]) for b in data], "halves": [data[:7], data[7:]]}


@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
@pytest.mark.parametrize(
    ("data", "method", "target", "body"),
    [
        (GET, b"GET", b"/a?b=1", b""),
        (POST, b"POST", b"/form", b"firstname=A"),
        (CHUNKED, b"PUT", b"/", b"abcde"),
    ],
)
def test_requests_parse_however_they_are_split(
    how: str, data: bytes, method: bytes, target: bytes, body: bytes
) -> None:
    pieces = _splits(data)[how]
    [parsed] = _feed(pieces)
    assert isinstance(parsed, ParsedRequest)
    assert (parsed.request.method, parsed.request.target, parsed.request.body) == (
        method,
        target,
        body,
    )
    assert parsed.first_chunk == 0 and parsed.last_chunk == len(pieces) - 1


def test_headers_keep_wire_order_case_and_duplicates() -> None:
    [parsed] = _feed([GET])
    assert isinstance(parsed, ParsedRequest)
    assert parsed.request.headers == (
        (b"Host", b"x"),
        (b"X-Case", b"KeepMe"),
        (b"x-dup", b"1"),
        (b"X-Dup", b"2"),
    )
    assert parsed.request.header(b"x-case") == b"KeepMe"


def test_pipelined_requests_share_their_chunk() -> None:
    parsed = _feed([GET + POST + GET[:10], GET[10:]])
    assert [type(p) for p in parsed] == [ParsedRequest] * 3
    assert [(p.first_chunk, p.last_chunk) for p in parsed] == [(0, 0), (0, 0), (0, 1)]


def test_garbage_fails_once_and_the_reader_stops() -> None:
    reader = RequestReader()
    [failure] = reader.feed(b"\x00\x01\x02 hello\r\n\r\n", 0, 0.0)
    assert isinstance(failure, ParseFailure) and failure.error
    assert reader.feed(GET, 1, 1.0) == []


def test_body_is_capped_but_counted() -> None:
    reader = RequestReader(body_limit=4)
    [parsed] = reader.feed(POST, 0, 0.0)
    assert isinstance(parsed, ParsedRequest)
    assert parsed.request.body == b"firs" and parsed.request.body_len == 11
    assert parsed.request.body_truncated


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 200, None),
        (b"HTTP/1.x 200 OK\r\n\r\nseed 003 wrote this", None, "minor version"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 200, "closed after 5 of 10 body"),
        (b"", None, "empty response"),
    ],
)
def test_describe_response(raw: bytes, status: int | None, error: str | None) -> None:
    described = describe_response(raw)
    assert described.status == status
    if error is None:
        assert described.error is None
    else:
        assert described.error is not None and error in described.error


def test_response_to_head_has_no_body_whatever_content_length_says() -> None:
    reader = ResponseReader(head_only=True)
    assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
    assert reader.response is not None and reader.response.body_len == 0


EXPECT = b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n"


@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
def test_a_head_waiting_for_100_continue_is_offered_once(how: str) -> None:
    reader = RequestReader()
    offered = []
    for seq, piece in enumerate(_splits(EXPECT)[how]):
        reader.feed(piece, seq, float(seq))
        head = reader.take_continue()
        if head is not None:
            offered.append(head)
    assert len(offered) == 1 and offered[0].request.target == b"/up"
    assert reader.take_continue() is None
    [done] = reader.feed(b"hello", 99, 99.0)
    assert isinstance(done, ParsedRequest) and done.request.body == b"hello"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(EXPECT.replace(b"HTTP/1.1", b"HTTP/1.0"), id="http-1.0"),
        pytest.param(EXPECT + b"he", id="body-begun"),
        pytest.param(EXPECT.replace(b"Content-Length: 5", b"Content-Length: 0"), id="no-body"),
        pytest.param(EXPECT.replace(b"100-Continue", b"something-else"), id="other-expectation"),
    ],
)
def test_no_100_continue_when_nothing_waits_for_it(data: bytes) -> None:
    reader = RequestReader()
    reader.feed(data, 0, 0.0)
    assert reader.take_continue() is None


CUT = b"HTTP/1.1 200 OK\r\nContent-Length: 250\r\n\r\n" + b"x" * 30
UNFRAMED = b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 30


@pytest.mark.parametrize(
    ("raw", "how", "error"),
    [
        (CUT, "reset", "cut short: the connection was reset after 30 of 250 body bytes"),
        (CUT, "closed", "cut short: the connection closed after 30 of 250 body bytes"),
        (UNFRAMED, "reset", "cut short: the connection was reset after 30 body bytes"),
        (UNFRAMED, "closed", None),  # a body delimited by the close: whole at the FIN
        (UNFRAMED, "timeout", "cut short: the client stopped waiting after 30 body bytes"),
    ],
    ids=["length-reset", "length-closed", "unframed-reset", "unframed-closed", "unframed-timeout"],
)
def test_a_response_cut_short_says_how_and_after_how_much(
    raw: bytes, how: str, error: str | None
) -> None:
    reader = ResponseReader()
    assert not reader.feed(raw)
    response = reader.feed_eof(how)
    assert response is not None and response.status == 200 and response.body_len == 30
    assert response.error == error


@pytest.mark.parametrize(
    ("framing", "error"),
    [
        (b"Transfer-Encoding: gzip\r\n", None),
        (b"Transfer-Encoding: chunked\r\n", "cut short: the connection closed after 0 body bytes"),
    ],
    ids=["gzip-alone", "chunked"],
)
def test_a_last_coding_other_than_chunked_ends_at_the_close(
    framing: bytes, error: str | None
) -> None:
    # RFC 9112 §6.3: Transfer-Encoding without chunked last is delimited by
    # the close; it was "cut short" at every close. (With a Content-Length
    # too, llhttp refuses the head.)
    reader = ResponseReader()
    body = b"" if b"chunked" in framing else b"x" * 30
    assert not reader.feed(b"HTTP/1.1 200 OK\r\n" + framing + b"\r\n" + body)
    response = reader.feed_eof("closed")
    assert response is not None and response.status == 200 and response.error == error


@pytest.mark.parametrize(
    ("value", "last"),
    [(None, False), (b"chunked", True), (b"gzip, Chunked ", True), (b"chunked, gzip", False)],
)
def test_chunked_counts_only_as_the_last_coding(value: bytes | None, last: bool) -> None:
    assert chunked_last(value) is last


INTERIM = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
FINAL = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"


@pytest.mark.parametrize("head_only", [False, True])
@pytest.mark.parametrize("how", ["whole", "bytewise", "halves"])
def test_interim_responses_are_read_past_to_the_final_one(how: str, head_only: bool) -> None:
    reader = ResponseReader(head_only=head_only)
    final = FINAL.removesuffix(b"final") if head_only else FINAL  # a HEAD's has no body
    read = 0
    for piece in _splits(INTERIM + final)[how]:
        read += len(piece)
        assert reader.feed(piece) == (read == len(INTERIM + final))  # done at the very end
    response = reader.response
    assert response is not None and response.status == 200
    assert response.headers == ((b"Content-Length", b"5"),)  # not the hints' Link
    assert response.body == (b"" if head_only else b"final")


def test_an_interim_response_alone_is_not_the_response() -> None:
    reader = ResponseReader()
    assert not reader.feed(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert reader.response is None
    assert reader.feed(FINAL) and reader.response is not None
    assert reader.response.status == 200
