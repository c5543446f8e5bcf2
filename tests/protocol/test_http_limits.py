"""The request reader's limits and refusals, sans-I/O: whole, byte by byte, split anywhere."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netbench.protocol.http_parse import ParsedRequest, ParseFailure, RequestReader
from netbench.protocol.limits import HttpLimits, host_allowed, host_name

LIMITS = HttpLimits(max_request_line=64, max_header_bytes=256, max_header_fields=4, max_body=16)
HOST = b"Host: 127.0.0.1\r\n"


def read(data: bytes, pieces: list[int] | None = None) -> list[ParsedRequest | ParseFailure]:
    """Feed `data` cut at `pieces` offsets (None: whole) into a reader with LIMITS."""
    reader = RequestReader(limits=LIMITS)
    cuts = sorted({0, len(data), *(pieces or [])})
    out: list[ParsedRequest | ParseFailure] = []
    for seq, (start, end) in enumerate(itertools.pairwise(cuts)):
        out += reader.feed(data[start:end], seq, float(seq))
    return out


def byte_by_byte(data: bytes) -> list[int]:
    return list(range(len(data)))


REFUSED = {
    "long-target": (b"GET /" + b"a" * 80 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414),
    "big-header": (b"GET / HTTP/1.1\r\n" + HOST + b"X: " + b"b" * 300 + b"\r\n\r\n", 431),
    "many-fields": (b"GET / HTTP/1.1\r\n" + HOST + b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431),
    "announced-body": (b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 17\r\n\r\n", 413),
    "chunked-body": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
        b"a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
        413,
    ),
    "both-lengths": (
        b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    "http-0.9": (b"GET /\r\n", 505),
    "h2-preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
}


@pytest.mark.parametrize("feeding", ["whole", "byte-by-byte"])
@pytest.mark.parametrize(("data", "status"), REFUSED.values(), ids=REFUSED.keys())
def test_a_request_over_a_limit_fails_with_its_status(
    data: bytes, status: int, feeding: str
) -> None:
    out = read(data, byte_by_byte(data) if feeding == "byte-by-byte" else None)
    assert [type(item) for item in out] == [ParseFailure]
    failure = out[0]
    assert isinstance(failure, ParseFailure)
    assert failure.status == status, failure.error


def test_the_refusal_names_the_option_that_lifts_it() -> None:
    (failure,) = read(REFUSED["long-target"][0])
    assert isinstance(failure, ParseFailure) and "--max-request-line" in failure.error


def test_an_endless_header_is_refused_before_its_end_arrives() -> None:
    reader = RequestReader(limits=LIMITS)
    assert reader.feed(b"GET / HTTP/1.1\r\nX-Drip: ", 0, 0.0) == []
    out: list[ParsedRequest | ParseFailure] = []
    for seq in range(1, 40):
        out += reader.feed(b"d" * 16, seq, 0.0)
        if out:
            break
    assert isinstance(out[0], ParseFailure) and out[0].status == 431
    assert seq * 16 < 2 * LIMITS.max_header_bytes  # refused near the limit, not held


def test_a_big_head_under_the_limit_passes_however_it_is_split() -> None:
    # Each field is counted once, whether llhttp reported it or it is still arriving.
    head = (
        b"GET / HTTP/1.1\r\n" + HOST + b"".join(b"F%d: %s\r\n" % (n, b"v" * 40) for n in range(4))
    )
    limits = HttpLimits(max_header_bytes=len(head) + 16, max_header_fields=10)
    for size in (1, 7, 64, len(head) + 2):
        reader = RequestReader(limits=limits)
        data = head + b"\r\n"
        out = []
        for seq, start in enumerate(range(0, len(data), size)):
            out += reader.feed(data[start : start + size], seq, 0.0)
        assert [type(item) for item in out] == [ParsedRequest], (size, out)


def test_requests_at_the_limits_pass() -> None:
    body = b"b" * 16
    data = (
        b"POST /" + b"a" * 63 + b" HTTP/1.1\r\n" + HOST + b"A: 1\r\nB: 2\r\n"
        b"Content-Length: 16\r\n\r\n" + body
    )
    for pieces in (None, byte_by_byte(data)):
        (request,) = read(data, pieces)
        assert isinstance(request, ParsedRequest) and request.request.body == body


def test_a_request_cut_short_is_reported_at_eof() -> None:
    reader = RequestReader(limits=LIMITS)
    reader.feed(b"PUT / HTTP/1.1\r\n" + HOST + b"Content-Length: 10\r\n\r\nabc", 0, 0.0)
    failure = reader.feed_eof("reset")
    assert failure is not None and failure.request.method == b"PUT"
    assert failure.error == "connection reset before the request body was complete"
    assert RequestReader().feed_eof("closed") is None  # nothing begun, nothing to report


def test_a_request_line_llhttp_rejects_keeps_what_was_sent() -> None:
    (failure,) = read(b"GET /a\x1b]0;x\x07 HTTP/1.1\r\n\r\n")
    assert isinstance(failure, ParseFailure) and failure.status == 400
    assert failure.request.target.startswith(b"GET /a\x1b]0;x")  # recorded; shown escaped


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=12))
def test_random_bytes_split_anywhere_never_raise(data: bytes, cuts: list[int]) -> None:
    out = read(data, [cut for cut in cuts if cut < len(data)])
    failures = [item for item in out if isinstance(item, ParseFailure)]
    assert len(failures) <= 1 and (not failures or out[-1] is failures[0])
    assert all(item.status in (400, 413, 414, 431, 505) for item in failures)


REQUEST = (
    b"POST /form?x=1 HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\n\r\nhello"
    b"GET / HTTP/1.1\r\n" + HOST + b"\r\n"
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(REQUEST)), max_size=20))
def test_valid_requests_read_the_same_however_they_are_split(cuts: list[int]) -> None:
    out = read(REQUEST, cuts)
    assert [(r.request.method, r.request.body) for r in out if isinstance(r, ParsedRequest)] == [
        (b"POST", b"hello"),
        (b"GET", b""),
    ]


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (b"LOCALHOST.:8000", "localhost"),
        (b"[::1]:80", "::1"),
        (b"127.0.0.1", "127.0.0.1"),
        (b"  Example.COM ", "example.com"),
        (b"\xff\xfe", "\xff\xfe"),
    ],
)
def test_host_name(value: bytes, name: str) -> None:
    assert host_name(value) == name


@pytest.mark.parametrize(
    ("name", "bound", "allowed"),
    [
        ("localhost", "127.0.0.1", True),
        ("app.localhost", "127.0.0.1", True),
        ("127.9.9.9", "127.0.0.1", True),
        ("::1", "127.0.0.1", True),
        ("evil.example", "127.0.0.1", False),
        ("127.0.0.1.evil.example", "127.0.0.1", False),
        ("localhost.evil.example", "127.0.0.1", False),
        ("192.168.1.5", "127.0.0.1", False),
        ("192.168.1.5", "192.168.1.5", True),
        ("192.168.1.5", "0.0.0.0", True),  # bound to every address: any IP literal is ours
        ("myhost.lan", "0.0.0.0", False),
    ],
)
def test_host_allowed(name: str, bound: str, allowed: bool) -> None:
    assert host_allowed(name, bound, HttpLimits()) is allowed


def test_allow_host_and_any_host() -> None:
    assert host_allowed("dev.test", "127.0.0.1", HttpLimits(allowed_hosts=("dev.test",)))
    assert host_allowed("anything.example", "127.0.0.1", HttpLimits(any_host=True))
