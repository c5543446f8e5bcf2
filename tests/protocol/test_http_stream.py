"""The streaming request reader: heads at once, body pieces as they come, fed whole or byte by byte."""

from __future__ import annotations

import pytest

from netbench.protocol.http_parse import ParsedRequest, ParseFailure
from netbench.protocol.http_stream import RequestHead, StreamingRequestReader
from netbench.protocol.limits import HttpLimits

CHUNKED = (
    b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
)
NEXT = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"


def _read_all(data: bytes, how: str) -> list[object]:
    reader = StreamingRequestReader()
    pieces = [data] if how == "whole" else [data[i : i + 1] for i in range(len(data))]
    out: list[object] = []
    for seq, piece in enumerate(pieces):
        out.extend(reader.read(piece, seq, float(seq)))
    return out


@pytest.mark.parametrize("how", ["whole", "bytes"])
def test_a_head_then_its_decoded_body_then_the_request(how: str) -> None:
    out = _read_all(CHUNKED + NEXT, how)
    kinds = [type(item).__name__ for item in out]
    assert kinds[0] == "RequestHead" and kinds[-2:] == ["RequestHead", "ParsedRequest"]
    head = out[0]
    assert isinstance(head, RequestHead) and head.request.target == b"/up"
    assert head.request.body == b"" and head.request.keep_alive
    first_done = kinds.index("ParsedRequest")
    assert b"".join(item for item in out[1:first_done] if isinstance(item, bytes)) == b"abcde"
    done = out[first_done]
    assert isinstance(done, ParsedRequest) and done.request.body == b"abcde"


def test_a_body_over_the_limit_fails_without_passing_the_excess_on() -> None:
    reader = StreamingRequestReader(limits=HttpLimits(max_body=4))
    out = reader.read(CHUNKED, 0, 0.0)
    assert isinstance(out[0], RequestHead)
    assert b"".join(item for item in out if isinstance(item, bytes)) == b"abc"
    assert isinstance(out[-1], ParseFailure) and out[-1].status == 413
