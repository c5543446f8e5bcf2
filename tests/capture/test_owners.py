"""Whose connection a captured packet is, as the capture agent decides, on real sockets.

Unprivileged: the packets are built here, the sockets they name are real and
this process's, and the kernel is asked (engine/sockdiag.py). A connection of
another uid, through the real agent, is in test_agent.py.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from netbench.capture.owners import ConnectionOwners
from netbench.engine.sockdiag import TcpOwners
from netbench.model import Endpoint, TcpPacket

ME = frozenset({os.getuid()})
NOBODY_KNOWN: frozenset[int] = frozenset()


def packet(src: Endpoint, dst: Endpoint, flags: str) -> TcpPacket:
    return TcpPacket(0.0, src, dst, flags, 0, 0, 0, 0, b"", b"")


@pytest.fixture
def owners() -> Iterator[ConnectionOwners]:
    lookup = TcpOwners()
    yield ConnectionOwners(lookup)
    lookup.close()


def connection() -> tuple[socket.socket, socket.socket, socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    return server, client, server.accept()[0]


def ends(sock: socket.socket) -> tuple[Endpoint, Endpoint]:
    (host, port), (peer, peer_port) = sock.getsockname(), sock.getpeername()
    return Endpoint(host, port), Endpoint(peer, peer_port)


def test_a_connection_keeps_its_owner_after_its_sockets_are_gone(
    owners: ConnectionOwners,
) -> None:
    server, client, accepted = connection()
    near, far = ends(client)
    assert owners.owners(packet(near, far, "S")) == ME
    for sock in (client, accepted, server):
        sock.close()  # the client's end is in TIME_WAIT now: uid 0, nobody's
    # The teardown's packets come after the sockets went: still this user's, not root's.
    assert owners.owners(packet(far, near, "FA")) == ME
    assert owners.owners(packet(near, far, "A")) == ME
    # A new SYN on the same 4-tuple, in a later batch, is a new connection:
    # asked again, nobody's now.
    owners.new_batch()
    assert owners.owners(packet(near, far, "S")) == NOBODY_KNOWN


def test_a_closed_connection_first_seen_is_nobodys_not_roots(owners: ConnectionOwners) -> None:
    server, client, accepted = connection()
    near, far = ends(client)
    for sock in (client, accepted, server):
        sock.close()
    assert owners.owners(packet(far, near, "FA")) == NOBODY_KNOWN


def test_a_syn_to_a_server_not_yet_accepting(owners: ConnectionOwners) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        host, port = server.getsockname()
        with socket.create_connection((host, port)) as client:
            near, far = ends(client)
            assert owners.owners(packet(near, far, "S")) == ME
            assert owners.owners(packet(far, near, "SA")) == ME
    # Its listener is remembered for one batch only: gone, it answers no more.
    owners.new_batch()
    assert owners.owners(packet(Endpoint("127.0.0.1", 40000), far, "S")) == NOBODY_KNOWN
