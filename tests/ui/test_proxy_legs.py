"""The HTTP view of either leg of a proxied request names the other and what the proxy changed."""

from __future__ import annotations

import asyncio
import http.client
from pathlib import Path

from sessionkit import record

from netbench.engine.config import default_config
from netbench.engine.engine import Engine
from netbench.events import Event
from netbench.store import SessionReader
from netbench.ui.proxy_legs import other_leg
from netbench.ui.widgets.http_view import exchange_document


def _get(port: int) -> bytes:
    """Two requests on one kept-alive connection (both go up on one leg)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Connection": "keep-alive"})
        first = conn.getresponse().read()
        conn.request("GET", "/second")
        assert conn.getresponse().read() == b"Hello World"  # the seed app answers any path
        return first
    finally:
        conn.close()


async def proxied_session(path: Path) -> None:
    """seed 004's picture: the WSGI hello app behind the proxy, one request through it."""
    engine = Engine()
    events: list[Event] = []
    engine.ctx.bus.subscribe(events.append)
    try:
        app = await engine.start_server(default_config("wsgi"))
        proxy = await engine.start_server(
            default_config("proxy", upstream=f"127.0.0.1:{app.address.port}")
        )
        assert await asyncio.to_thread(_get, proxy.address.port) == b"Hello World"
    finally:
        await engine.stop_all()
    record(path, events)


def test_each_leg_names_the_other_with_the_headers_changed_and_the_time_upstream(
    tmp_path: Path,
) -> None:
    path = tmp_path / "seed004.netbench.sqlite"
    asyncio.run(proxied_session(path))
    with SessionReader(path) as reader:
        client = reader.connection(1)
        client_exchange, second = reader.exchanges(1)
        leg = other_leg(reader, client, client_exchange)
        assert leg is not None and leg.upstream and leg.conn.via_conn_id == 1
        assert leg.exchange is not None
        shown = exchange_document(client, client_exchange, leg=leg).plain
        assert f"upstream leg: connection #{leg.conn.id} -> 127.0.0.1:" in shown
        assert "+ X-Forwarded-For: 127.0.0.1" in shown
        assert "+ Via: 1.1 netbench" in shown
        assert "- Connection: keep-alive" in shown
        assert "time upstream" in shown and "in total" in shown

        back = other_leg(reader, leg.conn, leg.exchange)
        assert back is not None and not back.upstream and back.conn.id == 1
        shown = exchange_document(leg.conn, leg.exchange, leg=back).plain
        assert "client leg: connection #1 from 127.0.0.1:" in shown
        assert "+ X-Real-IP: 127.0.0.1" in shown

        # The second request went up on the same leg: each pairs with its own.
        paired = other_leg(reader, client, second)
        assert paired is not None and paired.conn.id == leg.conn.id
        assert paired.exchange is not None and paired.exchange.request is not None
        assert paired.exchange.request.target == b"/second"
        (up_second,) = [e for e in reader.exchanges(leg.conn.id) if e.index == 1]
        back = other_leg(reader, leg.conn, up_second)
        assert back is not None and back.exchange is not None and back.exchange.id == second.id
