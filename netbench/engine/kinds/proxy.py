"""`proxy`: seed 004's nginx (`listen 8099`) in front of an app server, or a forward proxy.

With `--upstream HOST:PORT` a reverse proxy: every request is forwarded to
the upstream on a connection recorded and linked to the client's
(engine/proxy.py). Without, a forward proxy: absolute-form
requests (`curl -x`) and CONNECT tunnels, to loopback destinations unless
`--allow-remote`.
"""

from __future__ import annotations

from netbench.engine.kinds.common import HTTP_DEFAULTS, KEEP_ALIVE, LIVE
from netbench.engine.proxy import ProxySettings
from netbench.engine.proxy_connection import proxy_listener
from netbench.engine.registry import (
    KindOption,
    KindRuntime,
    Listener,
    ServerKind,
    register,
)
from netbench.model import Transport
from netbench.protocol.proxy_headers import ADDED, ForwardPolicy, parse_added

DEFAULT_TIMEOUT = 60.0
"""nginx's proxy_connect_timeout and proxy_read_timeout."""


def parse_upstream(text: str) -> str:
    """HOST:PORT (a bare port means 127.0.0.1), returned as HOST:PORT.

    nginx users write `proxy_pass http://127.0.0.1:8001/;`, so `http://HOST:PORT`
    is taken too (a trailing `/` dropped, port 80 by default); what the proxy
    cannot do (https upstreams, a path that would replace the request's) is
    refused here rather than as a 502 on every request."""
    text = text.strip()
    if not text:
        return ""
    wrong = f"{text!r} is not HOST:PORT (for example 127.0.0.1:8001)"
    scheme, sep, rest = text.partition("://")
    if not sep:
        rest = text if ":" in text else f"127.0.0.1:{text}"
    elif scheme.lower() != "http":
        raise ValueError(
            f"takes HOST:PORT or http://HOST:PORT, not {scheme}:// "
            "(the proxy speaks plain HTTP to its upstream)"
        )
    else:
        where, _, path = rest.partition("/")
        if not where:
            raise ValueError(wrong)
        if path or any(c in where for c in "?#"):
            raise ValueError(
                "takes HOST:PORT or http://HOST:PORT, without a path (each request's "
                f"own path is sent upstream): try {where.partition('?')[0] or '127.0.0.1:8001'}"
            )
        rest = where if ":" in where.rpartition("]")[2] else f"{where}:80"  # proxy_pass's
    host, _, port = rest.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if any(c in host for c in "/?#@ ") or not port.isdigit():
        raise ValueError(wrong)
    if not 0 < int(port) < 65536:
        raise ValueError(wrong)
    return f"{host}:{int(port)}"


def split_upstream(text: str) -> tuple[str, int] | None:
    if not text:
        return None
    host, _, port = text.rpartition(":")
    return host, int(port)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 86400:
        raise ValueError("must be between 0 (no limit) and 86400 seconds")
    return value


def _host_choice(text: str) -> str:
    value = text.strip()
    if not value or any(ord(c) < 33 or ord(c) == 127 for c in value):
        raise ValueError("--proxy-host is client, upstream or a host name")
    return value


async def _build(runtime: KindRuntime) -> Listener:
    config = runtime.config
    timeout = config.value("upstream_timeout")
    added = config.value("proxy_headers")
    settings = ProxySettings(
        upstream=split_upstream(str(config.value("upstream") or "")),
        timeout=float(timeout) if isinstance(timeout, int | float) else DEFAULT_TIMEOUT,
        policy=ForwardPolicy(
            added=parse_added(added) if isinstance(added, str) else frozenset(ADDED),
            host=str(config.value("proxy_host") or "client"),
            keep_hop_by_hop=bool(config.value("keep_hop_by_hop")),
        ),
        allow_remote=bool(config.value("allow_remote")),
    )
    return proxy_listener(runtime, settings)


UPSTREAM = KindOption(
    "upstream",
    "reverse proxy to this HOST:PORT (nginx's proxy_pass); without it, a forward proxy",
    flag="--upstream",
    metavar="HOST:PORT",
    parse=parse_upstream,
    label="Upstream",
    placeholder="HOST:PORT (blank: a forward proxy)",
)

register(
    ServerKind(
        "proxy",
        "seed 004's nginx in front of the app server (`listen 8099`): with `--upstream HOST:PORT` "
        "a reverse proxy recording each request's upstream connection linked to the client's, "
        "adding X-Real-IP, X-Forwarded-For, X-Forwarded-Proto and Via as nginx's `proxy_params` "
        "(502 when the upstream fails, 504 past `--upstream-timeout`); without, a forward proxy "
        "(`curl -x`, CONNECT tunnels) to loopback destinations unless `--allow-remote`",
        Transport.TCP,
        http=True,
        answers="the server behind the proxy",
        port=8099,  # seed 004: nginx listen 8099
        defaults=HTTP_DEFAULTS,
        build=_build,
        options=(
            UPSTREAM,
            KindOption(
                "upstream_timeout",
                f"seconds to connect upstream and of upstream silence before a 504 "
                f"(default {DEFAULT_TIMEOUT:g}; 0: no limit)",
                flag="--upstream-timeout",
                metavar="SECONDS",
                parse=_seconds,
                default=DEFAULT_TIMEOUT,
            ),
            KindOption(
                "proxy_headers",
                f"headers the proxy adds: a comma list of {', '.join(ADDED)}, or all (default), "
                "or none",
                flag="--proxy-headers",
                metavar="LIST",
                parse=lambda text: ",".join(sorted(parse_added(text))) or "none",
                default="all",
            ),
            KindOption(
                "proxy_host",
                "the Host sent upstream: client (default, as proxy_params' $http_host), "
                "upstream (its HOST:PORT) or a name",
                flag="--proxy-host",
                metavar="HOST",
                parse=_host_choice,
                default="client",
            ),
            KindOption(
                "keep_hop_by_hop",
                "forward hop-by-hop headers (Connection, Keep-Alive, Upgrade...) instead of "
                "dropping them",
                flag="--keep-hop-by-hop",
                shape="flag",
                default=False,
            ),
            KindOption(
                "allow_remote",
                "let the forward proxy reach hosts beyond this machine (a warning is shown; "
                "a usage error with --upstream)",
                flag="--allow-remote",
                shape="flag",
                default=False,
            ),
            KEEP_ALIVE,
            *LIVE,
        ),
        idle_note="keep-alive idle",
    )
)
