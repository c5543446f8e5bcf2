"""Who owns a local TCP socket, asked of the kernel (sock_diag), on real sockets.

Unprivileged: every socket here is this process's; the agent's use of it with
a connection of another uid is in tests/capture/test_agent.py.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from netbench.engine.sockdiag import TcpOwners
from netbench.model import Endpoint

ME = os.getuid()


@pytest.fixture
def owners() -> Iterator[TcpOwners]:
    lookup = TcpOwners()
    yield lookup
    lookup.close()


def ends(sock: socket.socket) -> tuple[Endpoint, Endpoint]:
    (host, port, *_), (peer, peer_port, *_) = sock.getsockname(), sock.getpeername()
    return Endpoint(host, port), Endpoint(peer, peer_port)


def test_both_ends_of_a_connection_and_the_listener(owners: TcpOwners) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        host, port = server.getsockname()
        assert owners(Endpoint(host, port), Endpoint("0.0.0.0", 0)) == ME
        with socket.create_connection((host, port)) as client:
            local, remote = ends(client)
            assert owners(local, remote) == ME
            # Not accept()ed yet: the server's end has no owner of its own; its listener's.
            assert owners(remote, local) == ME
            accepted, _ = server.accept()
            with accepted:
                assert owners(remote, local) == ME


def test_closed_and_unknown_sockets_are_nobodys(owners: TcpOwners) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        local, remote = ends(client)
        client.close()  # first to close: its end waits in TIME_WAIT (uid 0, no inode)
        accepted.close()
    assert owners(local, remote) is None
    assert owners(Endpoint("127.0.0.1", 1), Endpoint("127.0.0.1", 2)) is None
    assert owners(Endpoint("127.0.0.1", 1), Endpoint("::1", 2)) is None  # families differ


def test_a_dual_stack_server_answers_for_ipv4(owners: TcpOwners) -> None:
    if not socket.has_dualstack_ipv6():
        pytest.skip("no dual-stack IPv6 here")
    with socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True) as server:
        port = server.getsockname()[1]
        assert owners(Endpoint("127.0.0.1", port), Endpoint("0.0.0.0", 0)) == ME
        assert owners(Endpoint("::1", port), Endpoint("::", 0)) == ME
