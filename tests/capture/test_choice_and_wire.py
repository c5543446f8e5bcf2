"""Pure parts of capture: the agent's wire format and socket path,
which backend start_capture picks, and that importing capture loads no scapy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from capturekit import Recorder

import netbench.capture as capture
import netbench.capture.preflight as preflight_module
from netbench.capture import wire
from netbench.capture.preflight import no_interface, no_privilege
from netbench.events import CaptureStatus


def test_wire_records_round_trip() -> None:
    frame = bytes(range(60))
    packet = wire.encode_packet(1700000000.125, 1, frame)
    status = wire.encode_status(1700000001.5, 7, "agent capturing on lo ✓")
    for encoded in (packet, status):
        assert wire.record_length(encoded[:4]) == len(encoded) - 4
    assert wire.parse_record(packet[4:]) == wire.Record("packet", 1700000000.125, 1, frame)
    assert wire.parse_record(status[4:]) == wire.Record(
        "status", 1700000001.5, dropped=7, detail="agent capturing on lo ✓"
    )


def test_watch_records_round_trip_and_are_bounded() -> None:
    record = wire.encode_watch((9000, 8000, 8000, 0, 70000))
    assert wire.parse_record(record[4:]) == wire.Record("watch", 0.0, ports=(8000, 9000))
    many = wire.encode_watch(tuple(range(1, 1000)))
    assert len(wire.parse_record(many[4:]).ports) == wire.MAX_WATCH  # type: ignore[union-attr]
    assert wire.parse_record(b"W\x01") is None  # an odd length is not a port list
    assert wire.parse_record(b"Z-future-kind") is None
    assert wire.parse_record(b"P") is None  # too short to be a packet


@pytest.mark.parametrize("prefix", [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff"])
def test_wire_rejects_implausible_lengths(prefix: bytes) -> None:
    with pytest.raises(ValueError, match="bad record length"):
        wire.record_length(prefix)


def test_socket_path_prefers_a_private_runtime_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert wire.agent_socket_path(os.getuid()) == runtime / "netbench-capture.sock"
    runtime.chmod(0o755)  # readable by others: not a safe place
    fallback = wire.agent_socket_path(os.getuid())
    assert fallback != runtime / "netbench-capture.sock"
    # Someone else's directory is never used either.
    assert wire.agent_socket_path(54321) == Path(
        "/run/netbench-capture/54321/netbench-capture.sock"
    )


def test_peer_uid_of_a_unix_socket() -> None:
    left, right = socket.socketpair()
    with left, right:
        assert wire.peer_uid(left) == os.getuid()
    assert wire.peer_uid(object()) is None


def test_importing_capture_loads_no_scapy() -> None:
    code = (
        "import sys, netbench.capture, netbench.capture.agent, netbench.cli.capture_agent;"
        "print(sorted(m for m in sys.modules if m.startswith('scapy')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# -- which backend ---------------------------------------------------------------


def test_agent_is_chosen_without_privilege_when_it_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agent.sock"
    monkeypatch.setattr(preflight_module, "preflight", lambda interface: no_privilege())
    monkeypatch.setattr(wire, "agent_socket_path", lambda uid=None: path)
    problem = capture.choose_backend()
    assert isinstance(problem, capture.CaptureProblem)
    assert problem.kind == "no-privilege"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))
        assert capture.choose_backend() == "agent"
        # The agent serves loopback only: another interface's problem stands.
        monkeypatch.setattr(preflight_module, "preflight", lambda interface: no_interface("x"))
        assert capture.choose_backend("x") == no_interface("x")


def test_in_process_when_preflight_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight_module, "preflight", lambda interface: None)
    assert capture.choose_backend() == "in-process"


async def test_no_capture_is_one_status_with_the_fix(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preflight_module, "preflight", lambda interface: no_privilege())
    monkeypatch.setattr(capture, "_agent_available", lambda: False)
    handle = capture.start_capture(recorder)
    try:
        await recorder.until(lambda: recorder.of(CaptureStatus))
    finally:
        handle.stop()
        handle.stop()
    status = recorder.of(CaptureStatus)[0]  # then the agent client, waiting, may say more
    assert not status.running
    assert status.detail == str(no_privilege())
    assert "sudo $(command -v netbench) capture-agent" in status.detail
