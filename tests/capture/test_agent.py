"""The capture agent (`netbench capture-agent`) and its client, for real.

The agent must run as root; its clients run here both as root and, in a
child process, as an unprivileged user (65534), the case it exists for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from capturekit import PRIVILEGED, Recorder

from netbench.capture import AgentClient, sockdir, wire
from netbench.capture.wire import HELLO
from netbench.events import CaptureStatus

pytestmark = PRIVILEGED

NOBODY = 65534


class Agent:
    def __init__(self, popen: subprocess.Popen[str], path: Path) -> None:
        self.popen = popen
        self.path = path

    def line(self, timeout: float = 10.0) -> str:
        """The agent's next stdout line (bounded wait)."""
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if line:
                return line.rstrip("\n")
            if self.popen.poll() is not None:
                break
            time.sleep(0.01)
        raise AssertionError(f"no line from the agent; stderr: {self.stderr()}")

    def stderr(self) -> str:
        if self.popen.poll() is None:
            return "(running)"
        assert self.popen.stderr is not None
        return self.popen.stderr.read()

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            return self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise


def spawn_agent(path: Path | None, *args: str, env: dict[str, str] | None = None) -> Agent:
    """The agent serving on `path` (None: where it chooses, as `sudo netbench capture-agent`)."""
    socket = [] if path is None else ["--socket", str(path)]
    popen = subprocess.Popen(
        [sys.executable, "-m", "netbench.cli.capture_agent", *socket, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return Agent(popen, wire.agent_socket_path(NOBODY) if path is None else path)


def private_dir(owner: int) -> Path:
    """A directory that is `owner`'s alone, as the agent requires (tmp_path is not: 0755)."""
    path = Path(tempfile.mkdtemp(prefix="netbench-agent-", dir="/tmp"))
    os.chown(path, owner, owner)
    return path


def remove(path: Path) -> None:
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """Root's private directory, like /run/user/0: the tests' agents serve root."""
    path = private_dir(0)
    yield path
    remove(path)


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """User 65534's private directory, like /run/user/UID."""
    path = private_dir(NOBODY)
    yield path
    remove(path)


@pytest.fixture
def agent(shared_dir: Path) -> Iterator[Agent]:
    running = spawn_agent(shared_dir / "agent.sock")
    first = running.line()
    assert "serving" in first, first
    yield running
    running.stop()


async def talk(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hi")
    await writer.drain()
    await asyncio.wait_for(reader.read(), 5.0)
    writer.close()


async def test_client_gets_packet_headers_only(agent: Agent, recorder: Recorder) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(2)
        writer.write(b"secret payload")
        writer.write_eof()  # FIN+data may share a segment: the agent must strip it
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AgentClient(recorder, path=agent.path, ports=(port,))
    client.start()
    try:
        await recorder.until(lambda: any(s.running for s in recorder.of(CaptureStatus)))
        await talk(port)
        await recorder.until(lambda: sum("F" in p.flags for p in recorder.packets) >= 2)
    finally:
        client.stop()
        server.close()
    flags = [p.flags for p in recorder.packets]
    assert flags[:3] == ["S", "SA", "A"]
    # The young connection's data segments come too: their lengths, never their bytes.
    lengths = sorted(p.payload_len for p in recorder.packets if p.payload_len)
    assert lengths == [2, 14], flags
    assert all(p.payload_head == b"" for p in recorder.packets)
    assert all(b"secret" not in p.frame for p in recorder.packets)
    assert f"young data segments (headers) of port {port} via the capture agent" in (
        recorder.of(CaptureStatus)[0].detail
    )


async def test_a_client_watching_no_port_gets_control_packets_only(
    agent: Agent, recorder: Recorder
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(2))
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AgentClient(recorder, path=agent.path, ports=(port,), data_ports=())
    client.start()
    try:
        await recorder.until(lambda: any(s.running for s in recorder.of(CaptureStatus)))
        await talk(port)
        await recorder.until(lambda: sum("F" in p.flags for p in recorder.packets) >= 2)
    finally:
        client.stop()
        server.close()
    flags = [p.flags for p in recorder.packets]
    assert all(set(flag) & set("SFR") or flag == "A" for flag in flags), flags
    assert not any(p.payload_len for p in recorder.packets)


async def test_a_client_leaving_does_not_stop_the_agent(agent: Agent, recorder: Recorder) -> None:
    for _ in range(3):  # rude clients: read the greeting and hang up
        reader, writer = await asyncio.open_unix_connection(str(agent.path))
        assert await asyncio.wait_for(reader.readexactly(len(HELLO)), 5.0) == HELLO
        writer.close()
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AgentClient(recorder, path=agent.path, ports=(port,))
    client.start()
    try:
        await recorder.until(lambda: any(s.running for s in recorder.of(CaptureStatus)))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await recorder.until(lambda: any(p.flags == "S" for p in recorder.packets))
    finally:
        client.stop()
        server.close()
    assert agent.popen.poll() is None


async def test_client_reports_a_missing_agent_with_the_fix(
    tmp_path: Path, recorder: Recorder
) -> None:
    client = AgentClient(recorder, path=tmp_path / "none.sock", retry=0.05)
    client.start()
    try:
        await recorder.until(lambda: recorder.of(CaptureStatus))
        await asyncio.sleep(0.3)  # several retries...
    finally:
        client.stop()
    statuses = recorder.of(CaptureStatus)
    assert len(statuses) == 1  # ...said once
    assert not statuses[0].running
    assert "sudo $(command -v netbench) capture-agent" in statuses[0].detail


async def test_an_agent_started_after_netbench_is_used_without_a_restart(
    shared_dir: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import netbench.capture as capture
    import netbench.capture.preflight as preflight_module
    from netbench.capture import wire
    from netbench.capture.preflight import no_privilege

    path = shared_dir / "agent.sock"
    monkeypatch.setattr(preflight_module, "preflight", lambda interface: no_privilege())
    monkeypatch.setattr(wire, "agent_socket_path", lambda uid=None: path)
    handle = capture.start_capture(recorder)  # no privilege, no agent yet
    try:
        await recorder.until(lambda: recorder.of(CaptureStatus))
        assert not recorder.of(CaptureStatus)[0].running
        running = spawn_agent(path)
        try:
            assert "serving" in running.line()
            await recorder.until(lambda: any(s.running for s in recorder.of(CaptureStatus)), 10)
        finally:
            handle.stop()
            running.stop()
    finally:
        handle.stop()


def capture_as_nobody(path: Path | None) -> tuple[list[str], list[str]]:
    """What a netbench of user 65534 sees of its own connection through the agent at
    `path` (None: where it looks by itself): its capture statuses' details (one
    more each time the kernel's drop count changes) and its packets' flags."""
    child = textwrap.dedent(
        f"""
        import asyncio, json, os
        from pathlib import Path
        import scapy  # found before the user change: /root is not readable after
        import netbench.capture, netbench.capture.agent_client, netbench.events
        os.setgid({NOBODY}); os.setuid({NOBODY})
        from netbench.capture.preflight import preflight
        assert preflight("lo").kind == "no-privilege"

        class Ctx:
            events = []
            def publish(self, event): self.events.append(event)

        async def main():
            ctx = Ctx()
            server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            path = {None if path is None else str(path)!r}
            client = netbench.capture.AgentClient(
                ctx, path=path and Path(path), ports=(port,)
            )
            client.start()
            await asyncio.sleep(0.5)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await reader.read()
            writer.close()
            await asyncio.sleep(0.5)
            client.stop()
            print(json.dumps(dict(
                statuses=[e.detail for e in ctx.events if not hasattr(e, "packet")],
                flags=[e.packet.flags for e in ctx.events if hasattr(e, "packet")],
            )))

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    seen: dict[str, list[str]] = json.loads(result.stdout)
    return seen["statuses"], seen["flags"]


def test_unprivileged_user_captures_through_the_agent(nobody_dir: Path) -> None:
    path = nobody_dir / "agent.sock"
    agent = spawn_agent(path, env={"SUDO_UID": str(NOBODY), "SUDO_GID": str(NOBODY)})
    try:
        assert f"for uid {NOBODY}" in agent.line()
        info = path.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (NOBODY, 0o600)
        # With its capture socket open, the agent runs as the user it serves.
        status = Path(f"/proc/{agent.popen.pid}/status").read_text()
        assert f"Uid:\t{NOBODY}\t{NOBODY}\t{NOBODY}\t{NOBODY}" in status
        statuses, flags = capture_as_nobody(path)
        assert statuses[0].startswith("capturing TCP control packets and young data segments")
        assert statuses[0].endswith(f"via the capture agent at {path}")
        assert flags[:2] == ["S", "SA"]
        assert flags.count("S") == 1
    finally:
        assert agent.stop() == 0
    assert not path.exists()


def test_ctrl_c_stops_cleanly_and_removes_the_socket(agent: Agent) -> None:
    assert agent.path.exists()
    assert agent.stop() == 0
    assert agent.line() == "netbench capture-agent: stopped"
    assert not agent.path.exists()


def test_a_second_agent_on_the_same_socket_is_refused(agent: Agent) -> None:
    second = spawn_agent(agent.path)
    assert second.popen.wait(15) == 1
    assert "another capture agent already serves" in second.stderr()
    assert agent.popen.poll() is None


def test_only_loopback_interfaces(shared_dir: Path) -> None:
    others = [p.name for p in Path("/sys/class/net").iterdir() if p.name != "lo"]
    if not others:
        pytest.skip("this machine has no interface besides lo")
    refused = spawn_agent(shared_dir / "agent.sock", "--interface", others[0])
    assert refused.popen.wait(15) == 1
    assert "is not a loopback interface" in refused.stderr()
    assert not (shared_dir / "agent.sock").exists()


def test_a_stale_socket_file_is_taken_over(shared_dir: Path) -> None:
    import socket

    path = shared_dir / "agent.sock"
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))  # bound, never listening: what a killed agent leaves
    agent = spawn_agent(path)
    try:
        assert "serving" in agent.line()
    finally:
        assert agent.stop() == 0


def test_root_without_sudo_names_the_user_to_serve(nobody_dir: Path) -> None:
    running = spawn_agent(nobody_dir / "agent.sock", "--user", str(NOBODY))
    try:
        assert f"for uid {NOBODY}," in running.line()
        assert (nobody_dir / "agent.sock").stat().st_uid == NOBODY
    finally:
        running.stop()
    unknown = spawn_agent(nobody_dir / "other.sock", "--user", "no-such-user-here")
    assert unknown.popen.wait(10) == 2
    assert "no such user 'no-such-user-here'" in unknown.stderr()


@pytest.fixture
def planted_by_another_user() -> Iterator[Path]:
    """Where the agent serving 65534 used to listen, taken first by uid 65533."""
    planted = Path(f"/tmp/netbench-capture-{NOBODY}.sock")
    planted.unlink(missing_ok=True)
    planted.write_text("mine now\n")
    os.chown(planted, NOBODY - 1, NOBODY - 1)
    had_run_dir = sockdir.RUN_DIR.exists()
    yield planted
    planted.unlink(missing_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (sockdir.RUN_DIR / str(NOBODY)).rmdir()
    if not had_run_dir:
        with contextlib.suppress(OSError):
            sockdir.RUN_DIR.rmdir()


def test_another_users_planted_file_does_not_stop_the_agent(
    planted_by_another_user: Path,
) -> None:
    agent = spawn_agent(None, env={"SUDO_UID": str(NOBODY), "SUDO_GID": str(NOBODY)})
    try:
        line = agent.line()
        assert f"for uid {NOBODY}, serving {agent.path} (Ctrl+C stops)" in line, line
        assert Path("/tmp") not in agent.path.parents
        info = agent.path.parent.lstat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (NOBODY, 0o700)
        # The user's netbench finds it there by itself, and captures through it.
        statuses, flags = capture_as_nobody(None)
        assert statuses[0].endswith(f"via the capture agent at {agent.path}")
        assert flags[:2] == ["S", "SA"]
    finally:
        assert agent.stop() == 0
    assert planted_by_another_user.read_text() == "mine now\n"


NOBODY_CONNECTION = f"""
import encodings.idna, os, socket, sys
os.setgid({NOBODY}); os.setuid({NOBODY})  # here, not in preexec_fn: /root's python stays readable
server = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(server.getsockname())
accepted, _ = server.accept()
client.sendall(b"hi")
accepted.recv(2)
print(server.getsockname()[1], flush=True)
sys.stdin.read()  # the connection stays open, nobody's, until the test says
accepted.close(); client.close(); server.close()
"""


async def own_connection(recorder: Recorder) -> int:
    """Open and close a connection of this process (root's); its port once its FINs arrived."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(2))
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await talk(port)
        await recorder.until(
            lambda: (
                {p.src.port for p in recorder.packets if "F" in p.flags} >= {port}
                and any("F" in p.flags and p.dst.port == port for p in recorder.packets)
            )
        )
    finally:
        server.close()
    return port


async def test_a_client_gets_its_own_users_connections_only(
    agent: Agent, recorder: Recorder
) -> None:
    client = AgentClient(recorder, path=agent.path)  # every port: whatever the agent forwards
    client.start()
    other = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        NOBODY_CONNECTION,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        await recorder.until(lambda: any(s.running for s in recorder.of(CaptureStatus)))
        assert other.stdout is not None and other.stdin is not None
        foreign = int(await asyncio.wait_for(other.stdout.readline(), 10.0))
        # Captured in order: by the time this connection's FINs come, anything
        # of nobody's open connection would have come before them.
        mine = await own_connection(recorder)
        other.stdin.close()  # nobody's connection closes...
        assert await asyncio.wait_for(other.wait(), 10.0) == 0
        after = await own_connection(recorder)  # ...and its FINs are behind us too
    finally:
        client.stop()
        if other.returncode is None:
            other.kill()
            await other.wait()
    ports = {port for p in recorder.packets for port in (p.src.port, p.dst.port)}
    assert {mine, after} <= ports
    assert foreign not in ports
