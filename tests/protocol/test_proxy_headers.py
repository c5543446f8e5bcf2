"""What the proxy sends upstream and where: headers as nginx's proxy_params, destinations."""

from __future__ import annotations

import pytest

from netbench.model import HttpRequest
from netbench.protocol.proxy_headers import (
    ForwardedHeads,
    ForwardPolicy,
    changes,
    parse_added,
    response_headers,
    upstream_headers,
)
from netbench.protocol.proxy_target import Refused, destination

CLIENT = [
    (b"Host", b"127.0.0.1:8099"),
    (b"Connection", b"keep-alive, X-Secret"),
    (b"X-Secret", b"hop"),
    (b"Keep-Alive", b"timeout=5"),
    (b"X-Forwarded-For", b"10.0.0.1"),
    (b"Content-Length", b"3"),
]


def sent(policy: ForwardPolicy) -> dict[bytes, bytes]:
    headers = upstream_headers(CLIENT, policy, client_ip="127.0.0.1", upstream="127.0.0.1:8001")
    return {name.lower(): value for name, value in headers}


def test_the_default_adds_what_proxy_params_adds_and_drops_hop_by_hop_headers() -> None:
    headers = sent(ForwardPolicy())
    assert headers[b"host"] == b"127.0.0.1:8099"
    assert headers[b"x-forwarded-for"] == b"10.0.0.1, 127.0.0.1"
    assert headers[b"x-real-ip"] == b"127.0.0.1"
    assert headers[b"x-forwarded-proto"] == b"http" and headers[b"via"] == b"1.1 netbench"
    assert headers[b"content-length"] == b"3"  # the body's framing stays
    for dropped in (b"connection", b"x-secret", b"keep-alive"):  # X-Secret: named by Connection
        assert dropped not in headers


def test_each_change_can_be_turned_off() -> None:
    headers = sent(ForwardPolicy(added=frozenset(), host="upstream", keep_hop_by_hop=True))
    assert headers[b"host"] == b"127.0.0.1:8001"
    assert headers[b"x-forwarded-for"] == b"10.0.0.1" and b"via" not in headers
    assert headers[b"connection"] == b"keep-alive, X-Secret" and headers[b"x-secret"] == b"hop"
    assert sent(ForwardPolicy(host="app.internal"))[b"host"] == b"app.internal"


def test_parse_added_and_the_changes_listed() -> None:
    assert parse_added("none") == frozenset() and len(parse_added("all")) == 4
    assert parse_added("Via, x-real-ip") == {"via", "x-real-ip"}
    with pytest.raises(ValueError, match="unknown header"):
        parse_added("x-powered-by")
    upstream = upstream_headers(
        CLIENT, ForwardPolicy(added=frozenset({"via"})), client_ip="::1", upstream="h:1"
    )
    assert changes(CLIENT, upstream) == [
        "- Connection: keep-alive, X-Secret",
        "- X-Secret: hop",
        "- Keep-Alive: timeout=5",
        "+ Via: 1.1 netbench",
    ]
    back = response_headers([(b"Connection", b"close"), (b"Content-Length", b"2")], close=False)
    assert back == [(b"Content-Length", b"2")]


def request(method: bytes, target: bytes) -> HttpRequest:
    return HttpRequest(method, target, "1.1", (), b"", 0)


def test_destinations_of_a_reverse_and_a_forward_proxy() -> None:
    up = ("127.0.0.1", 8001)
    assert destination(request(b"GET", b"/a?b"), up, allow_remote=False) == (*up, b"/a?b")
    assert destination(request(b"GET", b"http://x/p?q"), up, allow_remote=False) == (*up, b"/p?q")
    forward = destination(request(b"GET", b"http://localhost:9/p"), None, allow_remote=False)
    assert forward == ("localhost", 9, b"/p")
    tunnel = destination(request(b"CONNECT", b"127.0.0.1:443"), None, allow_remote=False)
    assert tunnel == ("127.0.0.1", 443, b"127.0.0.1:443")
    remote = request(b"GET", b"http://example.com/")
    with pytest.raises(Refused, match="--allow-remote") as refused:
        destination(remote, None, allow_remote=False)
    assert refused.value.status == 403
    assert destination(remote, None, allow_remote=True) == ("example.com", 80, b"/")
    for bad in (b"/relative", b"CONNECT"):
        with pytest.raises(Refused):
            destination(request(b"GET", bad), None, allow_remote=False)
    with pytest.raises(Refused, match="HOST:PORT"):
        destination(request(b"CONNECT", b"host:0"), None, allow_remote=False)


def test_remembered_heads_are_the_rewritten_headers_as_wire_lines() -> None:
    heads = ForwardedHeads(ForwardPolicy())
    request = (*CLIENT, (b"Expect", b"100-continue"))
    headers, lines = heads.upstream(request, "127.0.0.1", "127.0.0.1:8001")
    expected = upstream_headers(
        CLIENT, ForwardPolicy(), client_ip="127.0.0.1", upstream="127.0.0.1:8001"
    )
    assert headers == tuple(expected)  # Expect is answered by the proxy, never forwarded
    assert lines == b"".join(b"%s: %s\r\n" % pair for pair in expected) + b"\r\n"
    assert heads.upstream(request, "127.0.0.1", "127.0.0.1:8001")[1] is lines  # remembered
    down, text = heads.response(((b"Content-Length", b"2"), (b"Keep-Alive", b"x")), close=True)
    assert down == ((b"Content-Length", b"2"), (b"Connection", b"close"))
    assert text == b"Content-Length: 2\r\nConnection: close\r\n\r\n"
    assert heads.response((), close=False) == ((), b"\r\n")


def test_remembered_heads_stay_bounded_under_a_flood_of_unique_headers() -> None:
    heads = ForwardedHeads(ForwardPolicy())
    for n in range(3 * ForwardedHeads.LIMIT):
        heads.upstream(((b"X-N", b"%d" % n),), "127.0.0.1", "u:1")
        heads.response(((b"X-N", b"%d" % n),), close=False)
    assert len(heads._up) <= ForwardedHeads.LIMIT and len(heads._down) <= ForwardedHeads.LIMIT
