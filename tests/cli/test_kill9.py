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

Under HTTP load the loss is bounded in time (docs/security.md, section 5): the
engine stops reading once what waits uncommitted is 80 ms old. The clients
here are paced (PACE after every response, on CONNECTIONS connections), so
100 ms of their traffic is at most RATE_CAP / 10 requests; LOST_BOUND allows
three times that. After the kill, what the process left open reads as ended
uncleanly: in the reader, `session show`, `session list` and the TUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from netbench.model import Direction
from netbench.store import SessionReader
from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.widgets.servers import COLUMNS, ServersPanel
from netbench.ui.widgets.traffic import TrafficList

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
        assert srv.ended_uncleanly
        (conn,) = reader.connections()
        assert conn.closed is None
        assert conn.ended_uncleanly
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


# -- HTTP under a paced load ---------------------------------------------------

CONNECTIONS = 5
PACE = 0.005
"""Seconds each client waits after every response."""
RATE_CAP = CONNECTIONS / PACE
"""Requests/s the clients can reach at most (1,000), however fast the server."""
LOST_BOUND = round(3 * RATE_CAP * 0.1) + CONNECTIONS
"""Three times 100 ms of the clients' traffic, plus one request in flight each."""
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class PacedClients:
    """CONNECTIONS keep-alive clients sending GET / until the server dies."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.completed = [0] * CONNECTIONS
        """Responses read in full, per client (each thread writes its own)."""
        self.errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._run, args=(address, index), daemon=True)
            for index in range(CONNECTIONS)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def total(self) -> int:
        return sum(self.completed)

    def _run(self, address: tuple[str, int], index: int) -> None:
        try:
            with (
                socket.create_connection(address, timeout=10) as sock,
                sock.makefile("rb") as responses,
            ):
                while True:
                    sock.sendall(REQUEST)
                    if not _read_response(responses):
                        return  # the server died between two responses
                    self.completed[index] += 1
                    time.sleep(PACE)
        except OSError:
            pass  # the kill resets the connection
        except BaseException as error:
            self.errors.append(error)

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.total < count:
            assert not self.errors, self.errors
            assert time.monotonic() < deadline, f"only {self.total} responses in {timeout} s"
            time.sleep(0.01)

    def join(self) -> int:
        for thread in self._threads:
            thread.join(10)
            assert not thread.is_alive(), "a client did not see the server die"
        assert not self.errors, self.errors
        return self.total


def _read_response(responses: object) -> bool:
    """Read one response with a Content-Length body; False at the end of the stream."""
    assert hasattr(responses, "readline") and hasattr(responses, "read")
    length = None
    while True:
        line = responses.readline()
        if not line.endswith(b"\n"):
            return False
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    assert length is not None, "a response without Content-Length"
    return len(responses.read(length)) == length


def _answered(session: Path) -> int:
    """Exchanges the session holds with their response."""
    with SessionReader(session) as reader:
        return sum(1 for e in reader.exchanges(include_bodies=False) if e.response is not None)


@dataclass(frozen=True)
class Killed:
    session: Path
    completed: int
    """Responses the clients read in full."""


@pytest.fixture(scope="module")
def killed_under_load(
    start_module_serve: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Killed:
    """`netbench serve http` killed after ~1 s of paced keep-alive requests."""
    session = tmp_path_factory.mktemp("kill9") / "load.netbench.sqlite"
    server = start_module_serve("http", "--session", str(session), "--no-capture", "-q")
    clients = PacedClients(server.address)
    clients.wait_for(round(RATE_CAP))  # ~1 s at the cap; longer on a slow machine
    assert server.kill() == -signal.SIGKILL
    return Killed(session, clients.join())


@pytest.mark.slow
def test_kill9_under_a_paced_load_loses_at_most_the_time_bound(
    killed_under_load: Killed,
) -> None:
    recorded = _answered(killed_under_load.session)
    lost = killed_under_load.completed - recorded
    assert 0 <= lost <= LOST_BOUND, (
        f"{killed_under_load.completed} responses completed, {recorded} recorded: {lost} lost,"
        f" more than {LOST_BOUND} (three times 100 ms at {RATE_CAP:.0f} requests/s)"
    )


@pytest.mark.slow
def test_kill9_while_the_file_cannot_be_written_loses_at_most_the_time_bound(
    start_serve: Callable[..., Any], tmp_path: Path
) -> None:
    # A stalled disk, as far as the writer can tell: another connection holds
    # the file's write lock, so no batch commits. The engine must stop taking
    # requests it could not record; before, it served on and the whole stall
    # was lost (the writer waits up to 5 s for the lock: the kill comes first).
    session = tmp_path / "stalled.netbench.sqlite"
    server = start_serve("http", "--session", str(session), "--no-capture", "-q")
    clients = PacedClients(server.address)
    clients.wait_for(100)
    with contextlib.closing(sqlite3.connect(session, isolation_level=None, timeout=5)) as lock:
        lock.execute("BEGIN IMMEDIATE")
        time.sleep(2.0)  # the stall
        assert server.kill() == -signal.SIGKILL
        lock.execute("ROLLBACK")
    completed = clients.join()
    lost = completed - _answered(session)
    assert 0 <= lost <= LOST_BOUND, (
        f"{lost} of {completed} completed requests were lost during a 2 s stall of the file"
    )


# -- what a reopened session shows ----------------------------------------------


def _fingerprint(session: Path) -> list[tuple[str, str]]:
    files = [session, session.with_name(session.name + "-wal")]
    return [(f.name, hashlib.sha256(f.read_bytes()).hexdigest()) for f in files if f.exists()]


@pytest.mark.slow
def test_a_killed_session_shows_its_servers_and_connections_ended_uncleanly(
    killed_under_load: Killed, run_netbench: Callable[..., Any]
) -> None:
    session = killed_under_load.session
    before = _fingerprint(session)
    with SessionReader(session) as reader:
        (recording,) = reader.recordings()
        assert recording.ended is None and not recording.live and recording.ended_uncleanly
        (server,) = reader.servers()
        assert server.stopped is None and server.ended_uncleanly
        connections = reader.connections()
        assert len(connections) == CONNECTIONS
        assert all(conn.closed is None and conn.ended_uncleanly for conn in connections)
        assert reader.connection(connections[0].id).ended_uncleanly

    shown = run_netbench("session", "show", str(session))
    assert shown.returncode == 0, shown.stderr
    out: str = shown.stdout
    assert ": ended uncleanly (killed, crashed or power lost)" in out
    [server_line] = [line for line in out.splitlines() if line.startswith("  #1  http")]
    assert "ended uncleanly" in server_line and "running" not in server_line
    table = out.split("\nconnections\n")[1].splitlines()[1:]
    assert len(table) == CONNECTIONS
    assert all("ended uncleanly" in row and " open " not in row for row in table), table

    one = run_netbench("session", "show", str(session), "--conn", str(connections[0].id))
    assert "ended uncleanly" in one.stdout and "still open" not in one.stdout

    listed = run_netbench("session", "list", str(session.parent))
    [line] = listed.stdout.splitlines()
    assert line.endswith("ended uncleanly"), line
    assert _fingerprint(session) == before, "reading changed the session file"


def test_a_session_still_being_recorded_shows_running_not_ended_uncleanly(
    start_serve: Callable[..., Any], run_netbench: Callable[..., Any], tmp_path: Path
) -> None:
    session = tmp_path / "live.netbench.sqlite"
    server = start_serve("echo", "--session", str(session), "--no-capture")
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"hello")
        assert sock.recv(5) == b"hello"
        deadline = time.monotonic() + 5
        while True:  # until the connection is committed
            with SessionReader(session) as reader:
                if reader.connections():
                    break
            assert time.monotonic() < deadline, "the connection was never recorded"
            time.sleep(0.02)
        out = run_netbench("session", "show", str(session)).stdout
        assert "ended uncleanly" not in out
        [server_line] = [line for line in out.splitlines() if line.startswith("  #1  echo")]
        assert "running" in server_line
        listed = run_netbench("session", "list", str(tmp_path)).stdout
        assert listed.rstrip().endswith("recording"), listed


@pytest.mark.slow
async def test_open_shows_the_killed_servers_and_connections_ended_uncleanly(
    killed_under_load: Killed,
) -> None:
    app = NetbenchApp(AppConfig(open_path=killed_under_load.session))
    async with app.run_test(size=(160, 50)) as pilot:
        async with asyncio.timeout(10):
            await app.started.wait()
        await pilot.pause()
        servers = app.screen.query_one(ServersPanel)
        state = dict(zip(COLUMNS, servers.get_row_at(0), strict=True))["state"]
        assert state.plain == "ended uncleanly"
        traffic = app.screen.query_one(TrafficList)
        traffic.focus()
        await pilot.press("end")
        await pilot.pause()
        shown = [traffic.render_line(y).text.rstrip() for y in range(traffic.size.height)]
        rows = [line for line in shown if "GET /" in line]
        assert rows, shown
        # The end column, nine cells wide, says it in one word.
        assert all(line.endswith(" unclean") for line in rows), rows
