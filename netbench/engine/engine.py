"""The engine: start and stop servers of every kind at run time, on one loop.

The engine owns every listening socket and connection; everything else
(session store, CLI printer, UI) sees it only through the events it
publishes and the commands below. It never imports the UI.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import socket
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from netbench.engine.config import ServerConfig
from netbench.engine.context import EngineContext
from netbench.engine.http_server import Handler, HttpServerConnection, RequestContext
from netbench.engine.live import LiveResponder
from netbench.engine.static import StaticSite
from netbench.engine.stream import RecordedStream, endpoint
from netbench.engine.tcp_kinds import (
    EchoConnection,
    PrefixEchoConnection,
    ReplyConnection,
    TimeConnection,
)
from netbench.engine.udp import UdpEchoProtocol
from netbench.events import ServerStarted, ServerStopped
from netbench.model import Endpoint, EndReason, HttpRequest, Transport, server_url
from netbench.protocol.pages import PageSite, request_path
from netbench.protocol.responses import Reply


class EngineError(Exception):
    """A user-facing failure (port in use, bad root...): the message is one clear line."""


class ServerState(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(eq=False)
class RunningServer:
    server_id: int
    config: ServerConfig
    address: Endpoint
    state: ServerState = ServerState.RUNNING
    connections: set[RecordedStream] = field(default_factory=set)
    handle: Any = None
    """The asyncio Server (TCP) or DatagramTransport (UDP)."""
    live: LiveResponder | None = None

    @property
    def transport(self) -> Transport:
        return Transport.UDP if self.config.kind == "udp-echo" else Transport.TCP

    @property
    def url(self) -> str:
        return server_url(self.config.kind, self.transport, self.address)


def load_test_jpeg() -> bytes:
    return resources.files("netbench").joinpath("assets/test.jpg").read_bytes()


class Engine:
    def __init__(self, ctx: EngineContext | None = None) -> None:
        self.ctx = ctx or EngineContext()
        self.servers: dict[int, RunningServer] = {}
        self._jpeg: bytes | None = None

    @property
    def bus(self) -> Any:
        return self.ctx.bus

    async def start_server(self, config: ServerConfig) -> RunningServer:
        """Bind and listen; raises EngineError with a one-line reason on failure."""
        server_id = self.ctx.next_server_id()
        running = RunningServer(server_id, config, Endpoint(config.host, config.port))
        loop = asyncio.get_running_loop()
        try:
            if config.kind == "udp-echo":
                transport, _protocol = await loop.create_datagram_endpoint(
                    lambda: UdpEchoProtocol(
                        self.ctx, server_id=server_id, idle_timeout=config.idle_timeout
                    ),
                    local_addr=(config.host, config.port),
                )
                running.handle = transport
                running.address = endpoint(transport.get_extra_info("sockname"))
            else:
                factory = self._factory(running)
                server = await loop.create_server(
                    factory,
                    config.host,
                    config.port,
                    backlog=config.backlog,
                    reuse_address=True,
                )
                running.handle = server
                running.address = endpoint(server.sockets[0].getsockname())
        except OSError as error:
            raise EngineError(_bind_error(config, error)) from None
        self.servers[server_id] = running
        transport_kind = Transport.UDP if config.kind == "udp-echo" else Transport.TCP
        self.ctx.publish(
            ServerStarted(
                server_id,
                config.kind,
                transport_kind,
                running.address,
                time.monotonic(),
                config.options(),
            )
        )
        return running

    async def stop_server(self, server_id: int, timeout: float = 2.0) -> None:
        """Stop listening and close its open connections (recorded as `stopped`)."""
        running = self.servers.get(server_id)
        if running is None or running.state is ServerState.STOPPED:
            return
        running.state = ServerState.STOPPED
        handle = running.handle
        if isinstance(handle, asyncio.AbstractServer):
            handle.close()
        for connection in list(running.connections):
            connection.close(reason=EndReason.STOPPED)
        waits = [c.closed_event.wait() for c in running.connections]
        if running.config.kind == "udp-echo":
            handle.close()
        if waits:
            await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=timeout)
        for connection in list(running.connections):
            connection.abort(reason=EndReason.STOPPED, detail="did not close in time")
        if isinstance(handle, asyncio.AbstractServer):
            await asyncio.wait_for(handle.wait_closed(), timeout)
        self.ctx.publish(ServerStopped(server_id, time.monotonic()))

    async def stop_all(self) -> None:
        for server_id in list(self.servers):
            await self.stop_server(server_id)
        await self.ctx.tasks.cancel_all()

    # -- connection factories -------------------------------------------------------

    def _factory(self, running: RunningServer) -> Any:
        config = running.config
        ctx = self.ctx
        common = {
            "server_id": running.server_id,
            "recv_size": config.recv_size,
            "idle_timeout": config.idle_timeout,
        }
        if config.kind in ("http", "static"):
            handler = self._http_handler(running)

            def make() -> RecordedStream:
                return HttpServerConnection(
                    ctx,
                    handler,
                    keep_alive=config.keep_alive,
                    **common,  # type: ignore[arg-type]
                )
        else:
            cls: type[RecordedStream] = {
                "echo": EchoConnection,
                "reply": ReplyConnection,
                "prefix-echo": PrefixEchoConnection,
                "time": TimeConnection,
            }[config.kind]
            reply_text = config.text.encode()

            def make() -> RecordedStream:
                connection = cls(ctx, **common)  # type: ignore[arg-type]
                if isinstance(connection, ReplyConnection):
                    connection.reply = reply_text
                return connection

        def tracked() -> RecordedStream:
            connection = make()
            running.connections.add(connection)
            connection.on_closed_hooks.append(lambda: running.connections.discard(connection))
            return connection

        return tracked

    def _http_handler(self, running: RunningServer) -> Handler:
        config = running.config
        live = LiveResponder(
            response_file=config.response_file, rules_file=config.rules_file, raw=config.raw
        )
        running.live = live if live.active else None
        site: PageSite | StaticSite
        if config.kind == "static":
            root = config.root or Path.cwd()
            if not root.is_dir():
                raise EngineError(f"static root {root} is not a directory")
            site = StaticSite(root)
        else:
            if self._jpeg is None:
                self._jpeg = load_test_jpeg()
            site = PageSite(self._jpeg)

        def handle(request: HttpRequest, context: RequestContext) -> Reply:
            if running.live is not None:
                path = request_path(request.target)
                reply = running.live.answer(
                    request, path, keep_alive=context.keep_alive, date=context.date
                )
                if reply is not None:
                    return reply
            return site.respond(request, keep_alive=context.keep_alive, date=context.date)

        return handle


def _bind_error(config: ServerConfig, error: OSError) -> str:
    where = f"{config.host}:{config.port}"
    if error.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is already in use (try --port 0 for a free one)"
    if error.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need root)"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: no such address on this machine"
    if isinstance(error, socket.gaierror):
        return f"cannot listen on {where}: unknown host {config.host!r}"
    return f"cannot listen on {where}: {error.strerror or error}"
