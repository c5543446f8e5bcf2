"""The composition root: one engine, its recorder and its capture, wired once.

`netbench serve` and the TUI run the same engine the same way; this is the
one place that decides how: the session's first free ids, the recorder on
the bus with its pause hook, the subscribers each front end adds, the
free-port loop of a preset port, capture, and the order things stop in.

Rules:
- the recorder runs in its own process (store/recorder.py): SQLite never
  takes the interpreter that answers requests or draws the screen;
- `open()` happens before the engine exists, so the engine's ids continue
  those already in an appended session; it raises StoreError (one line);
- the front ends never build EngineContext, Engine or a writer themselves.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netbench.engine.context import EngineContext
from netbench.engine.engine import Engine, EngineError, RunningServer

if TYPE_CHECKING:
    from netbench.capture import Backend, CaptureHandle, CaptureProblem
    from netbench.engine.bus import Subscriber
    from netbench.engine.config import ServerConfig
    from netbench.store.recorder import RecorderProcess

PORT_ATTEMPTS = 20
"""Ports tried upward from a preset one that is taken (8000, 8001, ...)."""


class Runtime:
    """An engine, what records it and what captures its packets."""

    def __init__(
        self,
        session: Path | None,
        *,
        argv: Sequence[str] = (),
        on_recording_error: Callable[[str], None] | None = None,
        wal_limit: int | None = None,
    ) -> None:
        self.session = session
        """The session file, or None: nothing is recorded (`serve --no-record`)."""
        self.recorder: RecorderProcess | None = None
        self.engine: Engine | None = None
        self.capture: CaptureHandle | None = None
        self._argv = list(argv)
        self._on_recording_error = on_recording_error
        self._wal_limit = wal_limit
        self._ctx: EngineContext | None = None

    def open(self) -> None:
        """Open the session's recorder (nothing when not recording). Raises StoreError."""
        if self.session is None:
            return
        options: dict[str, Any] = {"argv": self._argv, "on_error": self._on_recording_error}
        if self._wal_limit is not None:
            options["wal_limit"] = self._wal_limit
        from netbench.store.recorder import RecorderProcess

        recorder = RecorderProcess(self.session, **options)
        recorder.open()
        self.recorder = recorder

    def start(self, subscribers: Iterable[tuple[Subscriber, Iterable[type] | None]] = ()) -> Engine:
        """Build the engine on the running loop; the recorder subscribes first."""
        recorder = self.recorder
        ctx = EngineContext(first_ids=recorder.next_ids() if recorder else (1, 1, 1))
        if recorder is not None:
            ctx.bus.subscribe(recorder)
            recorder.pause_with(asyncio.get_running_loop(), ctx.pause_reading)
        for subscriber, kinds in subscribers:
            ctx.bus.subscribe(subscriber, kinds=kinds)
        self._ctx = ctx
        self.engine = Engine(ctx)
        return self.engine

    async def start_server(self, config: ServerConfig, *, next_free: bool) -> RunningServer:
        """Start a server; with `next_free`, a taken preset port moves to the next free one.

        Raises EngineError for the last attempt's failure.
        """
        assert self.engine is not None, "start() first"
        attempts = PORT_ATTEMPTS if next_free and config.port != 0 else 1
        for attempt in range(attempts):
            port = config.port + attempt if config.port else 0
            try:
                return await self.engine.start_server(dataclasses.replace(config, port=port))
            except EngineError as error:
                if attempt == attempts - 1 or not error.port_in_use:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def capture_ports(
        self, ports: Iterable[int], backend: Backend | CaptureProblem | None = None
    ) -> None:
        """Capture these ports' packets only (`serve --capture`)."""
        from netbench.capture import start_capture

        assert self._ctx is not None, "start() first"
        self.capture = start_capture(self._ctx, ports=tuple(ports), backend=backend)

    def capture_own(self) -> None:
        """Capture the control packets of netbench's own connections, and the
        young data of its servers' ones, following servers as they start (the TUI)."""
        from netbench.capture import ServerPorts, start_capture
        from netbench.capture.scope import OwnPackets

        ctx = self._ctx
        assert ctx is not None, "start() first"
        own = OwnPackets(ctx)
        ctx.bus.subscribe(own, kinds=OwnPackets.FOLLOWS)
        self.capture = start_capture(own, data_ports=())
        ctx.bus.subscribe(ServerPorts(self.capture), kinds=ServerPorts.FOLLOWS)

    async def stop(self, *, last_packets: float = 0.0) -> None:
        """Stop every server and client, then capture (after `last_packets`
        seconds: the last FINs of the connections just closed are on their way)."""
        engine, self.engine = self.engine, None
        if engine is not None:
            await engine.stop_all()
        capture, self.capture = self.capture, None
        if capture is not None:
            if last_packets:
                await asyncio.sleep(last_packets)
            capture.stop()

    def close(self) -> None:
        """Write what the recorder holds and end the recording (idempotent)."""
        if self.recorder is not None:
            self.recorder.close()
