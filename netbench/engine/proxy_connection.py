"""A client's connection to the proxy (engine/proxy.py forwards its requests).

An application host's connection (engine/app_host.py) that also keeps the
upstream leg its last request used, for its next one (nginx's `keepalive`),
and, once a CONNECT tunnel is open, passes what the client sends straight up
the tunnel's leg, reading the TLS ClientHello's server name on the way.
"""

from __future__ import annotations

from typing import Any

from netbench.engine.app_host import AppServerConnection
from netbench.engine.http_server import Deferred, RequestContext
from netbench.engine.proxy import HEAD_LIMIT, ProxyHost, ProxySettings
from netbench.engine.registry import KindRuntime, Listener
from netbench.engine.request_body import SpooledBody
from netbench.engine.upstream import UpstreamLeg
from netbench.model import EndReason, HttpRequest
from netbench.protocol.responses import Reply
from netbench.protocol.tls_hello import client_hello_sni


class ProxyConnection(AppServerConnection):
    """A client's connection to the proxy: a tunnel's bytes go straight upstream."""

    def __init__(self, *args: Any, proxy: ProxyHost, **kwargs: Any) -> None:
        super().__init__(*args, host=proxy, **kwargs)
        self.proxy = proxy
        self.tunnel: UpstreamLeg | None = None
        self.sni: str | None = None
        self._hello = b""
        self._kept: tuple[UpstreamLeg, tuple[str, int]] | None = None

    def keep(self, leg: UpstreamLeg, destination: tuple[str, int]) -> None:
        """Keep the upstream leg for this connection's next request (nginx's `keepalive`)."""
        if self._kept is not None and self._kept[0] is not leg:
            self._kept[0].close(detail="another leg was kept for the next request")
        self._kept = (leg, destination)

    def take_kept(self, destination: tuple[str, int]) -> UpstreamLeg | None:
        """The kept leg when it goes to `destination` and is still open (else it is closed)."""
        kept, self._kept = self._kept, None
        if kept is None:
            return None
        leg, where = kept
        if where == destination and not leg.is_closing and not leg.has_unread:
            return leg
        leg.close(detail="the next request went elsewhere")
        return None

    def on_open(self) -> None:
        self.proxy.connections[self.conn_id] = self

    def on_data(self, data: bytes, seq: int, t: float) -> None:
        tunnel = self.tunnel
        if tunnel is None:
            super().on_data(data, seq, t)
            return
        if self.sni is None and len(self._hello) < HEAD_LIMIT:  # the ClientHello, in clear
            self._hello += data
            self.sni = client_hello_sni(self._hello)
            if self.sni:  # however either leg ends, its record names the site
                tunnel._end_detail = self._end_detail = f"tunnel; TLS SNI {self.sni}"
        tunnel.write(data)

    def on_peer_fin(self) -> bool:
        if self.tunnel is not None:
            self.tunnel.shutdown_write()
            return True  # the upstream may still answer
        return super().on_peer_fin()

    def on_closed(self, reason: EndReason) -> None:
        self.proxy.connections.pop(self.conn_id, None)
        if self._kept is not None:
            self._kept[0].close(detail=f"the client's connection ended ({reason.value})")
        if self.tunnel is not None:
            self.tunnel.close(detail=f"the client's connection ended ({reason.value})")
        super().on_closed(reason)

    def _refusal(self, request: HttpRequest) -> tuple[int, str] | None:
        if self.proxy.settings.upstream is None and (
            request.method == b"CONNECT" or request.target[:7].lower() == b"http://"
        ):
            return None  # the destination is checked by the proxy (loopback unless allowed)
        return super()._refusal(request)


def proxy_listener(runtime: KindRuntime, settings: ProxySettings) -> Listener:
    """Connections that forward each request, behind the live rules and intercept."""
    config = runtime.config
    proxy = ProxyHost(runtime, settings)

    def site(request: HttpRequest, context: RequestContext) -> Reply | Deferred:
        body = context.body if context.body is not None else SpooledBody(request.body)
        return proxy.call(request, context, body)

    handler = runtime.http_handler(site)
    options = runtime.stream_options()

    def connection() -> ProxyConnection:
        return ProxyConnection(
            runtime.ctx,
            handler,
            proxy=proxy,
            answered_before_app=runtime.answered_before_site,
            keep_alive=config.keep_alive,
            limits=config.limits,
            bound_host=config.host,
            **options,
        )

    return Listener(connection)
