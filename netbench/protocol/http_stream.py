"""Requests read as they arrive: the head as soon as it is complete, then the body piece by piece.

An application host (engine/app_host.py) starts the app at the head and
hands it the body as llhttp decodes it (chunked framing removed), so a
100 MB upload is read as it arrives instead of after it. Sans-I/O, like
http_parse.py, whose reader this extends: `read` returns, in order, the
heads completed (`RequestHead`), the body pieces (bytes, each belonging to
the last head) and what `RequestReader.feed` returns (the requests
completed, or the failure).
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from netbench.model import HttpRequest
from netbench.protocol.http_parse import ParsedRequest, ParseFailure, RequestReader


class RequestHead(NamedTuple):
    """A request whose head is complete and whose body (if any) follows."""

    request: HttpRequest
    """Method, target, version and headers; no body yet (`body_len` 0)."""
    first_chunk: int
    t_start: float


Read = ParsedRequest | ParseFailure | RequestHead | bytes


class StreamingRequestReader(RequestReader):
    def read(self, data: bytes, seq: int, t: float) -> list[Read]:
        """Feed one chunk; the heads, body pieces, requests and failure it brought, in order."""
        return cast(list[Read], self.feed(data, seq, t))

    def _emit(self, item: RequestHead | bytes) -> None:
        cast(list[Any], self._out).append(item)

    # httptools callbacks, after the reader's own

    def on_headers_complete(self) -> None:
        super().on_headers_complete()  # a refusal (413 announced) raises: no head then
        parser = self._parser
        head = HttpRequest(
            parser.get_method(),
            self._url,
            parser.get_http_version(),
            tuple(self._headers),
            b"",
            0,
            False,
            parser.should_keep_alive(),
        )
        self._emit(RequestHead(head, self._first_chunk, self._t_start))

    def on_body(self, body: bytes) -> None:
        super().on_body(body)  # a body over --max-body raises: the piece is not passed on
        self._emit(body)
