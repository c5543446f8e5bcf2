"""`netbench capture-agent`: the privileged helper, in the spirit of dumpcap.

Rules:
- it is the only part of netbench meant to run as root, and it does one
  thing: capture TCP packet headers on a loopback interface and hand them to
  netbench processes of one user. It captures control packets (SYN, FIN,
  RST, bare ACKs) of every connection, and the data segments of young
  connections to the ports its clients name (window.py: the first 32, within
  a budget) - no other protocol, no other interface - and it forwards
  headers only, never payload bytes. Once its capture socket is open it
  drops root for the invoking user's identity;
- the user is the one who ran sudo (`SUDO_UID`), else `--user`, else the
  agent's own user. The socket file belongs to that user, mode 0600, in a
  directory that is theirs alone (sockdir.py), and everything the agent
  does there it does with their identity, so nothing planted there makes
  root act; every client's SO_PEERCRED must be that user (or root);
- a client gets the packets of its own uid's connections only (it owns a
  socket at one end: owners.py), never another user's;
- a slow or vanished client never stops the agent or the others: each has a
  bounded queue, overflow is counted as drops in its status records;
- Ctrl+C (SIGINT) or SIGTERM stops it cleanly and removes the socket file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from netbench.capture import sockdir, wire
from netbench.capture.frames import DEFAULT_SNAP, FrameSniffer, WindowedFilter
from netbench.capture.owners import ConnectionOwners, OwnerLookup
from netbench.capture.window import DataWindow
from netbench.model import TcpPacket
from netbench.protocol.tcp_decode import decode, headers_only

__all__ = ["AgentError", "CaptureAgent", "run_agent"]

QUEUE_LIMIT = 65536
"""Records one client may fall behind by before the agent drops for it."""
_ARPHRD_LOOPBACK = 772


def _print(line: str) -> None:
    print(line, flush=True)


class AgentError(Exception):
    """A one-line reason the agent cannot start."""


def is_loopback(interface: str) -> bool:
    try:
        kind = Path("/sys/class/net", interface, "type").read_text().strip()
    except OSError:
        return False
    return kind == str(_ARPHRD_LOOPBACK)


def invoking_user() -> tuple[int, int]:
    """(uid, gid) of the user the agent serves: whoever ran sudo, else itself."""
    try:
        if os.geteuid() == 0 and "SUDO_UID" in os.environ:
            return int(os.environ["SUDO_UID"]), int(os.environ.get("SUDO_GID", "-1"))
    except ValueError:
        pass
    return os.getuid(), os.getgid()


@dataclass(eq=False)
class _Client:
    writer: asyncio.StreamWriter
    uid: int
    queue: deque[bytes] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    ports: tuple[int, ...] = ()
    """The ports whose young data segments this client asked for."""


class CaptureAgent:
    """Capture packet headers on `interface` and serve them on a Unix socket.

    `owner_lookup` says who owns a local socket (engine/sockdiag.py's
    `TcpOwners` in the command): each client gets its own uid's connections.
    """

    def __init__(
        self,
        path: Path,
        *,
        owner_lookup: OwnerLookup,
        interface: str = "lo",
        uid: int | None = None,
        gid: int = -1,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.interface = interface
        self.uid = os.getuid() if uid is None else uid
        self.gid = gid
        self.clients: set[_Client] = set()
        self._log = log or _print
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._pending: deque[tuple[TcpPacket, bytes]] = deque()
        self._owners = ConnectionOwners(owner_lookup)
        self._armed = False
        window = DataWindow()
        self._sniffer = FrameSniffer(
            interface, window.filter(), self._on_frame, on_batch=self._after_batch
        )
        self._filter = WindowedFilter(self._sniffer, window)

    async def start(self) -> None:
        """Check, bind the socket, open the capture. Raises AgentError."""
        if not is_loopback(self.interface):
            raise AgentError(
                f"{self.interface!r} is not a loopback interface: the agent only captures loopback"
            )
        self._loop = asyncio.get_running_loop()
        directory = self.path.parent
        try:
            if directory == sockdir.RUN_DIR / str(self.uid):
                if os.geteuid() != 0:
                    raise AgentError("the capture agent needs root: run it with sudo")
                sockdir.make_run_dir(directory, self.uid, self.gid)
            with self._as_user():
                sockdir.make_private_dir(directory, self.uid)
                await self._claim_path()
                old_umask = os.umask(0o177)  # the socket file is born 0600, the user's
                try:
                    self._server = await asyncio.start_unix_server(self._accept, str(self.path))
                finally:
                    os.umask(old_umask)
        except sockdir.SocketDirError as error:
            raise AgentError(str(error)) from error
        try:
            await asyncio.wait_for(asyncio.to_thread(self._sniffer.open), 15.0)
            self._drop_root()
        except BaseException as exc:
            await self.stop()
            if isinstance(exc, PermissionError):
                raise AgentError("the capture agent needs root: run it with sudo") from exc
            if isinstance(exc, Exception):
                raise AgentError(f"cannot capture on {self.interface}: {exc}") from exc
            raise

    def _drop_root(self) -> None:
        """Become the served user once the capture socket is open (as dumpcap does).

        The open socket keeps working; everything else the agent does (serve
        the user's own socket file, remove it at exit) needs no privilege.
        """
        if os.geteuid() != 0 or self.uid == 0:
            return
        os.setgroups([])
        if self.gid >= 0:
            os.setgid(self.gid)
        os.setuid(self.uid)  # glibc applies it to every thread, the sniffer's too

    @contextlib.contextmanager
    def _as_user(self) -> Iterator[None]:
        """Act with the served user's identity for a while (root can come back).

        Whatever the user, or a race of theirs, puts in their own directory,
        the agent then can do there no more than they could.
        """
        if os.geteuid() != 0 or self.uid == 0:
            yield
            return
        groups, egid = os.getgroups(), os.getegid()
        os.setgroups([])
        if self.gid >= 0:
            os.setegid(self.gid)
        os.seteuid(self.uid)
        try:
            yield
        finally:
            os.seteuid(0)
            os.setegid(egid)
            os.setgroups(groups)

    async def _claim_path(self) -> None:
        """Take over a stale socket file; refuse anything else at that path."""
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            raise AgentError(f"{self.path} exists and is not a socket: remove it or pick --socket")
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path)), 1.0
            )
        except (OSError, TimeoutError):
            self.path.unlink(missing_ok=True)  # nobody listens: a leftover
            return
        writer.close()
        raise AgentError(f"another capture agent already serves {self.path}")

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; then stop everything."""
        kernel_drops, last_status = 0, 0.0
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
                dropped = self._sniffer.read_drops()
                now = time.monotonic()
                if self._filter.tick():
                    last_status = 0.0  # the pause changed: say so now
                if dropped != kernel_drops or now - last_status >= wire.HEARTBEAT:
                    kernel_drops, last_status = dropped, now
                    for client in list(self.clients):
                        self._send_status(client, dropped)
                if not self._sniffer.alive:
                    self._log("netbench capture-agent: the capture socket failed; stopping")
                    break
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Close the server, the clients and the capture; remove the socket file."""
        if self._server is not None:
            self._server.close()
            self._server = None
        await asyncio.to_thread(self._sniffer.close)
        for client in list(self.clients):
            self._drop(client)
        with self._as_user(), contextlib.suppress(OSError):
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()

    # -- clients -----------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uid = wire.peer_uid(writer.get_extra_info("socket"))
        if uid is None or uid not in (self.uid, 0):
            self._log(f"netbench capture-agent: refused a client of uid {uid}")
            writer.close()
            return
        client = _Client(writer, uid)
        self.clients.add(client)
        client.queue.append(wire.HELLO)
        self._send_status(client, self._sniffer.dropped)
        self._log(f"netbench capture-agent: client connected ({len(self.clients)} now)")
        listening = asyncio.get_running_loop().create_task(self._listen(client, reader))
        try:
            await self._pump(client)
        except (OSError, TimeoutError):
            pass  # the client went away or stopped reading: its loss only
        finally:
            listening.cancel()
            self._drop(client)

    async def _listen(self, client: _Client, reader: asyncio.StreamReader) -> None:
        """Read the client's watch records; anything else ends the client."""
        try:
            while True:
                length = wire.record_length(await reader.readexactly(4))
                record = wire.parse_record(await reader.readexactly(length))
                if record is None or record.kind != "watch":
                    raise ValueError("a client may only send watch records")
                client.ports = record.ports
                self._watch()
                client.queue.append(wire.encode_watch(record.ports, kind=b"A"))
                client.wake.set()
        except (OSError, EOFError, ValueError):
            self._drop(client)

    def _watch(self) -> None:
        ports = {port for client in self.clients for port in client.ports}
        self._filter.watch(ports)
        for client in list(self.clients):
            self._send_status(client, self._sniffer.dropped)

    async def _pump(self, client: _Client) -> None:
        writer = client.writer
        while not writer.is_closing():
            await client.wake.wait()
            client.wake.clear()
            while client.queue:
                batch = [client.queue.popleft() for _ in range(min(len(client.queue), 4096))]
                writer.write(b"".join(batch))
                await asyncio.wait_for(writer.drain(), 10.0)

    def _drop(self, client: _Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            client.writer.close()
            client.wake.set()
            self._log(f"netbench capture-agent: client left ({len(self.clients)} now)")
            if client.ports:
                self._watch()

    def _send_status(self, client: _Client, kernel_drops: int) -> None:
        detail = f"agent capturing TCP packet headers on {self.interface}"
        if self._filter.paused:
            detail += f"{wire.PAUSED}{self._filter.paused}"
        client.queue.append(wire.encode_status(time.time(), kernel_drops + client.dropped, detail))
        client.wake.set()

    # -- packets -------------------------------------------------------------------

    def _on_frame(self, t: float, linktype: int, frame: bytes) -> None:
        """Sniffer thread: strip the payload, queue, make sure a flush is coming."""
        headers = headers_only(frame, linktype)
        if headers is None:
            return
        packet = decode(frame, t, linktype, DEFAULT_SNAP)
        if packet is None:
            return
        if self._filter.window.data_ports:
            self._filter.observe(packet)
        self._pending.append((packet, wire.encode_packet(t, linktype, headers)))
        if not self._armed and self._loop is not None:
            self._armed = True
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._arm)

    def _after_batch(self) -> None:
        """Sniffer thread: follow the data window; a pause is said in the next status."""
        self._filter.apply()

    def _arm(self) -> None:
        assert self._loop is not None
        self._loop.call_later(0.02, self._flush)

    def _flush(self) -> None:
        """Hand each client the packets of its own uid's connections, in order."""
        self._armed = False
        pending = self._pending
        batch = [pending.popleft() for _ in range(len(pending))]
        if not self.clients:
            return  # nobody to look connections up for
        self._owners.new_batch()
        for packet, record in batch:
            uids = self._owners.owners(packet)
            if not uids:
                continue
            for client in self.clients:
                if client.uid not in uids:
                    continue
                if len(client.queue) >= QUEUE_LIMIT:
                    client.dropped += 1
                    continue
                client.queue.append(record)
                client.wake.set()


def run_agent(
    path: Path | None = None,
    interface: str = "lo",
    *,
    owner_lookup: OwnerLookup,
    user: tuple[int, int] | None = None,
) -> int:
    """The command: run until Ctrl+C. The exit code (1 with one line on failure).

    `user` (uid, gid) is whom it serves; by default whoever ran sudo.
    """
    uid, gid = invoking_user() if user is None else user
    path = wire.agent_socket_path(uid) if path is None else path
    agent = CaptureAgent(path, owner_lookup=owner_lookup, interface=interface, uid=uid, gid=gid)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await agent.start()
        except AgentError as error:
            print(f"netbench capture-agent: error: {error}", file=sys.stderr)
            return 1
        print(
            f"netbench capture-agent: capturing TCP packet headers on {interface} "
            f"for uid {uid}, serving {path} (Ctrl+C stops)",
            flush=True,
        )
        await agent.serve(stop)
        print("netbench capture-agent: stopped", flush=True)
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
