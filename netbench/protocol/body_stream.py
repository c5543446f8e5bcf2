"""One message's whole body, read again from its recorded bytes, piece by piece. Pure.

The store keeps a parsed body only up to the recording limit (1 MiB); the
chunks keep every byte. A HAR export wants the whole body of a 100 MB PUT
without holding it, so the message is parsed again from its chunks and its
body handed on as llhttp reports it, chunked framing removed.

Rules:
- the bytes fed are one direction of a connection, starting where a
  message starts (the first chunk of a message that shares no chunk with
  the message before it), and `skip` messages are passed over first: the
  messages that shared chunks with it, in order;
- a response parser passes over 1xx interim responses (100 Continue)
  without counting them: they belong to no exchange of their own;
- nothing is buffered here: `feed` returns the wanted body's pieces from
  the data just fed, and memory stays that of one chunk;
- after an error (bytes that are not HTTP/1), `error` says why and every
  later `feed` returns nothing.
"""

from __future__ import annotations

import httptools

from netbench.protocol.http_response_parse import error_text


class BodyStream:
    """Feed the bytes from a message's first chunk; take its body back in pieces."""

    def __init__(self, *, response: bool, skip: int = 0) -> None:
        self._skip = skip
        self._seen = 0
        """Messages begun so far (1xx responses not counted)."""
        self._pieces: list[bytes] = []
        self._interim = False
        self.done = False
        """The wanted message is complete."""
        self.error: str | None = None
        self.body_len = 0
        """Body bytes handed on so far."""
        parser = httptools.HttpResponseParser if response else httptools.HttpRequestParser
        self._parser = parser(self)

    def feed(self, data: bytes) -> list[bytes]:
        """The wanted body's bytes among `data`, in order (empty once done)."""
        if self.done or self.error is not None:
            return []
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.done = True  # what follows is another protocol
        except httptools.HttpParserError as error:
            if not self.done:
                self.error = error_text(error)
        pieces, self._pieces = self._pieces, []
        return pieces

    @property
    def _wanted(self) -> bool:
        return self._seen == self._skip + 1 and not self._interim and not self.done

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._interim = False

    def on_headers_complete(self) -> None:
        status = getattr(self._parser, "get_status_code", None)
        self._interim = status is not None and 100 <= status() < 200
        if not self._interim:
            self._seen += 1

    def on_body(self, body: bytes) -> None:
        if self._wanted:
            self._pieces.append(bytes(body))
            self.body_len += len(body)

    def on_message_complete(self) -> None:
        if self._wanted:
            self.done = True
