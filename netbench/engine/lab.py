"""The workshop's socket lab: one socket call at a time, on real sockets, with the kernel's view.

A lesson is a list of socket calls by named sockets ("listener", "client",
"conn"...). The lab makes each call for real on 127.0.0.1, on the engine's
loop with non-blocking sockets (a call that would block waits on the loop,
bounded by the socket's own `settimeout` or the lab's step timeout), and
reads afterwards what the kernel says about every socket of the lesson:
`getsockopt(TCP_INFO)` and the queue ioctls on the ones it holds,
`/proc/net/tcp{,6}` for the rest (listeners' accept queues, TIME_WAIT sockets
nobody holds any more, the connections of a netbench server it started).

Rules: nothing here needs privileges; a socket's bytes are recorded as each
call returned them (chunk by chunk, never merged); every wait is bounded;
the lab never invents kernel state: a field it cannot read is None.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
import termios
import time
from collections.abc import Awaitable, Collection
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeVar

from netbench.engine.config import ServerConfig
from netbench.engine.engine import Engine, RunningServer
from netbench.engine.lab_legs import LegNames
from netbench.protocol.tcp_info import (
    TCP_INFO_SIZE,
    ProcSocket,
    TcpInfo,
    parse_proc_net_tcp,
    parse_tcp_info,
)

T = TypeVar("T")

HOST = "127.0.0.1"
SIOCOUTQ = termios.TIOCOUTQ
"""Bytes in a socket's send queue (unsent and unacknowledged), as `ss` shows Send-Q."""

FILL_LIMIT = 64 * 1024 * 1024
"""A `send` that fills the peer's buffers stops here whatever happens (bounds the lesson)."""

Role = Literal["listener", "client", "accepted", "bound", "server"]


class LabError(Exception):
    """A lesson asked for something impossible (an unknown socket, a closed one...)."""


class Chunk(NamedTuple):
    t: float
    """Seconds since the lesson began."""
    direction: Literal["sent", "received"]
    data: bytes


@dataclass(eq=False)
class LabSocket:
    """A socket of the lesson, held or already closed (its addresses are remembered)."""

    name: str
    role: Role
    sock: socket.socket | None
    local: tuple[str, int] = ("", 0)
    remote: tuple[str, int] = ("", 0)
    timeout: float | None = None
    """What `settimeout` set: a blocking call gives up after it (None: the step's bound)."""
    chunks: list[Chunk] = field(default_factory=list)
    eof: bool = False
    """recv returned b"": the peer's FIN arrived and every byte before it was read."""

    @property
    def held(self) -> bool:
        return self.sock is not None


class SocketReading(NamedTuple):
    """What the kernel says about one socket of the lesson, right now."""

    name: str
    role: Role
    state: str
    """The kernel's TCP state ("ESTABLISHED", "TIME_WAIT"...), "CLOSED" when it is gone."""
    local: tuple[str, int]
    remote: tuple[str, int]
    held: bool
    """The lesson holds a file descriptor for it (else: read from /proc/net/tcp)."""
    info: TcpInfo | None
    """getsockopt(TCP_INFO), for the sockets the lesson holds."""
    recv_queue: int | None
    """Bytes received and not yet read by the application (Recv-Q)."""
    send_queue: int | None
    """Bytes written and not yet acknowledged by the peer (Send-Q)."""
    accept_queue: int | None
    """Listeners: finished handshakes waiting for accept()."""


class Outcome(NamedTuple):
    """What one call returned: its value, or the exception it raised."""

    elapsed: float
    """Seconds the call took (the lesson's clock, monotonic)."""
    data: bytes | None = None
    error: str | None = None
    """The exception's class name (`ConnectionResetError`), None when the call returned."""
    detail: str = ""
    """The exception's message, or a word about the value."""


class SocketLab:
    """Named real sockets on 127.0.0.1 and the kernel's view of them. Use on one loop."""

    def __init__(self, *, step_timeout: float = 5.0) -> None:
        self.step_timeout = step_timeout
        self.sockets: dict[str, LabSocket] = {}
        self.engine: Engine | None = None
        self.servers: dict[str, RunningServer] = {}
        self.legs = LegNames()
        """The connections the servers opened themselves (a proxy's to its app), named."""
        self.t0 = time.monotonic()

    # -- the lesson's ports -------------------------------------------------

    @staticmethod
    def free_port() -> int:
        """A port nothing listens on now (the kernel picks it)."""
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port: int = probe.getsockname()[1]
            return port

    def ports(self) -> set[int]:
        """Every local port the lesson's sockets and servers use."""
        ports = {s.local[1] for s in self.sockets.values() if s.local[1]}
        ports.update(s.address.port for s in self.servers.values())
        return ports

    def port_of(self, name: str) -> int:
        if name in self.servers:
            return self.servers[name].address.port
        return self._get(name, held=False).local[1]

    # -- socket calls -------------------------------------------------------

    def listen(self, name: str, backlog: int, port: int = 0) -> None:
        sock = self._new_socket()
        sock.bind((HOST, port))
        sock.listen(backlog)
        self._add(LabSocket(name, "listener", sock, sock.getsockname()))

    def bind_only(self, name: str, port: int = 0) -> None:
        """A socket bound to a port and never listening: connections to it are refused."""
        sock = self._new_socket()
        sock.bind((HOST, port))
        self._add(LabSocket(name, "bound", sock, sock.getsockname()))

    async def connect(self, name: str, port: int, *, wait: bool = True) -> None:
        """connect(); with `wait=False` return once the SYN is sent (the handshake may hang)."""
        sock = self._new_socket(reuse=False)
        lab_socket = LabSocket(name, "client", sock, remote=(HOST, port))
        self._add(lab_socket)
        loop = asyncio.get_running_loop()
        if wait:
            try:
                await self._bounded(lab_socket, loop.sock_connect(sock, (HOST, port)))
            finally:
                lab_socket.local = _sockname(sock)
            return
        code = sock.connect_ex((HOST, port))
        lab_socket.local = _sockname(sock)
        if code not in (0, 115, 11):  # EINPROGRESS, EAGAIN: the SYN is on its way
            raise OSError(code, f"connect failed: errno {code}")

    async def accept(self, listener: str, name: str) -> None:
        lab_listener = self._get(listener)
        assert lab_listener.sock is not None
        loop = asyncio.get_running_loop()
        conn, peer = await self._bounded(lab_listener, loop.sock_accept(lab_listener.sock))
        conn.setblocking(False)
        self._add(LabSocket(name, "accepted", conn, _sockname(conn), (peer[0], peer[1])))

    async def send(self, name: str, data: bytes) -> None:
        lab_socket = self._get(name)
        assert lab_socket.sock is not None
        loop = asyncio.get_running_loop()
        await self._bounded(lab_socket, loop.sock_sendall(lab_socket.sock, data))
        lab_socket.chunks.append(Chunk(self.now(), "sent", data))

    def send_until_full(self, name: str, piece: bytes) -> int:
        """Write `piece` again and again until the kernel takes no more: both buffers are full."""
        lab_socket = self._get(name)
        assert lab_socket.sock is not None
        total = 0
        while total < FILL_LIMIT:
            try:
                sent = lab_socket.sock.send(piece)
            except BlockingIOError:
                break
            lab_socket.chunks.append(Chunk(self.now(), "sent", piece[:sent]))
            total += sent
        return total

    async def recv(self, name: str, size: int) -> bytes:
        """One recv(size): what the kernel had, at most `size` bytes (b"": the peer's FIN)."""
        lab_socket = self._get(name)
        assert lab_socket.sock is not None
        loop = asyncio.get_running_loop()
        data = await self._bounded(lab_socket, loop.sock_recv(lab_socket.sock, size))
        if data:
            lab_socket.chunks.append(Chunk(self.now(), "received", data))
        else:
            lab_socket.eof = True
        return data

    def recv_now(self, name: str, size: int) -> bytes:
        """A recv that never waits: what is queued now (b"" when nothing is)."""
        lab_socket = self._get(name)
        assert lab_socket.sock is not None
        try:
            data = lab_socket.sock.recv(size)
        except BlockingIOError:
            return b""
        if data:
            lab_socket.chunks.append(Chunk(self.now(), "received", data))
        else:
            lab_socket.eof = True
        return data

    def shutdown_write(self, name: str) -> None:
        sock = self._get(name).sock
        assert sock is not None
        sock.shutdown(socket.SHUT_WR)

    def close(self, name: str, *, linger_zero: bool = False) -> None:
        """close(); with SO_LINGER 0 the kernel drops the connection with a RST."""
        lab_socket = self._get(name)
        assert lab_socket.sock is not None
        if linger_zero:
            lab_socket.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        lab_socket.sock.close()
        lab_socket.sock = None

    def set_nodelay(self, name: str, on: bool) -> None:
        sock = self._get(name).sock
        assert sock is not None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if on else 0)

    def set_recv_buffer(self, name: str, size: int) -> None:
        sock = self._get(name).sock
        assert sock is not None
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    def set_timeout(self, name: str, seconds: float | None) -> None:
        self._get(name).timeout = seconds

    async def start_server(self, name: str, config: ServerConfig) -> RunningServer:
        """One of netbench's own server kinds, under the lesson's name."""
        if self.engine is None:
            self.engine = Engine()
        running = await self.engine.start_server(config)
        self.servers[name] = running
        return running

    def refused_syn(self, port: int) -> int:
        """Send one SYN to `port` (bound, not listening) and forget it: the kernel answers RST.

        The workshop's capture uses it as a marker: once the RST came through,
        every packet sent before it has too. Returns the SYN's source port,
        which names the RST that answers it.
        """
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setblocking(False)
            probe.bind((HOST, 0))
            source: int = probe.getsockname()[1]
            probe.connect_ex((HOST, port))
            return source

    # -- the kernel's view --------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self.t0

    def read_kernel(self) -> list[SocketReading]:
        """Every socket of the lesson as the kernel sees it now, in the order they were made."""
        table = read_proc_net_tcp(self.ports())
        readings = [self._reading(lab_socket, table) for lab_socket in self.sockets.values()]
        mine = {(r.local[1], r.remote[1]) for r in readings}
        for server_name, server in self.servers.items():
            port = server.address.port
            for entry in table:
                if entry.local_port != port or (entry.local_port, entry.remote_port) in mine:
                    continue
                role: Role = "listener" if entry.state == "LISTEN" else "server"
                name = server_name if role == "listener" else f"{server_name}:{entry.remote_port}"
                readings.append(_from_proc(name, role, entry))
        legs = self.legs.update(self.servers)
        for entry in table:
            ports = (entry.local_port, entry.remote_port)
            if ports in legs and ports not in mine:
                # The leg's row goes under its other end's (`app:44704`): a pair, read together.
                leg = _from_proc(legs[ports], "client", entry)
                ends = [
                    n for n, r in enumerate(readings) if (r.local[1], r.remote[1]) == ports[::-1]
                ]
                readings.insert(ends[0] + 1 if ends else len(readings), leg)
        return readings

    def _reading(self, lab_socket: LabSocket, table: list[ProcSocket]) -> SocketReading:
        entry = _find(table, lab_socket.local[1], lab_socket.remote[1])
        if lab_socket.sock is None:
            if entry is None:
                return SocketReading(
                    lab_socket.name, lab_socket.role, "CLOSED",
                    lab_socket.local, lab_socket.remote, False, None, None, None, None,
                )  # fmt: skip
            return _from_proc(lab_socket.name, lab_socket.role, entry, held=False)
        sock = lab_socket.sock
        if lab_socket.role == "bound":
            return SocketReading(
                lab_socket.name, "bound", "CLOSED", lab_socket.local, lab_socket.remote,
                True, None, None, None, None,
            )  # fmt: skip
        info = parse_tcp_info(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE))
        if info.state == "CLOSED" and entry is not None and entry.state == "TIME_WAIT":
            # The kernel hands a connection entering TIME_WAIT to a small
            # timewait socket and leaves the program's own socket CLOSED.
            info = info._replace(state="TIME_WAIT")
        if lab_socket.role == "listener":
            queue = entry.rx_queue if entry is not None else None
            return SocketReading(
                lab_socket.name, "listener", info.state, lab_socket.local, ("", 0),
                True, info, None, None, queue,
            )  # fmt: skip
        remote = lab_socket.remote
        with contextlib.suppress(OSError):
            remote = sock.getpeername()[:2]
        return SocketReading(
            lab_socket.name, lab_socket.role, info.state, lab_socket.local, remote, True,
            info, _ioctl_int(sock, termios.FIONREAD), _ioctl_int(sock, SIOCOUTQ), None,
        )  # fmt: skip

    # -- the end ------------------------------------------------------------

    async def close_all(self) -> None:
        """Close every socket (with a RST, so no TIME_WAIT outlives the lesson) and server."""
        for lab_socket in self.sockets.values():
            if lab_socket.sock is not None:
                with contextlib.suppress(OSError):
                    if lab_socket.role in ("client", "accepted"):
                        lab_socket.sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    lab_socket.sock.close()
                lab_socket.sock = None
        if self.engine is not None:
            await self.engine.stop_all()
            self.engine = None
        self.servers.clear()

    # -- helpers ------------------------------------------------------------

    def _new_socket(self, *, reuse: bool = True) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if reuse:
            # A lesson run again binds the same port while the last run's
            # connections sit in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        return sock

    def _add(self, lab_socket: LabSocket) -> None:
        old = self.sockets.get(lab_socket.name)
        if old is not None and old.sock is not None:
            raise LabError(f"socket {lab_socket.name!r} is still open")
        # A name reused for a new socket keeps its place in the table.
        self.sockets.pop(lab_socket.name, None)
        self.sockets[lab_socket.name] = lab_socket

    def _get(self, name: str, *, held: bool = True) -> LabSocket:
        lab_socket = self.sockets.get(name)
        if lab_socket is None:
            raise LabError(f"no socket named {name!r}")
        if held and lab_socket.sock is None:
            raise LabError(f"socket {name!r} is closed")
        return lab_socket

    async def _bounded(self, lab_socket: LabSocket, call: Awaitable[T]) -> T:
        timeout = lab_socket.timeout if lab_socket.timeout is not None else self.step_timeout
        return await asyncio.wait_for(call, timeout)


SYN_LINEAR_TIMEOUTS = "/proc/sys/net/ipv4/tcp_syn_linear_timeouts"


def syn_linear_timeouts() -> int | None:
    """How many SYN retries wait 1 s before the waits double (Linux >= 6.7), else None.

    Older kernels have no such setting: each retry waits twice as long.
    """
    try:
        with open(SYN_LINEAR_TIMEOUTS, encoding="ascii") as setting:
            return int(setting.read().strip())
    except (OSError, ValueError):
        return None


def read_proc_net_tcp(ports: Collection[int] | None = None) -> list[ProcSocket]:
    """The sockets of /proc/net/tcp{,6}; with `ports`, only lines that mention one of them.

    A busy machine holds thousands of sockets (TIME_WAIT ones included) and
    decoding a line costs ~15 µs: a lesson reads the table several times a
    step, so it decodes only its own ports' lines (a cheap substring test).
    """
    wanted = None if ports is None else tuple(f":{port:04X} " for port in ports if port)
    entries: list[ProcSocket] = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        text = ""  # no IPv6, or no /proc: no sockets from there
        with contextlib.suppress(OSError), open(path, encoding="ascii") as table:
            text = table.read()
        if wanted is not None:
            text = "\n".join([text.partition("\n")[0], *_lines_with(text, wanted)])
        entries.extend(parse_proc_net_tcp(text))
    return entries


def _lines_with(text: str, needles: tuple[str, ...]) -> list[str]:
    """The lines of `text` holding any of `needles`, in order (str.find: C speed)."""
    found: dict[int, str] = {}
    for needle in needles:
        at = text.find(needle)
        while at != -1:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at)
            end = len(text) if end == -1 else end
            if start:  # line 0 is the header
                found[start] = text[start:end]
            at = text.find(needle, end)
    return [found[start] for start in sorted(found)]


def _find(table: list[ProcSocket], local_port: int, remote_port: int) -> ProcSocket | None:
    if not local_port:
        return None
    for entry in table:
        if entry.local_port == local_port and entry.remote_port == remote_port:
            return entry
    return None


def _from_proc(name: str, role: Role, entry: ProcSocket, *, held: bool = False) -> SocketReading:
    listener = entry.state == "LISTEN"
    return SocketReading(
        name,
        role,
        entry.state,
        (entry.local_host, entry.local_port),
        (entry.remote_host, entry.remote_port),
        held,
        None,
        None if listener else entry.rx_queue,
        None if listener else entry.tx_queue,
        entry.rx_queue if listener else None,
    )


def _sockname(sock: socket.socket) -> tuple[str, int]:
    try:
        host, port = sock.getsockname()[:2]
    except OSError:
        return ("", 0)
    return (host, port)


def _ioctl_int(sock: socket.socket, request: int) -> int | None:
    try:
        raw = fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0")
    except OSError:
        return None
    value: int = struct.unpack("i", raw)[0]
    return value
