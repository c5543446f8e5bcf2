"""Where a recorded request's bytes begin and end in its connection's stream. Pure.

The session links an exchange to the chunks that carried its request
(`req_first_chunk`, `req_last_chunk`), but a chunk is what one `recv`
returned: pipelined requests share chunks, so the request's own bytes are
found by reading the stream again with llhttp, as the server did.

Rules:
- chunks are fed in order, one direction only (the one the requests went);
  before the request's first chunk they are fed whole (llhttp is fast);
  its first and last chunk are fed a byte at a time, so the offsets at which
  llhttp begins and completes the request are exact;
- a request that never completed (malformed, cut short, refused at a limit
  the reading here does not have) ends with its last recorded chunk: the
  bytes the server received for it, malformed ones included;
- a request llhttp failed on before it began (binary garbage) begins where
  the previous one ended.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import httptools

__all__ = ["RequestSpan", "find_request_span"]


class RequestSpan(NamedTuple):
    start: int
    """Stream offset of the request's first byte."""
    end: int
    """Stream offset just past its last byte."""


class _Counter:
    """The callback object: notes the position of each message's begin and end."""

    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        self.begun = 0
        self.position = 0
        """Stream offset of the byte being fed (exact while feeding byte by byte)."""
        self.previous_end = 0
        self.start: int | None = None
        self.end: int | None = None

    def on_message_begin(self) -> None:
        if self.begun == self.wanted:
            self.start = self.position
        self.begun += 1

    def on_message_complete(self) -> None:
        if self.begun == self.wanted + 1 and self.start is not None:
            self.end = self.position + 1
        elif self.begun <= self.wanted:
            self.previous_end = self.position + 1


def find_request_span(
    chunks: Iterable[tuple[int, int, bytes]], index: int, first_seq: int, last_seq: int
) -> RequestSpan | None:
    """The span of request number `index` (from 0) on a connection.

    `chunks` are (seq, stream offset, data) of the requests' direction in
    order. None when no chunk between `first_seq` and `last_seq` was found.
    """
    counter = _Counter(index)
    parser = httptools.HttpRequestParser(counter)
    first_offset: int | None = None
    last_end: int | None = None
    failed = False
    for seq, offset, data in chunks:
        if seq > last_seq:
            break
        if seq >= first_seq:
            first_offset = offset if first_offset is None else first_offset
            last_end = offset + len(data)
        if failed or counter.end is not None:
            continue
        try:
            if seq in (first_seq, last_seq):
                for position in range(len(data)):
                    counter.position = offset + position
                    parser.feed_data(data[position : position + 1])
                    if counter.end is not None:
                        break
            else:
                counter.position = offset  # only begin/end in the byte-fed chunks are used
                parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            failed = True  # the bytes after the upgrade are not HTTP/1
        except httptools.HttpParserError:
            failed = True
    if first_offset is None or last_end is None:
        return None
    start = counter.start
    if start is None:  # failed before it began: after the previous request, in its chunk
        start = max(counter.previous_end, first_offset)
    end = counter.end if counter.end is not None else last_end
    return RequestSpan(start, max(start, end))
