"""`netbench serve` records from a recorder process: every byte under load,
and serving goes on when that process dies."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
from pathlib import Path

from netbench.model import Direction
from netbench.store import SessionReader

CLIENTS = 8
REQUESTS = 400
"""Per client: 3,200 keep-alive requests in all, pipelined in bursts (bounded load)."""
BURST = 20


def recorder_of(pid: int) -> int:
    """The recorder process `netbench serve` started (its only child)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def hammer(address: tuple[str, int], tally: list[tuple[int, int, int]]) -> None:
    """Pipelined keep-alive requests; (requests, bytes sent, bytes received) to `tally`."""
    sent = received = 0
    with socket.create_connection(address, timeout=10) as sock:
        for burst in range(REQUESTS // BURST):
            batch = b"".join(
                b"GET /load/%d/%d HTTP/1.1\r\nHost: %s\r\nX-Pad: %s\r\n\r\n"
                % (burst, n, b"127.0.0.1:%d" % address[1], b"p" * (n * 7 % 50))
                for n in range(BURST)
            )
            sock.sendall(batch)
            sent += len(batch)
            answers = 0
            data = b""
            while answers < BURST:
                chunk = sock.recv(1 << 16)
                assert chunk, "the server closed mid-load"
                received += len(chunk)
                data += chunk
                answers = data.count(b"HTTP/1.1 ")
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(1 << 16):
            received += len(chunk)
    tally.append((REQUESTS, sent, received))


def test_every_byte_under_load_is_in_the_session(start_serve) -> None:
    server = start_serve("http")
    tally: list[tuple[int, int, int]] = []
    clients = [
        threading.Thread(target=hammer, args=(server.address, tally)) for _ in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join(60)
    assert len(tally) == CLIENTS, "a client failed (see its traceback above)"
    assert server.stop() == 0
    assert server.session is not None
    with SessionReader(server.session) as reader:
        conns = [c for c in reader.connections() if c.server_id is not None]
        assert len(conns) == CLIENTS
        bytes_in = sum(
            len(c.data)
            for conn in conns
            for c in reader.chunks(conn.id)
            if c.direction is Direction.IN
        )
        bytes_out = sum(
            len(c.data)
            for conn in conns
            for c in reader.chunks(conn.id)
            if c.direction is Direction.OUT
        )
        assert reader.counts().exchanges == CLIENTS * REQUESTS
    assert bytes_in == sum(sent for _, sent, _ in tally)
    assert bytes_out == sum(received for _, _, received in tally)


def test_the_recorder_killed_is_reported_and_the_server_keeps_serving(start_serve) -> None:
    server = start_serve("http")
    os.kill(recorder_of(server.popen.pid), signal.SIGKILL)
    stopped = server.events(lambda e: e["event"] == "recording-stopped")[-1]
    assert "the recorder process ended unexpectedly (killed by SIGKILL" in stopped["detail"]
    client = http.client.HTTPConnection(*server.address, timeout=5)
    for _ in range(3):
        client.request("GET", "/")
        response = client.getresponse()
        assert response.status == 200
        response.read()
    client.close()
    assert server.stop() == 0
    assert server.session is not None
    with SessionReader(server.session) as reader:
        [recording] = reader.recordings()
        assert recording.ended_uncleanly  # what was recorded stays; its end never came
