"""preflight(): each problem kind, with its exact fix, and the real privilege test.

The no-privilege cases drop root in a child process (os.setuid), so they need
root to start from; the others run anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netbench.capture.preflight import CaptureProblem, has_net_raw, preflight

PRIVILEGE_FIX = (
    "run `sudo $(command -v netbench) capture-agent` in another terminal (netbench connects "
    "as soon as it runs), or give the Python interpreter CAP_NET_RAW, for every program it runs: "
    "sudo setcap cap_net_raw+eip $(readlink -f $(which python3))"
)
NOBODY = 65534

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")


def _child(code: str) -> dict[str, str] | None:
    """Run `code` in a fresh interpreter; it prints the problem as JSON (or null)."""
    program = textwrap.dedent(code) + textwrap.dedent(
        """
        import json
        print(json.dumps(None if problem is None else
              {"kind": problem.kind, "message": problem.message, "fix": problem.fix}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    value: dict[str, str] | None = json.loads(result.stdout.strip().splitlines()[-1])
    return value


def test_no_interface() -> None:
    problem = preflight("nosuchif0")
    assert problem is not None
    assert problem.kind == "no-interface"
    assert "nosuchif0" in problem.message
    assert "ip link" in problem.fix


@pytest.mark.parametrize("name", ["", "../lo", "lo/x", "."])
def test_odd_interface_names_are_not_paths(name: str) -> None:
    problem = preflight(name)
    assert problem is not None and problem.kind == "no-interface"


def test_no_scapy() -> None:
    problem = _child(
        """
        import sys
        sys.modules["scapy"] = None  # as if it were not installed
        from netbench.capture.preflight import preflight
        problem = preflight("lo")
        """
    )
    assert problem is not None
    assert problem["kind"] == "no-scapy"
    assert problem["fix"].endswith("-m pip install 'scapy>=2.6'")


def test_no_libpcap() -> None:
    # scapy finds libpcap with ctypes.util.find_library: hide it, as on a
    # system without the libpcap0.8 package.
    problem = _child(
        """
        import ctypes.util
        real = ctypes.util.find_library
        ctypes.util.find_library = lambda name: None if name == "pcap" else real(name)
        import os
        from netbench.capture import preflight as module
        problem = module._probe("lo") if os.geteuid() != 0 else module.preflight("lo")
        """
    )
    assert problem == {
        "kind": "no-libpcap",
        "message": "cannot compile the capture filter: libpcap is not available",
        "fix": "sudo apt-get install libpcap0.8",
    }


@needs_root
def test_root_can_capture() -> None:
    assert preflight("lo") is None


# Everything the child needs is imported before setuid: the test's Python may
# live where user 65534 cannot read (/root/.pyenv).
_DROP = f"""
import scapy.arch.common, scapy.arch.linux, scapy.layers.l2, scapy.libs.winpcapy, scapy.sendrecv
import netbench.capture.frames
from netbench.capture import preflight as module
import os
os.setgid({NOBODY})
os.setuid({NOBODY})
"""


@needs_root
def test_unprivileged_user_gets_no_privilege_with_the_fix() -> None:
    problem = _child(_DROP + "problem = module.preflight('lo')")
    assert problem == {
        "kind": "no-privilege",
        "message": "packet capture needs root or CAP_NET_RAW",
        "fix": PRIVILEGE_FIX,
    }


@needs_root
def test_the_socket_probe_itself_reports_no_privilege() -> None:
    # Past the capability shortcut: the kernel's EPERM on socket(AF_PACKET).
    problem = _child(_DROP + "problem = module._probe('lo')")
    assert problem is not None
    assert problem["kind"] == "no-privilege"
    assert problem["fix"] == PRIVILEGE_FIX


@pytest.mark.parametrize(
    ("capeff", "expected"),
    [("0000000000000000", False), ("0000000000002000", True), ("000001ffffffffff", True)],
)
def test_capability_bit(tmp_path: Path, capeff: str, expected: bool) -> None:
    status = tmp_path / "status"
    status.write_text(f"Name:\tpython3\nCapInh:\t0\nCapEff:\t{capeff}\nCapBnd:\t0\n")
    assert has_net_raw(status) is expected


def test_capability_unknown(tmp_path: Path) -> None:
    assert has_net_raw(tmp_path / "missing") is None


def test_problem_reads_as_one_line() -> None:
    problem = CaptureProblem("no-libpcap", "no libpcap", "sudo apt-get install libpcap0.8")
    assert str(problem) == "no libpcap; to enable it: sudo apt-get install libpcap0.8"
