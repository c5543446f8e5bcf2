"""Compose an HTTP/1.1 request as bytes, the way curl would send it. Pure.

The HTTP client can also send bytes exactly as given; this is only for the
convenient form (method, URL, headers, body).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from netbench import __version__

USER_AGENT = f"netbench/{__version__}".encode()


class UrlError(ValueError):
    """The URL cannot be used; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    target: bytes
    """The request-target: path and query, percent-encoded as given."""
    authority: bytes
    """The Host header value."""


def parse_url(url: str) -> Target:
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme == "https":
        raise UrlError(
            "https is not supported: netbench shows plain bytes on the wire (use http://)"
        )
    if parts.scheme != "http":
        raise UrlError(f"unsupported scheme {parts.scheme!r} in {url!r} (use http://)")
    if not parts.hostname:
        raise UrlError(f"no host in {url!r}")
    try:
        port = parts.port or 80
    except ValueError:
        raise UrlError(f"bad port in {url!r}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname
    authority = parts.netloc.rsplit("@", 1)[-1]
    try:
        return Target(host, port, target.encode("ascii"), authority.encode("idna"))
    except UnicodeError:
        raise UrlError(f"URL must be ASCII (percent-encode it): {url!r}") from None


def parse_header(text: str) -> tuple[bytes, bytes]:
    """'Name: value' as given on a command line (curl's -H)."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"header must look like 'Name: value', got {text!r}")
    return name.strip().encode("latin-1"), value.strip().encode("latin-1")


def compose_request(
    method: str,
    target: Target,
    headers: tuple[tuple[bytes, bytes], ...] = (),
    body: bytes = b"",
) -> bytes:
    """Request line, Host, User-Agent, Accept and Content-Length unless given."""
    given = {name.lower() for name, _value in headers}
    lines = [method.encode("ascii") + b" " + target.target + b" HTTP/1.1"]
    if b"host" not in given:
        lines.append(b"Host: " + target.authority)
    if b"user-agent" not in given:
        lines.append(b"User-Agent: " + USER_AGENT)
    if b"accept" not in given:
        lines.append(b"Accept: */*")
    if body and b"content-length" not in given and b"transfer-encoding" not in given:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.extend(name + b": " + value for name, value in headers)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
