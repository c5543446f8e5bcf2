"""The lab reads /proc/net/tcp for its own ports only: on a busy machine the table is thousands of lines."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from netbench.engine.lab import read_proc_net_tcp


@pytest.fixture
def queued() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A listener with one finished handshake waiting in its accept queue, and its client."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    client = socket.create_connection(listener.getsockname(), timeout=5)
    yield listener, client
    client.close()
    listener.close()


def test_only_the_lines_of_the_given_ports_are_read(
    queued: tuple[socket.socket, socket.socket],
) -> None:
    listener, client = queued
    port, client_port = listener.getsockname()[1], client.getsockname()[1]
    everything = read_proc_net_tcp()
    mine = read_proc_net_tcp({port})
    wanted = [e for e in everything if port in (e.local_port, e.remote_port)]
    assert sorted(mine) == sorted(wanted)
    listening = [e for e in mine if e.state == "LISTEN"]
    assert [(e.local_port, e.rx_queue) for e in listening] == [(port, 1)]  # the accept queue
    assert any(e.local_port == client_port and e.state == "ESTABLISHED" for e in mine)
    assert all(port in (e.local_port, e.remote_port) for e in mine)


def test_no_ports_no_lines() -> None:
    assert read_proc_net_tcp(set()) == []
