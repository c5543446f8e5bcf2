"""Raw frames off a packet socket, through scapy, on a thread of their own.

Rules of this module (everything else in netbench/capture builds on it):
- scapy is imported here lazily, in `FrameSniffer.open()`, which runs on a
  worker thread: importing it costs ~0.15 s, never paid on the event loop or
  at startup;
- scapy does the privileged parts (the AF_PACKET socket, compiling the BPF
  filter with libpcap, `AsyncSniffer`'s thread and its clean stop) but does
  not dissect: at each wakeup a custom session hands every waiting frame on
  as raw bytes with the kernel's timestamp, and `decode` makes plain data of
  it. The frames come from a TPACKET_V3 ring (see ring.py), as libpcap reads
  them, or, if the kernel refuses the ring, from recvmsg();
- the kernel cuts each frame at `snap` bytes (the filter's return value), so
  a large data segment costs the ring no more than a SYN;
- `on_frame(t, linktype, frame)` runs on the sniffer thread for every frame
  the filter passed; it must be quick and must not raise;
- the kernel's drop counter (PACKET_STATISTICS, which resets when read) is
  accumulated in `dropped`, so nothing is lost silently.
Measured CPU per captured packet, decode included, while a server handled a
new connection per request: scapy's own per-packet loop ~24 µs, recvmsg ~25 µs
(one GIL hand-off per system call), the ring ~6 µs.
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from netbench.capture.ring import PacketRing
from netbench.capture.window import DataWindow
from netbench.model import TcpPacket

__all__ = ["FrameCallback", "FrameSniffer", "WindowedFilter"]

FrameCallback = Callable[[float, int, bytes], None]

DEFAULT_SNAP = 256
"""Bytes kept per frame: every header (14 + 60 + 60 at most) and the start of
the payload, which is all the ladder shows."""

RCVBUF = 8 << 20
"""Socket buffer when the ring is refused: scapy's 64 KiB default fills within
~100 loopback packets when a burst of connections arrives."""

# Linux ABI values (capture/ may not import `socket`: the engine owns it).
_SOL_SOCKET = 1
_SO_RCVBUF = 8
_SO_ATTACH_FILTER = 26
_SO_RCVBUFFORCE = 33
_SCM_TIMESTAMPNS = 35  # scapy turns SO_TIMESTAMPNS on: the kernel's capture time
_SOL_PACKET = 263
_PACKET_AUXDATA = 8
_PACKET_STATISTICS = 6
_TPACKET_STATS = struct.Struct("II")  # tp_packets, tp_drops
_TIMESPEC = struct.Struct("qq")
_BPF_RET_K = 0x06
_PROTOCOLS = (0x0800, 0x86DD)
"""ETH_P_IP, ETH_P_IPV6: one socket each (see FrameSniffer)."""
_ANCILLARY = 64
_BURST = 4096
"""recvmsg path: frames read per wakeup before scapy's loop checks its stop pipe."""
_LINGER = 0.01
"""recvmsg path: seconds to rest after a wakeup that found frames, so a burst
is read in batches (the ring batches by itself)."""


def _attach_snapped_filter(ins: Any, bpf: str, linktype: int, snap: int) -> None:
    """Replace the socket's filter by the same one returning `snap` (the kernel's cut)."""
    from scapy.arch.common import compile_filter, free_filter
    from scapy.libs.structures import sock_fprog

    program = compile_filter(bpf, linktype=linktype)
    try:
        for index in range(program.bf_len):
            instruction = program.bf_insns[index]
            if instruction.code == _BPF_RET_K and instruction.k:
                instruction.k = min(instruction.k, snap)
        # Swapping filters is atomic: no packet passes unfiltered meanwhile.
        ins.setsockopt(_SOL_SOCKET, _SO_ATTACH_FILTER, sock_fprog(program.bf_len, program.bf_insns))
    finally:
        free_filter(program)


class FrameSniffer:
    """Filtered AF_PACKET sockets on one interface, read by scapy's AsyncSniffer.

    Two sockets, one per IP version, rather than one for every protocol
    (ETH_P_ALL): the kernel clones every packet it *sends* for an ETH_P_ALL
    socket before the filter can reject it, which cost a busy keep-alive
    server ~5% with nothing captured; a socket bound to one protocol sees only
    what arrives, once.
    """

    def __init__(
        self,
        interface: str,
        bpf: str,
        on_frame: FrameCallback,
        *,
        snap: int = DEFAULT_SNAP,
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        self.interface = interface
        self.bpf = bpf
        self.snap = snap
        self.linktype = 1
        self.ring = False
        """Whether frames come from TPACKET_V3 rings (else from recvmsg)."""
        self.dropped = 0
        """Frames the kernel dropped since open() (its buffer was full)."""
        self.seen = 0
        """Frames the kernel passed to the sockets (dropped ones included)."""
        self.errors = 0
        """Frames `on_frame` failed on (bugs: counted rather than fatal)."""
        self._on_frame = on_frame
        self._on_batch = on_batch
        self._opening_bpf = bpf
        self._sockets: list[Any] = []
        self._rings: list[PacketRing] = []
        self._sniffer: Any = None
        self._lock = threading.Lock()

    def _open_socket(self, protocol: int) -> Any:
        # Registers the link layers, so scapy does not warn about lo's type.
        import scapy.layers.l2  # noqa: F401
        from scapy.arch.linux import L2ListenSocket

        return L2ListenSocket(iface=self.interface, type=protocol, filter=self._opening_bpf)

    def open(self) -> None:
        """Open the sockets and start sniffing. Blocking (imports scapy): call off the loop.

        Raises PermissionError without privilege, OSError/ImportError/scapy's
        exception for the other problems `preflight` names.
        """
        from scapy.data import ARPHRD_TO_DLT
        from scapy.sendrecv import AsyncSniffer
        from scapy.sessions import DefaultSession

        sockets: list[Any] = []
        rings: list[PacketRing] = []
        self._opening_bpf = bpf = self.bpf
        try:
            readers: dict[int, Callable[[], int]] = {}
            for protocol in _PROTOCOLS:
                sock = self._open_socket(protocol)
                sockets.append(sock)
                ins = sock.ins
                self.linktype = int(ARPHRD_TO_DLT.get(ins.getsockname()[3], 1))
                with contextlib.suppress(OSError, ImportError):
                    _attach_snapped_filter(ins, bpf, self.linktype, self.snap)
                ring = self._attach_ring(ins)
                if ring is not None:
                    rings.append(ring)
                readers[ins.fileno()] = ring.read if ring is not None else self._reader(ins)
            linger = not rings
            after = self._after_batch

            class DrainSession(DefaultSession):
                # scapy's loop does one select() and one dissection per packet;
                # this reads every frame waiting at each wakeup and hands it on
                # as bytes, yielding nothing for scapy to process.
                def recv(self, sock: Any) -> Iterator[Any]:
                    if readers[sock.fileno()]():
                        after()
                        if linger:
                            time.sleep(_LINGER)
                    yield from ()

            started = threading.Event()
            sniffer = AsyncSniffer(
                opened_socket=sockets,
                store=False,
                session=DrainSession,
                started_callback=started.set,
            )
            sniffer.start()
            # Until its thread runs, the sniffer cannot be stopped: wait for it.
            if not started.wait(5.0):
                raise OSError("the capture thread did not start within 5 s")
        except BaseException:
            for ring in rings:
                ring.close()
            for sock in sockets:
                sock.close()
            raise
        with self._lock:
            self._sockets, self._rings, self._sniffer = sockets, rings, sniffer
            changed = self.bpf != bpf
        if changed:  # set_filter() ran while the sockets were opening
            self.set_filter(self.bpf)

    def _deliver(self) -> Callable[[float, bytes], None]:
        on_frame, linktype = self._on_frame, self.linktype

        def deliver(t: float, frame: bytes) -> None:
            # scapy closes the socket when its loop sees an exception: never let one.
            try:
                on_frame(t, linktype, frame)
            except Exception:
                self.errors += 1

        return deliver

    def _after_batch(self) -> None:
        if self._on_batch is not None:
            try:
                self._on_batch()
            except Exception:
                self.errors += 1

    def set_filter(self, bpf: str) -> bool:
        """Swap the filter of the open sockets (any thread; atomic in the kernel).

        False if libpcap could not compile it: the old filter stays.
        """
        with self._lock:
            sockets = list(self._sockets)
            try:
                for sock in sockets:
                    _attach_snapped_filter(sock.ins, bpf, self.linktype, self.snap)
            except Exception:  # scapy raises its own Scapy_Exception for a bad filter
                self.errors += 1
                return False
            self.bpf = bpf
            return True

    def _attach_ring(self, ins: Any) -> PacketRing | None:
        ring = PacketRing(ins, self._deliver())
        try:
            ring.attach()
        except (OSError, ValueError):
            ring.close()
            self._use_socket_buffer(ins)
            return None
        self.ring = True
        return ring

    def _use_socket_buffer(self, ins: Any) -> None:
        try:
            ins.setsockopt(_SOL_SOCKET, _SO_RCVBUFFORCE, RCVBUF)
        except OSError:  # needs CAP_NET_ADMIN; the plain one is capped at rmem_max
            ins.setsockopt(_SOL_SOCKET, _SO_RCVBUF, RCVBUF)
        # VLAN tags (aux data) do not occur on lo; parsing them costs ~3 µs a frame.
        ins.setsockopt(_SOL_PACKET, _PACKET_AUXDATA, 0)
        ins.setblocking(False)

    def _reader(self, ins: Any) -> Callable[[], int]:
        """Without a ring: every waiting frame (up to a burst) by recvmsg; the count."""
        deliver, snap = self._deliver(), self.snap

        def read() -> int:
            for count in range(_BURST):
                try:
                    data, ancillary, _flags, _address = ins.recvmsg(snap, _ANCILLARY)
                except (BlockingIOError, InterruptedError):
                    return count
                t = 0.0
                for level, kind, value in ancillary:
                    if level == _SOL_SOCKET and kind == _SCM_TIMESTAMPNS and len(value) == 16:
                        seconds, nanoseconds = _TIMESPEC.unpack(value)
                        t = seconds + nanoseconds * 1e-9
                deliver(t or time.time(), data)
            return _BURST

        return read

    def probe(self) -> None:
        """Open a filtered socket and close it at once (preflight's real test)."""
        self._open_socket(_PROTOCOLS[0]).close()

    def read_drops(self) -> int:
        """Fold the kernel's counters into `dropped` and return it (any thread)."""
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    raw = sock.ins.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, _TPACKET_STATS.size)
                    packets, drops = _TPACKET_STATS.unpack(raw)
                    self.seen += packets
                    self.dropped += drops
            return self.dropped

    @property
    def alive(self) -> bool:
        """False once the sniffer thread ended (closed, or its sockets failed)."""
        sniffer = self._sniffer
        return sniffer is not None and sniffer.thread is not None and sniffer.thread.is_alive()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread (bounded by `timeout`) and close the sockets. Idempotent."""
        self.read_drops()
        with self._lock:
            sockets, rings, sniffer = self._sockets, self._rings, self._sniffer
            self._sockets, self._rings, self._sniffer = [], [], None
        if sniffer is not None:
            with contextlib.suppress(Exception):
                # stop(join=False) wakes the select through scapy's control pipe.
                sniffer.stop(join=False)
            if sniffer.thread is not None:
                sniffer.thread.join(timeout)
        if sniffer is None or not sniffer.thread.is_alive():
            for ring in rings:
                ring.close()  # never unmap under a reader still running
        for sock in sockets:
            with contextlib.suppress(Exception):
                sock.close()


class WindowedFilter:
    """Keeps a sniffer's filter in step with a `DataWindow` (see window.py).

    The capture thread calls `observe` for each decoded packet and `apply`
    after each batch; the loop calls `watch` and `tick`. One lock serialises
    them, so a filter swap never races another.
    """

    def __init__(self, sniffer: FrameSniffer, window: DataWindow) -> None:
        self.sniffer = sniffer
        self.window = window
        self.paused = window.paused
        """Why data capture is paused, as of the last `apply` ("" if it is not)."""
        self._lock = threading.Lock()

    def observe(self, packet: TcpPacket) -> None:
        with self._lock:
            self.window.observe(packet, packet.t)

    def apply(self) -> bool:
        """Swap the filter if the window changed; True if `paused` changed with it."""
        with self._lock:
            bpf = self.window.change()
            if bpf is not None:
                self.sniffer.set_filter(bpf)
            paused, changed = self.window.paused, self.window.paused != self.paused
            self.paused = paused
            return changed

    def watch(self, ports: Iterable[int]) -> bool:
        with self._lock:
            self.window.watch(ports)
        return self.apply()

    def tick(self) -> bool:
        with self._lock:
            self.window.tick(time.time())
        return self.apply()
