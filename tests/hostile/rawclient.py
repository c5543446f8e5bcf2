"""A client that sends exactly the bytes it is given, and reads responses strictly.

The hostile suite must not be polite: no library fixes a request line, adds a
Host header or retries. `talk()` writes raw bytes and reads until the server
closes or a deadline passes; `responses()` parses what came back with llhttp
(httptools), so a malformed response fails the test instead of being guessed
at.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httptools
from httpkit import status_of

SECRET = b"TOP-SECRET-CONTENT"
"""In a file beside the static server's root: no request may ever read it."""

READ_TIMEOUT = 5.0
"""Seconds a case waits for a server to answer or close before it fails."""


@dataclass
class Reply:
    data: bytes
    closed: bool
    """The server closed the connection (EOF or reset) before the deadline."""
    seconds: float
    """From the first byte sent to EOF, or to the deadline."""


def connect(port: int, timeout: float = READ_TIMEOUT) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_until_closed(sock: socket.socket, timeout: float = READ_TIMEOUT) -> Reply:
    """Everything the server sends until it closes, or until `timeout` s pass."""
    data = b""
    started = time.monotonic()
    deadline = started + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            break
        except ConnectionResetError:
            return Reply(data, True, time.monotonic() - started)
        if not chunk:
            return Reply(data, True, time.monotonic() - started)
        data += chunk
    return Reply(data, False, time.monotonic() - started)


def talk(
    port: int,
    parts: bytes | Iterable[bytes],
    *,
    gap: float = 0.0,
    half_close: bool = False,
    timeout: float = READ_TIMEOUT,
) -> Reply:
    """Send `parts` (with `gap` s between them), optionally SHUT_WR, read to close."""
    started = time.monotonic()
    with connect(port) as sock:
        for index, part in enumerate([parts] if isinstance(parts, bytes) else parts):
            if index and gap:
                time.sleep(gap)  # the pacing is the attack (slowloris), not a wait
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server gave up on us: read what it said
        if half_close:
            # The server may have answered and reset already (bytes after a
            # 400 are refused): then there is nothing left to half-close.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        reply = read_until_closed(sock, timeout)
    reply.seconds = time.monotonic() - started
    return reply


def reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN (SO_LINGER with a zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    """Lower-case names; a repeated field keeps its last value."""
    body: bytes = b""


class _Collector:
    def __init__(self) -> None:
        self.done: list[Response] = []
        self.current: Response | None = None
        self.parser: httptools.HttpResponseParser | None = None

    def on_message_begin(self) -> None:
        self.current = Response(0)

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        self.current.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self.current is not None and self.parser is not None
        self.current.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        assert self.current is not None
        self.current.body += body

    def on_message_complete(self) -> None:
        assert self.current is not None
        self.done.append(self.current)
        self.current = None


def responses(data: bytes, *, closed: bool = True) -> list[Response]:
    """Every complete response in `data`; raises AssertionError if any is malformed.

    netbench frames every response it sends (Content-Length or chunked), so
    bytes left over once the server closed (`closed`) are a truncated or
    close-delimited response: a failure here.
    """
    collector = _Collector()
    parser = collector.parser = httptools.HttpResponseParser(collector)
    try:
        parser.feed_data(data)
    except httptools.HttpParserError as error:
        raise AssertionError(f"malformed response ({error}): {data[:300]!r}") from None
    assert collector.current is None or not closed, f"truncated response: {data[-300:]!r}"
    return collector.done


def only_response(reply: Reply) -> Response:
    """The one response a refused request gets; the connection must be closed after it."""
    got = responses(reply.data, closed=reply.closed)
    assert len(got) == 1, f"expected one response, got {len(got)}: {reply.data[:300]!r}"
    return got[0]


def still_answers(port: int, path: str = "/", timeout: float = 2.0) -> int:
    """A normal request, as any client sends it; its status (fails past `timeout`)."""
    return status_of(port, path, timeout)
