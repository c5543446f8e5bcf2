"""Plain PEP 3333 apps, one per case the WSGI host must get right."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.validate import validator

from netbench.engine.kinds.wsgi import application as seed_application

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

validated = validator(seed_application)
"""Seed 004's app behind wsgiref's checker: it raises on any breach of PEP 3333."""

closed: list[str] = []
"""Paths whose iterable's close() was called (in the order it was)."""
closed_event = threading.Event()
slept = threading.Event()
"""Set when /sleep has slept, just before it answers."""
gate = threading.Event()
"""/gated-endless waits for it before answering (set by the test)."""
gated = threading.Event()
"""Set when /gated-endless has begun waiting for the gate."""


class Tracked:
    """An iterable that records its close() (PEP 3333: the server must call it)."""

    def __init__(self, path: str, parts: Iterable[bytes]) -> None:
        self.path = path
        self.parts = iter(parts)

    def __iter__(self) -> Iterator[bytes]:
        return self.parts

    def close(self) -> None:
        closed.append(self.path)
        closed_event.set()


class ExitOnClose(list[bytes]):
    """A one-piece answer whose close() raises SystemExit (a sys.exit() in cleanup code)."""

    def close(self) -> None:
        raise SystemExit(3)


def cases(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/environ":
        keys = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL", "CONTENT_TYPE")
        text = "\n".join(f"{key}={environ.get(key, '')}" for key in keys)
        text += f"\nHTTP_X_TEST={environ.get('HTTP_X_TEST', '')}"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [text.encode("latin-1")]
    if path == "/upload":  # reads the body in pieces, as a real app streams an upload
        digest, size, stream = hashlib.sha256(), 0, environ["wsgi.input"]
        while piece := stream.read(65536):
            digest.update(piece)
            size += len(piece)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{size} {digest.hexdigest()}".encode()]
    if path == "/slow-upload":  # behind the client: the socket must pause, then resume
        digest, size, stream = hashlib.sha256(), 0, environ["wsgi.input"]
        while piece := stream.read(65536):
            time.sleep(0.002)
            digest.update(piece)
            size += len(piece)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{size} {digest.hexdigest()}".encode()]
    if path == "/lines":  # readline over a chunked body
        lines = list(environ["wsgi.input"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d lines, last %s" % (len(lines), lines[-1] if lines else b"-")]
    if path == "/write":  # the legacy write() callable, then an iterable
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        write(b"twice ")
        return [b"then returned"]
    if path == "/generator":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked(path, (b"part %d\n" % n for n in range(3)))
    if path == "/head-aware":  # as Werkzeug does: no body at all for HEAD
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["REQUEST_METHOD"] == "HEAD":
            return []
        return (b"part %d\n" % n for n in range(3))
    if path == "/length":  # the app's own Content-Length
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return Tracked(path, iter([b"he", b"llo"]))
    if path == "/endless":  # until the client leaves
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Tracked(path, (b"x" * 65536 for _ in range(100_000)))
    if path == "/exc-info":  # an error page replacing a response not yet sent
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("changed my mind")
        except ValueError:
            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [b"sorry"]
    if path == "/raise":
        raise RuntimeError("boom <b>\x1b[31m")
    if path == "/raise-late":
        return _raise_after_first(start_response)
    if path == "/sleep":
        time.sleep(float(environ["QUERY_STRING"] or "1"))
        slept.set()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slept"]
    if path == "/gated-endless":  # answers (endlessly) only once the test says so
        gated.set()
        gate.wait(10)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Tracked(path, (b"x" * 65536 for _ in range(100_000)))
    if path == "/huge":  # 64 MiB in one piece
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [b"h" * (64 << 20)]
    if path == "/exit-on-close":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ExitOnClose([b"answered"])
    if path == "/fast":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"fast"]
    if path == "/bad-header":
        start_response("200 OK", [("X-Injected", "a\r\nSet-Cookie: evil=1")])
        return [b"never sent"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such case"]


def _raise_after_first(start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first part\n"
    raise KeyError("second part")


async def an_asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """Not for the wsgi kind: it must say so."""
