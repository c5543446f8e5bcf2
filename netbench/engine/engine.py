"""The engine: start and stop servers of every kind at run time, on one loop.

The engine owns every listening socket and connection; everything else
(session store, CLI printer, UI) sees it only through the events it
publishes and the commands below. It never imports the UI.

Each kind is built by its registry entry (engine/registry.py) through a
`_Runtime`: the engine binds, tracks connections and caps their number, the
kind makes the protocol. An HTTP server answers each request from, in order:
its intercept queue when intercept is on (the user decides), its live rules
and response file (changed at run time with `set_rules` / `set_response`),
then its kind's own site (pages, files, an application).
"""

from __future__ import annotations

import asyncio
import enum
import errno
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from netbench.engine import registry
from netbench.engine.config import ServerConfig
from netbench.engine.context import EngineContext
from netbench.engine.errors import EngineError as EngineError  # its home before
from netbench.engine.http_server import Handler, Pending, RequestContext
from netbench.engine.intercept import InterceptQueue
from netbench.engine.live import LiveResponder
from netbench.engine.registry import KindError, Listener
from netbench.engine.stream import RecordedStream, endpoint
from netbench.engine.tcp_kinds import OverCapacity
from netbench.events import ServerStarted, ServerStopped
from netbench.model import Endpoint, EndReason, HttpRequest, Transport
from netbench.protocol.pages import request_path
from netbench.protocol.responses import Reply
from netbench.protocol.words import with_article


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
    """Where HTTP requests are answered from before the site (None: the site only)."""
    intercept: InterceptQueue | None = None
    """HTTP servers only: the requests held for the user."""
    listener: Listener | None = None
    """What its kind built (closed after its connections when it stops)."""
    legs: int = 0
    """Open connections of `connections` it made itself (a proxy's upstream
    legs): `--max-connections` caps the clients', not these."""

    @property
    def transport(self) -> Transport:
        return registry.transport_of(self.config.kind)

    @property
    def url(self) -> str:
        return registry.server_url(self.config.kind, self.transport, self.address)


def load_test_jpeg() -> bytes:
    return resources.files("netbench").joinpath("assets/test.jpg").read_bytes()


class Engine:
    def __init__(self, ctx: EngineContext | None = None) -> None:
        self.ctx = ctx or EngineContext()
        self.servers: dict[int, RunningServer] = {}

    @property
    def bus(self) -> Any:
        return self.ctx.bus

    async def start_server(self, config: ServerConfig) -> RunningServer:
        """Bind and listen; raises EngineError with a one-line reason on failure."""
        try:
            kind = registry.get(config.kind)
        except ValueError as error:
            raise EngineError(str(error)) from None
        server_id = self.ctx.next_server_id()
        running = RunningServer(server_id, config, Endpoint(config.host, config.port))
        try:
            listener = await kind.build(_Runtime(self, running))
        except KindError as error:
            self.ctx.server_never_started(server_id)
            raise EngineError(str(error)) from None
        running.listener = listener
        loop = asyncio.get_running_loop()
        try:
            if kind.transport is Transport.UDP:
                transport, _protocol = await loop.create_datagram_endpoint(
                    listener.protocol, local_addr=(config.host, config.port)
                )
                running.handle = transport
                running.address = endpoint(transport.get_extra_info("sockname"))
            else:
                server = await loop.create_server(
                    self._tracked(running, kind.http),
                    config.host,
                    config.port,
                    backlog=config.backlog,
                    reuse_address=True,
                )
                running.handle = server
                running.address = endpoint(server.sockets[0].getsockname())
        except OSError as error:
            if listener.close is not None:
                await listener.close()
            self.ctx.server_never_started(server_id)
            raise EngineError(
                _bind_error(config, error), port_in_use=error.errno == errno.EADDRINUSE
            ) from None
        self.servers[server_id] = running
        self.ctx.publish(
            ServerStarted(
                server_id,
                config.kind,
                kind.transport,
                running.address,
                time.monotonic(),
                registry.recorded_options(config),
            )
        )
        return running

    async def stop_server(self, server_id: int, timeout: float = 2.0) -> None:
        """Stop listening and close its open connections (recorded as `stopped`)."""
        running = self.servers.get(server_id)
        if running is None or running.state is ServerState.STOPPED:
            return
        running.state = ServerState.STOPPED
        if running.intercept is not None:
            running.intercept.stop()
        handle = running.handle
        if isinstance(handle, asyncio.AbstractServer):
            handle.close()
        for connection in list(running.connections):
            connection.close(reason=EndReason.STOPPED)
        waits = [c.closed_event.wait() for c in running.connections]
        if handle is not None and not isinstance(handle, asyncio.AbstractServer):
            handle.close()  # a datagram transport: its flows end as `stopped`
        if waits:
            await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=timeout)
        for connection in list(running.connections):
            connection.abort(reason=EndReason.STOPPED, detail="did not close in time")
        if isinstance(handle, asyncio.AbstractServer):
            await asyncio.wait_for(handle.wait_closed(), timeout)
        if running.listener is not None and running.listener.close is not None:
            await running.listener.close()
        self.ctx.publish(ServerStopped(server_id, time.monotonic()))

    async def stop_all(self) -> None:
        for server_id in list(self.servers):
            await self.stop_server(server_id)
        await self.ctx.tasks.cancel_all()

    # -- connections ----------------------------------------------------------------

    def _tracked(self, running: RunningServer, http: bool) -> Any:
        """The kind's protocol factory, tracked and capped at --max-connections."""
        ctx = self.ctx
        config = running.config
        assert running.listener is not None
        make = running.listener.protocol
        cap = config.limits.max_connections
        common = {
            "server_id": running.server_id,
            "recv_size": config.recv_size,
            "idle_timeout": config.idle_timeout,
        }

        def tracked() -> asyncio.BaseProtocol:
            if cap and len(running.connections) - running.legs >= cap:
                # Accepted (the kernel already finished the handshake), answered
                # and closed at once; recorded like any connection.
                return OverCapacity(ctx, cap=cap, http=http, **common)
            connection = make()
            if isinstance(connection, RecordedStream):
                _track(running, connection)
            return connection

        return tracked

    def _http_handler(self, running: RunningServer, site: Handler) -> Handler:
        config = running.config
        live = LiveResponder(
            response_file=config.response_file, rules_file=config.rules_file, raw=config.raw
        )
        running.live = live if live.active else None

        def respond(request: HttpRequest, context: RequestContext) -> Reply | Pending:
            if running.live is not None:
                path = request_path(request.target)
                reply = running.live.answer(
                    request, path, keep_alive=context.keep_alive, date=context.date
                )
                if reply is not None:
                    return reply
            return site(request, context)

        queue = running.intercept = InterceptQueue(self.ctx, running.server_id, respond)

        def handle(request: HttpRequest, context: RequestContext) -> Reply | Pending:
            if queue.on:
                return queue.hold(request, context)
            return respond(request, context)

        return handle

    # -- live responses and intercept (HTTP servers) ------------------------------

    def _http_server(self, server_id: int) -> RunningServer:
        running = self.servers.get(server_id)
        if running is None:
            raise EngineError(f"no server #{server_id}")
        if not registry.is_http(running.config.kind):
            kind = with_article(running.config.kind)
            raise EngineError(f"server #{server_id} is {kind} server, not HTTP")
        return running

    def set_response(
        self, server_id: int, path: Path | None, *, raw: bool = False, fix_length: bool = True
    ) -> None:
        """Answer from this response file from the next request on (None: stop).

        The same mechanism as `serve --response FILE --raw`: the file is read
        on each request by stat, so later saves apply too. The rules file stays.
        """
        running = self._http_server(server_id)
        old = running.live
        live = LiveResponder(
            response_file=path,
            rules_file=old.rules_path if old is not None else None,
            raw=raw,
            fix_length=fix_length,
        )
        running.live = live if live.active else None

    def set_rules(self, server_id: int, path: Path | None) -> None:
        """Consult this TOML rules file first from the next request on (None: stop)."""
        running = self._http_server(server_id)
        old = running.live
        live = LiveResponder(
            response_file=old.response_path if old is not None else None,
            rules_file=path,
            raw=old.raw if old is not None else running.config.raw,
            fix_length=old.fix_length if old is not None else True,
        )
        running.live = live if live.active else None

    def set_intercept(self, server_id: int, on: bool) -> InterceptQueue:
        """Hold this server's requests (on), or let it answer them all again (off)."""
        queue = self.intercepts(server_id)
        if queue is None:
            raise EngineError(f"server #{server_id} cannot intercept")
        queue.set_on(on)
        return queue

    def intercepts(self, server_id: int) -> InterceptQueue | None:
        """The intercept queue of an HTTP server (on or off); None for other servers."""
        running = self.servers.get(server_id)
        return running.intercept if running is not None else None


def _track(running: RunningServer, connection: RecordedStream) -> None:
    running.connections.add(connection)
    connection.on_closed_hooks.append(lambda: running.connections.discard(connection))


class _Runtime:
    """The engine as one server's kind sees it while building (registry.KindRuntime)."""

    def __init__(self, engine: Engine, running: RunningServer) -> None:
        self.engine = engine
        self.running = running
        self.ctx = engine.ctx
        self.config = running.config
        self.server_id = running.server_id

    def stream_options(self) -> dict[str, Any]:
        return {
            "server_id": self.server_id,
            "recv_size": self.config.recv_size,
            "idle_timeout": self.config.idle_timeout,
        }

    def http_handler(self, site: Handler) -> Handler:
        return self.engine._http_handler(self.running, site)

    def answered_before_site(self, request: HttpRequest) -> bool:
        running = self.running
        if running.intercept is not None and running.intercept.on:
            return True
        live = running.live
        return live is not None and live.answers(request.method, request_path(request.target))

    def adopt(self, stream: RecordedStream) -> None:
        running = self.running
        running.legs += 1
        stream.on_closed_hooks.append(partial(_leg_closed, running))
        _track(running, stream)


def _leg_closed(running: RunningServer) -> None:
    running.legs -= 1


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
