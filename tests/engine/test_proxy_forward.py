"""The proxy kind without --upstream: a forward proxy for absolute-form requests and CONNECT."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl

from recorder import Events

from netbench.engine.config import default_config
from netbench.engine.engine import Engine, RunningServer
from netbench.events import ChunkRecorded, ConnectionClosed, ConnectionOpened
from netbench.model import Direction
from netbench.protocol.tls_hello import client_hello_sni


def client_hello(name: str) -> bytes:
    """The first bytes a TLS client sends to `name` (never sent to a real server)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


async def echo_server() -> asyncio.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


def _through_connect(proxy_port: int, target: str, payload: bytes) -> tuple[bytes, bytes]:
    """CONNECT, then send `payload` and read it back; (the proxy's answer head, echoed)."""
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=5) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        sock.sendall(payload)
        echoed = b""
        while len(echoed) < len(payload):
            echoed += sock.recv(65536)
        return head, echoed


async def forward_proxy(engine: Engine, **options: object) -> RunningServer:
    return await engine.start_server(default_config("proxy", **options))


def test_the_sni_of_a_client_hello_is_read() -> None:
    hello = client_hello("shop.example")
    assert client_hello_sni(hello) == "shop.example"
    assert client_hello_sni(hello[:20]) is None  # more bytes needed
    assert client_hello_sni(b"GET / HTTP/1.1\r\n") == ""


async def _tunnelled(
    engine: Engine, events: Events, payload: bytes
) -> tuple[bytes, bytes, ConnectionOpened, int, dict[int, ConnectionClosed]]:
    """`payload` through a forward proxy's CONNECT tunnel to an echo server: the proxy's
    answer, what came back, the upstream leg's opening, the origin's port, and how
    each leg (the client's, the upstream's) ended."""
    origin = await echo_server()
    async with origin:
        port = origin.sockets[0].getsockname()[1]
        proxy = await forward_proxy(engine)
        head, echoed = await asyncio.to_thread(
            _through_connect, proxy.address.port, f"127.0.0.1:{port}", payload
        )
        client = await events.wait_for(ConnectionOpened, lambda e: e.server_id == proxy.server_id)
        leg = await events.wait_for(ConnectionOpened, lambda e: e.via == client.conn_id)
        closed = {
            conn_id: await events.wait_for(ConnectionClosed, lambda e, c=conn_id: e.conn_id == c)
            for conn_id in (client.conn_id, leg.conn_id)
        }
    return head, echoed, leg, port, closed


async def test_a_connect_tunnel_records_its_bytes_on_both_legs_and_the_sni(
    engine: Engine, events: Events
) -> None:
    payload = client_hello("shop.example") + b"ping"
    head, echoed, leg, port, closed = await _tunnelled(engine, events, payload)
    assert head == b"HTTP/1.1 200 Connection Established\r\n\r\n"
    assert echoed == payload
    assert leg.peer.port == port
    assert all("TLS SNI shop.example" in (e.detail or "") for e in closed.values())
    sent_up = b"".join(
        e.data for e in events.of(ChunkRecorded, conn_id=leg.conn_id, direction=Direction.OUT)
    )
    came_back = b"".join(
        e.data for e in events.of(ChunkRecorded, conn_id=leg.conn_id, direction=Direction.IN)
    )
    assert sent_up == came_back == payload


async def test_a_plain_connect_tunnel_says_so_when_either_leg_ends(
    engine: Engine, events: Events
) -> None:
    _head, echoed, _leg, _port, closed = await _tunnelled(engine, events, b"ping")
    assert echoed == b"ping"  # not TLS: no SNI to name
    assert [e.detail for e in closed.values()] == ["tunnel", "tunnel"]


async def test_remote_destinations_are_refused_unless_allowed(
    engine: Engine, events: Events
) -> None:
    proxy = await forward_proxy(engine)
    raw = await asyncio.to_thread(
        _exchange,
        proxy.address.port,
        b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 403 ") and b"--allow-remote" in raw
    assert not [e for e in events.of(ConnectionOpened) if e.via is not None]
    raw = await asyncio.to_thread(
        _exchange,
        proxy.address.port,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 400 ") and b"forward proxy" in raw


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received
