"""What an HTTP server accepts from a client, and the answer past each limit.

Every limit has the command-line option that sets it (`OPTION`): a refusal
page names the option, so the user who hit a limit on purpose knows how to
lift it. The defaults are those of mature servers (nginx's 8 KiB request
line, a 64 KiB head, 100 fields as in Go's net/http order of magnitude),
generous enough for any browser and small enough that a hostile client
cannot make a server hold megabytes of half-read headers.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from netbench.model import Headers

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_request_line: int = 8192
    """Bytes of the request target; longer gets 414 URI Too Long."""
    max_header_bytes: int = 64 * 1024
    """Bytes of all header fields together; more gets 431."""
    max_header_fields: int = 100
    """Number of header fields; more gets 431."""
    max_body: int = 100 * MIB
    """Bytes of a request body; a larger Content-Length (or chunked total) gets 413."""
    header_timeout: float = 10.0
    """Seconds from a request's first byte to the end of its head; slower gets 408."""
    max_connections: int = 1000
    """Open connections per server; one more is answered 503 (HTTP) or closed, then freed."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names accepted besides loopback names and the bound address."""
    any_host: bool = False
    """Turn the Host check (DNS rebinding defence) off."""

    def options(self) -> dict[str, object]:
        """The limits as recorded with the server's options."""
        return {
            "max_request_line": self.max_request_line,
            "max_header_bytes": self.max_header_bytes,
            "max_header_fields": self.max_header_fields,
            "max_body": self.max_body,
            "header_timeout": self.header_timeout,
            "max_connections": self.max_connections,
            "allowed_hosts": list(self.allowed_hosts),
            "any_host": self.any_host,
        }


OPTION = {
    "max_request_line": "--max-request-line",
    "max_header_bytes": "--max-header-bytes",
    "max_header_fields": "--max-header-fields",
    "max_body": "--max-body",
    "header_timeout": "--header-timeout",
    "max_connections": "--max-connections",
    "allowed_hosts": "--allow-host",
    "any_host": "--any-host",
}
"""The `netbench serve` option of each limit (the refusal pages quote these)."""


# -- the Host check --------------------------------------------------------------------

_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def host_name(value: bytes) -> str:
    """The host of a Host header value or an absolute-form authority, lowercased.

    `[::1]:8000` -> `::1`, `LOCALHOST.:80` -> `localhost`. Bytes that are not
    ASCII stay as latin-1 text: they can never match an allowed name.
    """
    text = value.decode("latin-1").strip().lower()
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end != -1 else text
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".")


def _is_ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)  # each new connection checks its Host again
def is_loopback(name: str) -> bool:
    """`localhost`, a `*.localhost` name (RFC 6761) or a loopback address (127/8, ::1)."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _is_ip(name)
    return address is not None and address.is_loopback


def host_allowed(name: str, bound: str, limits: HttpLimits) -> bool:
    """Whether a request naming host `name` may be served by a server bound to `bound`.

    DNS rebinding needs a name the attacker controls that resolves to us, so
    loopback names and addresses and the bound address are safe; when bound
    to every address (0.0.0.0), any IP literal is one of ours by definition.
    """
    if limits.any_host or name in limits.allowed_hosts or is_loopback(name):
        return True
    address = _is_ip(name)
    if address is None:
        return name == bound.lower()
    if bound in _WILDCARDS:
        return True
    bound_address = _is_ip(bound)
    return bound_address is not None and address == bound_address


def request_host(target: bytes, headers: Headers) -> bytes | None:
    """The authority a request names: an absolute-form target's, else its Host
    header's; None when it names none."""
    if target[:7].lower() == b"http://" or target[:8].lower() == b"https://":
        return target.split(b"://", 1)[1].split(b"/", 1)[0]
    for field, value in headers:
        if len(field) == 4 and field.lower() == b"host":
            return value
    return None


def host_refusal(value: bytes, bound: str, limits: HttpLimits) -> str | None:
    """Why a request naming host `value` is not served (a 403), or None."""
    name = host_name(value)
    if host_allowed(name, bound, limits):
        return None
    return (
        f"Host {name!r} is not a name of this server: a page on another site may be "
        f"reaching it through DNS rebinding. If you trust that name, start the "
        f"server with {OPTION['allowed_hosts']} {name} (or {OPTION['any_host']})."
    )
