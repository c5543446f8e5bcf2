"""A short, bounded fuzz run against a real server: mutated and random requests,
sent whole, a byte at a time or split at random points, then half-closed.

Whatever arrives, every byte the server sends back must parse as well-formed
HTTP responses, the connection must end within the deadline, and (the
`survives` check) the server still answers a normal request afterwards.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from payloads import HOST
from rawclient import responses, talk

SEEDS = [
    b"GET / HTTP/1.1\r\n" + HOST + b"\r\n",
    b"POST /form HTTP/1.1\r\n" + HOST + b"Content-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 11\r\n\r\nfirstname=a",
    b"PUT /json HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
    b'7\r\n{"a":1}\r\n0\r\n\r\n',
    b"GET /test.jpg HTTP/1.0\r\n\r\n",
    b"DELETE /x HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n",
]
"""Valid requests (no HEAD: its response has no body, which the strict reader cannot know)."""


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed request (or several pipelined) with a few bytes replaced, inserted or cut."""
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=3))))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from([0, 0x0A, 0x0D, 0x1B, 0x20, 0x3A, 0x7F, 0xFF, ord("9")]))
        if action == "replace":
            data[at] = byte
        elif action == "insert":
            data.insert(at, byte)
        else:
            del data[at]
    return bytes(data)


REQUESTS = st.one_of(mutated(), st.binary(min_size=1, max_size=300))


def split(data: bytes, how: str, cuts: list[int]) -> list[bytes]:
    if how == "whole":
        return [data]
    if how == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@pytest.mark.timeout(120)
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same cases in every run: a failure here is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    request_bytes=REQUESTS,
    how=st.sampled_from(["whole", "bytes", "random"]),
    cuts=st.lists(st.integers(0, 1000), max_size=8),
)
def test_whatever_arrives_the_answer_is_well_formed_http(
    http_server, request_bytes: bytes, how: str, cuts: list[int]
) -> None:
    reply = talk(http_server.port, split(request_bytes, how, cuts), half_close=True, timeout=3.0)
    assert reply.closed, f"the connection stayed open after the client's FIN: {request_bytes!r}"
    for response in responses(reply.data):  # raises on any malformed or truncated response
        assert 200 <= response.status <= 599
