"""The seed TCP servers, in process, driven by stdlib-socket-like asyncio clients."""

from __future__ import annotations

import asyncio
import socket

import pytest
from recorder import Events

from netbench.engine.clients import ConnectError, open_tcp
from netbench.engine.config import default_config
from netbench.engine.engine import Engine, EngineError
from netbench.events import ChunkRecorded, ConnectionClosed, ConnectionOpened, SocketEventRecorded
from netbench.model import Direction, EndReason, Role, SocketEventKind


async def _blocking(fn, *args):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(fn, *args)


def _seed_client(port: int, message: bytes, recv_size: int) -> list[bytes]:
    """The seeds' blocking client: connect, sendall, recv until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(message)
        pieces = []
        while chunk := sock.recv(recv_size):
            pieces.append(chunk)
        return pieces


async def test_reply_answers_yes_and_closes(engine: Engine, events: Events) -> None:
    server = await engine.start_server(default_config("reply"))
    pieces = await _blocking(_seed_client, server.address.port, b"can you hear me?", 1024)
    assert b"".join(pieces) == b"Yes"
    closed = await events.wait_for(ConnectionClosed)
    assert closed.reason is EndReason.FIN_LOCAL
    chunks = events.of(ChunkRecorded, conn_id=closed.conn_id)
    assert [(c.direction, c.data) for c in chunks] == [
        (Direction.IN, b"can you hear me?"),
        (Direction.OUT, b"Yes"),
    ]


async def test_reply_text_is_configurable(engine: Engine) -> None:
    server = await engine.start_server(default_config("reply", text="Nope\r\n"))
    pieces = await _blocking(_seed_client, server.address.port, b"?", 1024)
    assert b"".join(pieces) == b"Nope\r\n"


def _echo_client(port: int) -> bytes:
    """Seed 001's client: send "Hello", read recv(10) pieces until all came back."""
    message = b"Hello, this message is longer than ten bytes"
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(message)
        received = b""
        while len(received) < len(message):
            received += sock.recv(10)
        return received


async def test_echo_returns_everything_in_recv_10_pieces(engine: Engine, events: Events) -> None:
    server = await engine.start_server(default_config("echo"))
    received = await _blocking(_echo_client, server.address.port)
    assert received == b"Hello, this message is longer than ten bytes"
    closed = await events.wait_for(ConnectionClosed)
    assert closed.reason is EndReason.FIN_PEER
    assert closed.bytes_in == closed.bytes_out == len(received)


async def test_echo_recv_size_bounds_every_chunk(engine: Engine, events: Events) -> None:
    server = await engine.start_server(default_config("echo", recv_size=7))
    client = await open_tcp(engine.ctx, "127.0.0.1", server.address.port)
    client.send(b"x" * 50)
    client.half_close()
    assert len(b"".join(await client.recv_all(timeout=3))) == 50
    server_in = [
        e for e in events.of(ChunkRecorded, direction=Direction.IN) if e.conn_id != client.conn_id
    ]
    assert sum(len(c.data) for c in server_in) == 50
    assert max(len(c.data) for c in server_in) <= 7


async def test_prefix_echo_answers_once_and_closes(engine: Engine) -> None:
    server = await engine.start_server(default_config("prefix-echo"))
    pieces = await _blocking(_seed_client, server.address.port, b"Hello,Server", 1024)
    assert b"".join(pieces) == b"Echo=>Hello,Server"


@pytest.mark.parametrize(
    ("message", "received"),
    [
        pytest.param(None, b"", id="seed-002-says-nothing-to-the-client"),
        pytest.param("Time Out\r\n", b"Time Out\r\n", id="timeout-message"),
    ],
)
async def test_prefix_echo_times_out_an_idle_client(
    engine: Engine, events: Events, message: str | None, received: bytes
) -> None:
    config = default_config("prefix-echo", idle_timeout=0.2, timeout_message=message)
    server = await engine.start_server(config)
    client = await open_tcp(engine.ctx, "127.0.0.1", server.address.port)
    assert b"".join(await client.recv_all(timeout=3)) == received
    closed = await events.wait_for(ConnectionClosed, lambda e: e.conn_id != client.conn_id)
    assert closed.reason is EndReason.TIMEOUT
    # What the seed prints on its console is the close's detail.
    assert closed.detail == "Time Out: nothing received in 0.2 s"
    kinds = [e.kind for e in events.of(SocketEventRecorded, conn_id=closed.conn_id)]
    assert kinds[0] is SocketEventKind.ACCEPT and SocketEventKind.TIMEOUT in kinds


async def test_time_server_sends_the_date(engine: Engine) -> None:
    server = await engine.start_server(default_config("time"))
    client = await open_tcp(engine.ctx, "127.0.0.1", server.address.port)
    text = b"".join(await client.recv_all(timeout=3)).decode()
    assert text.endswith("\r\n") and text[:4].isdigit() and ":" in text


async def test_udp_echo_records_a_flow(engine: Engine, events: Events) -> None:
    server = await engine.start_server(default_config("udp-echo", idle_timeout=0.2))

    def exchange() -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(3)
            sock.sendto(b"ping\x00", ("127.0.0.1", server.address.port))
            return sock.recvfrom(2048)[0]

    assert await _blocking(exchange) == b"ping\x00"
    opened = await events.wait_for(ConnectionOpened)
    assert opened.transport.value == "udp"
    closed = await events.wait_for(ConnectionClosed)
    assert closed.reason is EndReason.TIMEOUT and closed.bytes_in == 5


async def test_client_and_server_record_both_ends(engine: Engine, events: Events) -> None:
    server = await engine.start_server(default_config("echo"))
    client = await open_tcp(engine.ctx, "127.0.0.1", server.address.port)
    client.send(b"\x00\xffbinary\r\n")
    assert await client.recv(timeout=3) == b"\x00\xffbinary\r\n"
    await client.reset()
    opened = events.of(ConnectionOpened)
    assert {o.role for o in opened} == {Role.CLIENT, Role.SERVER}
    client_end = await events.wait_for(ConnectionClosed, lambda e: e.conn_id == client.conn_id)
    server_end = await events.wait_for(ConnectionClosed, lambda e: e.conn_id != client.conn_id)
    assert client_end.reason is EndReason.RST_LOCAL
    assert server_end.reason is EndReason.RST_PEER


async def test_client_half_close_then_server_fin(engine: Engine, events: Events) -> None:
    server = await engine.start_server(default_config("echo"))
    client = await open_tcp(engine.ctx, "127.0.0.1", server.address.port)
    client.send(b"bye")
    client.half_close()
    assert await client.recv_all(timeout=3) == [b"bye"]
    await client.close()
    client_end = await events.wait_for(ConnectionClosed, lambda e: e.conn_id == client.conn_id)
    assert client_end.reason is EndReason.FIN_LOCAL


async def test_refused_connect_is_recorded(engine: Engine, events: Events) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(ConnectError, match="refused"):
        await open_tcp(engine.ctx, "127.0.0.1", free_port)
    closed = await events.wait_for(ConnectionClosed)
    assert closed.reason is EndReason.REFUSED


async def test_port_in_use_is_a_clear_error(engine: Engine) -> None:
    first = await engine.start_server(default_config("echo"))
    with pytest.raises(EngineError, match="already in use"):
        await engine.start_server(default_config("echo", port=first.address.port))
    # The failed start used no id: the next server is #2, not #3.
    second = await engine.start_server(default_config("echo"))
    assert (first.server_id, second.server_id) == (1, 2)


async def test_stopping_a_server_closes_its_connections(engine: Engine, events: Events) -> None:
    server = await engine.start_server(default_config("echo"))
    client = await open_tcp(engine.ctx, "127.0.0.1", server.address.port)
    await events.wait_for(ConnectionOpened, lambda e: e.server_id == server.server_id)
    await engine.stop_server(server.server_id)
    assert await client.recv(timeout=3) == b""
    ended = await events.wait_for(ConnectionClosed, lambda e: e.conn_id != client.conn_id)
    assert ended.reason is EndReason.STOPPED
    with pytest.raises(ConnectError):
        await open_tcp(engine.ctx, "127.0.0.1", server.address.port)


@pytest.mark.parametrize("client_end", ["half-close", "close"])
async def test_a_client_fin_before_the_reply_is_labelled_fin_peer(
    engine: Engine, events: Events, client_end: str
) -> None:
    """Seed 000's reply server answers and closes; this client's FIN got there first.

    The client sends and ends its side before the server's loop reads anything,
    so the request and the FIN wait together in the kernel: the server reads
    "Hi", then closes, but on the wire the client's FIN came first.
    """
    server = await engine.start_server(default_config("reply"))
    sock = socket.create_connection(("127.0.0.1", server.address.port), timeout=3)
    try:
        sock.sendall(b"Hi")
        if client_end == "half-close":
            sock.shutdown(socket.SHUT_WR)
        else:
            sock.close()
        closed = await events.wait_for(ConnectionClosed)
    finally:
        sock.close()
    assert closed.reason is EndReason.FIN_PEER
    kinds = [e.kind for e in events.of(SocketEventRecorded, conn_id=closed.conn_id)]
    assert kinds.index(SocketEventKind.PEER_FIN) < kinds.index(SocketEventKind.CLOSE)


async def test_udp_echo_sends_back_an_empty_datagram(engine: Engine, events: Events) -> None:
    server = await engine.start_server(default_config("udp-echo"))

    def exchange() -> list[bytes]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(3)
            sock.sendto(b"", ("127.0.0.1", server.address.port))  # legal: zero bytes
            sock.sendto(b"after", ("127.0.0.1", server.address.port))
            return [sock.recvfrom(2048)[0], sock.recvfrom(2048)[0]]

    assert await _blocking(exchange) == [b"", b"after"]
    chunks = events.of(ChunkRecorded)
    assert [(c.direction, c.data) for c in chunks] == [
        (Direction.IN, b""),
        (Direction.OUT, b""),  # recorded because it was sent
        (Direction.IN, b"after"),
        (Direction.OUT, b"after"),
    ]


async def test_a_client_fin_that_overtakes_a_draining_reply_is_fin_peer(
    engine: Engine, events: Events
) -> None:
    """The server closes first, but its FIN waits behind 32 MiB the client has not read."""
    server = await engine.start_server(default_config("reply", text="x" * (32 << 20)))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.address.port)
    writer.write(b"Hi")
    await events.wait_for(SocketEventRecorded, lambda e: e.kind is SocketEventKind.CLOSE)
    writer.write_eof()  # our FIN leaves now; the server's is still queued
    assert len(await asyncio.wait_for(reader.read(), 10)) == 32 << 20
    writer.close()
    closed = await events.wait_for(ConnectionClosed, timeout=10)
    assert closed.reason is EndReason.FIN_PEER
