"""Can this process capture packets? A typed answer the UI and CLI can show.

Rules:
- `preflight()` never raises and never sniffs: it opens the filtered packet
  socket and closes it at once, which is the real test of every requirement;
- the cheap checks come first (the interface in /sys, scapy on the path, the
  capability bit in /proc/self/status), so an unprivileged process, the
  common case, gets its answer without importing scapy at all;
- each problem carries a message and a `fix` made of exact commands.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["CaptureProblem", "ProblemKind", "has_net_raw", "preflight"]

ProblemKind = Literal["no-privilege", "no-libpcap", "no-interface", "no-scapy"]

_CAP_NET_RAW = 13
"""Bit of CAP_NET_RAW in the capability sets (linux/capability.h)."""

_PRIVILEGE_FIX = (
    "run `sudo $(command -v netbench) capture-agent` in another terminal (netbench connects "
    "as soon as it runs), or give the Python interpreter CAP_NET_RAW, for every program it runs: "
    "sudo setcap cap_net_raw+eip $(readlink -f $(which python3))"
)
_LIBPCAP_FIX = "sudo apt-get install libpcap0.8"


@dataclass(frozen=True, slots=True)
class CaptureProblem:
    """Why capture cannot run, and the commands that fix it."""

    kind: ProblemKind
    message: str
    """One line saying what is missing."""
    fix: str
    """Exact commands (or the one step) that make capture possible."""

    def __str__(self) -> str:
        return f"{self.message}; to enable it: {self.fix}"


def no_privilege(detail: str = "") -> CaptureProblem:
    more = f" ({detail})" if detail else ""
    return CaptureProblem(
        "no-privilege",
        f"packet capture needs root or CAP_NET_RAW{more}",
        _PRIVILEGE_FIX,
    )


def no_libpcap(detail: str = "") -> CaptureProblem:
    more = f" ({detail})" if detail else ""
    return CaptureProblem(
        "no-libpcap",
        f"cannot compile the capture filter: libpcap is not available{more}",
        _LIBPCAP_FIX,
    )


def no_scapy() -> CaptureProblem:
    return CaptureProblem(
        "no-scapy",
        "scapy is not installed in this Python",
        f"{sys.executable} -m pip install 'scapy>=2.6'",
    )


def no_interface(interface: str) -> CaptureProblem:
    return CaptureProblem(
        "no-interface",
        f"no network interface named {interface!r}",
        "list the interfaces with `ip link`; local servers are seen on `lo`",
    )


def interface_exists(interface: str) -> bool:
    if not interface or "/" in interface or interface in (".", ".."):
        return False
    return Path("/sys/class/net", interface).exists()


def has_net_raw(status: Path = Path("/proc/self/status")) -> bool | None:
    """Whether CAP_NET_RAW is effective; None when the kernel does not say."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> _CAP_NET_RAW & 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _scapy_installed() -> bool:
    try:
        return importlib.util.find_spec("scapy") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["scapy"] is None
        return False


def preflight(interface: str = "lo") -> CaptureProblem | None:
    """None when this process can capture on `interface`, else the first problem."""
    if not interface_exists(interface):
        return no_interface(interface)
    if not _scapy_installed():
        return no_scapy()
    if os.geteuid() != 0 and has_net_raw() is False:
        return no_privilege()
    return _probe(interface)


def _probe(interface: str) -> CaptureProblem | None:
    """Compile the filter, then open the capture socket and close it again."""
    from netbench.capture.window import CONTROL_FILTER

    bpf = f"inbound and tcp and {CONTROL_FILTER}"
    try:
        from scapy.arch.common import compile_filter, free_filter
        from scapy.error import Scapy_Exception
    except ImportError:
        return no_scapy()
    try:
        free_filter(compile_filter(bpf, linktype=1))
    except ImportError:  # scapy's words for "libpcap.so could not be loaded"
        return no_libpcap()
    except (OSError, Scapy_Exception) as exc:
        return no_libpcap(" ".join(str(exc).split()))
    from netbench.capture.frames import FrameSniffer

    try:
        # Opening is the test: the kernel checks CAP_NET_RAW at socket().
        FrameSniffer(interface, bpf, lambda t, linktype, frame: None).probe()
    except PermissionError:
        return no_privilege()
    except OSError as exc:
        if not interface_exists(interface):
            return no_interface(interface)
        return no_privilege(str(exc))
    return None
