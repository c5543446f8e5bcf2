"""Where a proxy sends a request: its upstream, or the destination the request names. Sans-I/O.

A reverse proxy sends everything to its upstream (an absolute-form target is
cut to its path); a forward proxy takes absolute-form `http://` targets and
`CONNECT host:port`, and reaches only loopback hosts unless allowed others.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from netbench.model import HttpRequest
from netbench.protocol.limits import is_loopback


class Refused(Exception):
    """The proxy will not forward this request: (status, message) for its page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def destination(
    request: HttpRequest, upstream: tuple[str, int] | None, *, allow_remote: bool
) -> tuple[str, int, bytes]:
    """(host, port, target to send) for a request; Refused if it goes nowhere."""
    target = request.target
    if request.method == b"CONNECT":
        if upstream is not None:
            raise Refused(405, "CONNECT is for a forward proxy: this one has an --upstream")
        name, _, digits = target.decode("latin-1").rpartition(":")
        host, port = _allowed(allow_remote, name.strip("[]"), _port(digits, target))
        return host, port, target
    absolute = target[:7].lower() == b"http://"
    if upstream is not None:
        if absolute:  # a client that thinks we are a forward proxy: forward the path
            parts = urlsplit(target.decode("latin-1"))
            target = (parts.path or "/").encode("latin-1") + (
                b"?" + parts.query.encode("latin-1") if parts.query else b""
            )
        return upstream[0], upstream[1], target
    if not absolute:
        raise Refused(
            400,
            "This is a forward proxy: send absolute-form requests (curl -x, a browser's "
            "proxy setting) or CONNECT, or start it with --upstream HOST:PORT",
        )
    parts = urlsplit(target.decode("latin-1"))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        number = parts.port or 80
    except ValueError:
        raise Refused(400, f"{target!r} has no valid port") from None
    host, port = _allowed(allow_remote, parts.hostname or "", number)
    return host, port, path.encode("latin-1")


def _allowed(allow_remote: bool, host: str, port: int) -> tuple[str, int]:
    if not host:
        raise Refused(400, "the request names no host to forward to")
    if not allow_remote and not is_loopback(host.lower()):
        raise Refused(
            403,
            f"{host} is not on this machine: this proxy only reaches loopback "
            "destinations (start it with --allow-remote to reach others)",
        )
    return host, port


def _port(text: str, target: bytes) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise Refused(400, f"CONNECT needs HOST:PORT, not {target!r}")
    return int(text)
