"""What a proxy changes in the headers it forwards, as nginx's `proxy_params` does. Sans-I/O.

Rules:
- the request going upstream carries the client's headers in their order and
  case, minus the hop-by-hop ones (RFC 9110 §7.6.1: Connection and the names
  it lists, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade,
  Proxy-Authorization), with `Host` as chosen, the added headers appended
  (`X-Real-IP`, `X-Forwarded-For` extending the client's, `X-Forwarded-Proto`,
  `Via`) and the body's framing kept; no Connection header: HTTP/1.1's
  default keeps the upstream connection alive for the client connection's
  next request (nginx's `keepalive` upstreams);
- the response going back drops the same hop-by-hop headers but keeps its
  framing (Transfer-Encoding, Content-Length: the body passes byte for byte);
- `changes` compares the two legs' headers for the record and the views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from netbench.model import Headers, header_value

HeaderList = Sequence[tuple[bytes, bytes]]

ADDED = ("x-real-ip", "x-forwarded-for", "x-forwarded-proto", "via")
"""The headers a proxy adds, by name (`--proxy-headers` picks among them)."""
_HOP_BY_HOP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-authenticate",
    )
)
_FRAMING = (b"content-length", b"transfer-encoding")
VIA = b"1.1 netbench"


def parse_added(text: str) -> frozenset[str]:
    """`--proxy-headers`: a comma list of ADDED names, `all` or `none`."""
    words = [word.strip().lower() for word in text.split(",") if word.strip()]
    if words in (["all"], []):
        return frozenset(ADDED) if words else frozenset()
    if words == ["none"]:
        return frozenset()
    unknown = [word for word in words if word not in ADDED]
    if unknown:
        raise ValueError(
            f"unknown header(s) {', '.join(unknown)} (choose among {', '.join(ADDED)}, "
            "or all, or none)"
        )
    return frozenset(words)


@dataclass(frozen=True, slots=True)
class ForwardPolicy:
    """What the proxy adds and changes (each configurable)."""

    added: frozenset[str] = frozenset(ADDED)
    host: str = "client"
    """`client`: the client's Host as it came (nginx's `$http_host`); `upstream`: the
    upstream's HOST:PORT (nginx's default `$proxy_host`); anything else: that value."""
    keep_hop_by_hop: bool = False


def _hop_names(headers: HeaderList) -> frozenset[bytes]:
    """The hop-by-hop names, with the ones a Connection header lists."""
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(token.strip().lower() for token in value.split(b",") if token.strip())
    return _HOP_BY_HOP | listed


def upstream_headers(
    headers: HeaderList,
    policy: ForwardPolicy,
    *,
    client_ip: str,
    upstream: str,
    scheme: str = "http",
) -> list[tuple[bytes, bytes]]:
    """The request headers to send upstream."""
    hop = frozenset() if policy.keep_hop_by_hop else _hop_names(headers)
    out: list[tuple[bytes, bytes]] = []
    forwarded_for = header_value(tuple(headers), b"x-forwarded-for")
    client_host = header_value(tuple(headers), b"host")
    for name, value in headers:
        lower = name.lower()
        if lower in hop and lower not in _FRAMING:
            continue
        if lower == b"host" and policy.host != "client":
            continue
        if lower.decode("latin-1") in policy.added:
            continue  # replaced below
        out.append((name, value))
    if policy.host == "upstream" or (policy.host == "client" and client_host is None):
        out.insert(0, (b"Host", upstream.encode("latin-1")))
    elif policy.host != "client":
        out.insert(0, (b"Host", policy.host.encode("latin-1")))
    ip = client_ip.encode("latin-1")
    if "x-real-ip" in policy.added:
        out.append((b"X-Real-IP", ip))
    if "x-forwarded-for" in policy.added:
        out.append((b"X-Forwarded-For", forwarded_for + b", " + ip if forwarded_for else ip))
    elif forwarded_for is not None:
        out.append((b"X-Forwarded-For", forwarded_for))
    if "x-forwarded-proto" in policy.added:
        out.append((b"X-Forwarded-Proto", scheme.encode("latin-1")))
    if "via" in policy.added:
        via = header_value(tuple(headers), b"via")
        out.append((b"Via", via + b", " + VIA if via else VIA))
    return out


def response_headers(headers: HeaderList, *, close: bool) -> list[tuple[bytes, bytes]]:
    """The upstream response's headers as passed to the client (framing kept)."""
    hop = _hop_names(headers)
    out = [(name, value) for name, value in headers if name.lower() not in hop]
    if close:
        out.append((b"Connection", b"close"))
    return out


class ForwardedHeads:
    """`upstream_headers` and `response_headers` remembered, with their bytes.

    A client sends the same headers on every request and an upstream its same
    few responses (Date changes once a second): rewriting them is ~30 Python
    calls a request, a lookup once known. Bounded: a flood of unique headers
    costs no memory."""

    __slots__ = ("_down", "_up", "policy")
    LIMIT = 1024

    def __init__(self, policy: ForwardPolicy) -> None:
        self.policy = policy
        self._up: dict[tuple[Headers, str, str], tuple[Headers, bytes]] = {}
        self._down: dict[tuple[Headers, bool], tuple[Headers, bytes]] = {}

    def upstream(self, headers: Headers, client_ip: str, upstream: str) -> tuple[Headers, bytes]:
        """The request's headers as sent upstream (without `Expect`), and their lines."""
        key = (headers, client_ip, upstream)
        known = self._up.get(key)
        if known is None:
            if len(self._up) >= self.LIMIT:
                self._up.clear()
            kept = [(name, value) for name, value in headers if name.lower() != b"expect"]
            out = tuple(upstream_headers(kept, self.policy, client_ip=client_ip, upstream=upstream))
            known = self._up[key] = (out, header_lines(out))
        return known

    def response(self, headers: Headers, *, close: bool) -> tuple[Headers, bytes]:
        """The response's headers as passed to the client, and their lines."""
        key = (headers, close)
        known = self._down.get(key)
        if known is None:
            if len(self._down) >= self.LIMIT:
                self._down.clear()
            out = tuple(response_headers(headers, close=close))
            known = self._down[key] = (out, header_lines(out))
        return known


def header_lines(headers: HeaderList) -> bytes:
    """What follows a head's first line: each header's line, then the empty line."""
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"


def changes(client: HeaderList, upstream: HeaderList) -> list[str]:
    """What the proxy changed between the two legs' requests: `+ Name: value`
    (added), `- Name: value` (dropped), `~ Name: old -> new` (changed)."""
    before = {name.lower(): (name, value) for name, value in client}
    after = {name.lower(): (name, value) for name, value in upstream}
    lines = []
    for lower, (name, value) in before.items():
        if lower not in after:
            lines.append(f"- {_text(name)}: {_text(value)}")
        elif after[lower][1] != value:
            lines.append(f"~ {_text(name)}: {_text(value)} -> {_text(after[lower][1])}")
    for lower, (name, value) in after.items():
        if lower not in before:
            lines.append(f"+ {_text(name)}: {_text(value)}")
    return lines


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")
