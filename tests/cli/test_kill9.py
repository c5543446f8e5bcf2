"""A session survives `kill -9` of the server in the middle of traffic.

The store's promise (netbench/store/writer.py): a writer thread commits what is
queued every `flush_interval` (50 ms), in WAL mode with synchronous=NORMAL, so
a killed process loses at most the batch not yet committed. From outside we
can only see when an echo came back; the server published the 'in' chunk
before it wrote that echo, so the chunk is queued by then and committed within
about one interval plus the commit itself.

MARGIN (0.15 s, three flush intervals) is what we allow for that interval,
the commit, and scheduling delays on a loaded machine: every message whose
echo arrived more than MARGIN before the SIGKILL must be in the file. Messages
echoed later may or may not be; either is correct.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from netbench.model import Direction
from netbench.store import SessionReader

FLUSH_INTERVAL = 0.05
"""SessionWriter's default flush interval, which `netbench serve` uses."""

MARGIN = 3 * FLUSH_INTERVAL
TRAFFIC_SECONDS = 1.5
KILL_AFTER = 5000
"""Kill after this many echoes if that comes before TRAFFIC_SECONDS (a fast machine)."""
MAX_MESSAGES = 1_000_000
"""A safety bound only: the kill always comes first."""


def message(number: int) -> bytes:
    return b"msg-%04d\n" % number


class EchoClient(threading.Thread):
    """Sends numbered messages one at a time, noting when each echo is back."""

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(name="kill9-client", daemon=True)
        self.sock = socket.create_connection(address, timeout=5.0)
        self.echoed_at: list[float] = []
        """time.monotonic() when echo i + 1 had fully come back."""
        self.enough = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for number in range(1, MAX_MESSAGES + 1):
                sent = message(number)
                self.sock.sendall(sent)
                got = b""
                while len(got) < len(sent):
                    chunk = self.sock.recv(len(sent) - len(got))
                    if not chunk:
                        return  # the server died: expected once it is killed
                    got += chunk
                if got != sent:
                    raise AssertionError(f"echo of {sent!r} came back as {got!r}")
                self.echoed_at.append(time.monotonic())
                if number == KILL_AFTER:
                    self.enough.set()
        except (ConnectionError, TimeoutError, OSError) as error:
            self.error = error  # the kill resets the connection: judged by the caller
        except BaseException as error:
            self.error = error
            self.enough.set()
        finally:
            self.sock.close()


@pytest.mark.slow
def test_session_written_until_sigkill_keeps_everything_but_the_last_batch(
    start_serve,
) -> None:
    server = start_serve("echo")
    assert server.session is not None
    client = EchoClient(server.address)
    client.start()
    # The client keeps sending until the server dies: the kill lands mid-stream.
    client.enough.wait(TRAFFIC_SECONDS)
    assert client.is_alive(), f"the client stopped early: {client.error!r}"
    assert len(client.echoed_at) > 20, "too little traffic to judge the recording"
    killed_at = time.monotonic()
    assert server.kill() == -signal.SIGKILL
    client.join(5.0)
    assert not client.is_alive()
    assert not isinstance(client.error, AssertionError), client.error

    must_have = sum(1 for t in client.echoed_at if t < killed_at - MARGIN)
    assert must_have > 0
    everything_sent = b"".join(message(n) for n in range(1, len(client.echoed_at) + 2))

    session: Path = server.session
    with SessionReader(session) as reader:
        assert reader.info().argv, "the session row is missing"
        (srv,) = reader.servers()
        assert srv.kind == "echo"
        assert srv.stopped is None  # it never got to say so
        (conn,) = reader.connections()
        assert conn.closed is None
        chunks = list(reader.chunks(conn.id))
    received = b"".join(c.data for c in chunks if c.direction is Direction.IN)
    echoed = b"".join(c.data for c in chunks if c.direction is Direction.OUT)

    # What was recorded is exactly a prefix of what was sent: no gap, no damage.
    assert everything_sent.startswith(received)
    assert received.startswith(echoed)
    recorded_messages = received.count(b"\n")
    assert recorded_messages >= must_have, (
        f"{must_have} echoes came back more than {MARGIN} s before the kill, "
        f"but only {recorded_messages} messages are in the session "
        f"({len(client.echoed_at)} echoed in all)"
    )

    uri = session.resolve().as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
