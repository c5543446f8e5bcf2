"""UDP echo (seed 002's SOCK_DGRAM); engine/udp.py records a flow per peer."""

from __future__ import annotations

from netbench.engine.registry import KindRuntime, Listener, ServerKind, register
from netbench.engine.udp import UdpEchoProtocol
from netbench.model import Transport


async def _build(runtime: KindRuntime) -> Listener:
    ctx, server_id, idle = runtime.ctx, runtime.server_id, runtime.config.idle_timeout
    return Listener(lambda: UdpEchoProtocol(ctx, server_id=server_id, idle_timeout=idle))


register(
    ServerKind(
        "udp-echo",
        "sends every datagram back, an empty one too; a flow per peer is recorded as a "
        "connection (002's SOCK_DGRAM)",
        Transport.UDP,
        http=False,
        port=5000,
        defaults={"backlog": 0, "recv_size": 65535, "idle_timeout": 60.0},
        build=_build,
        unused=frozenset({"backlog"}),
    )
)
