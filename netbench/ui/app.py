"""NetbenchApp: the engine, the session and the screens, on one asyncio loop.

The engine runs on Textual's own event loop: servers, clients and widgets
share it, and the engine reaches widgets only through the `EventHub`
(batched `EventsArrived` messages). Widgets command the engine by calling
`app.engine` methods; they never touch sockets.

`netbench open PATH` runs the same app read-only: no engine, no writer, the
same screens fed from the session file.

Every way out (ctrl+q, the palette's quit, SIGTERM or SIGHUP, an exception)
goes through `shutdown`, which closes the app's reader before the writer: a
reader still attached keeps the file in WAL mode and leaves -wal and -shm
behind (docs/sessions.md).

Startup puts the first frame first (issue 6): `on_load` starts the
recorder's process, `on_mount` pushes the main screen and returns; after
that frame, `_finish_start` waits for the recorder, starts the engine and
the page server (the header then names its URL), then mounts the panes
hidden behind tabs and starts capture; `started` is set at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen

from netbench.protocol.limits import HttpLimits
from netbench.protocol.textsafe import visible_text
from netbench.ui.commands import palette_commands
from netbench.ui.follow import StoreFollower
from netbench.ui.hub import EventHub
from netbench.ui.settings import load_settings, save_theme

if TYPE_CHECKING:
    from netbench.engine.engine import Engine, RunningServer
    from netbench.runtime import Runtime
    from netbench.store import SessionReader
    from netbench.store.har_import import ImportRow
    from netbench.ui.follow import SessionServices
    from netbench.ui.screens.main import MainScreen


NO_RAW_BYTES = (
    "Imported from HAR: no raw bytes (a HAR holds headers and bodies, not the bytes sent)."
)
"""The Bytes tab's word on an imported session's connections."""


@dataclass(frozen=True, slots=True)
class AppConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    """The page server's port; the next free one is used if it is taken."""
    session: Path | None = None
    """Where to record (a new file in the data directory by default)."""
    open_path: Path | None = None
    """Open this session read-only instead of running servers."""
    capture: bool = True
    keymap_path: Path | None = None
    limits: HttpLimits = field(default_factory=HttpLimits)
    """The page server's limits and Host check (`--allow-host`, `--max-body` ...)."""
    wal_limit: int | None = None
    """Bytes the session's -wal file stays under while recording (tests lower it;
    None: the store's WAL_LIMIT)."""


class NetbenchApp(App[int]):
    """A network-debugging workstation: servers, clients, every byte, live."""

    CSS_PATH = "app.tcss"
    TITLE = "netbench"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("f1,question_mark", "help", "Help", id="app.help"),
        # Not a priority binding: a focused text input takes q as a letter.
        Binding("q", "quit", "Quit", show=False, id="app.quit_q"),
    ]

    def __init__(self, config: AppConfig | None = None) -> None:
        super().__init__()
        self.config = config or AppConfig()
        self.hub = EventHub()
        self.follower = StoreFollower()
        """Tells the views when the writer has committed rows (none read-only)."""
        self.engine: Engine | None = None
        self.runtime: Runtime | None = None
        """The engine, its recorder and capture (netbench/runtime), once started."""
        self._prepared: Runtime | None = None
        """The runtime whose recorder `on_load` started, until `_start_engine` has it."""
        self.session_path: Path | None = self.config.open_path or self.config.session
        self.page_server: RunningServer | None = None
        self.startup_error: str | None = None
        self.exposure: str | None = None
        """The header's warning while the page server listens beyond loopback."""
        self._reader: SessionReader | None = None
        self._session_closed = False
        self._opening: asyncio.Future[None] | None = None
        """The recorder's `open()`, running in a thread while the app starts."""
        self._quitting = False
        self._signals: dict[signal.Signals, Any] = {}
        """Signals handled while the app runs, and their handlers before."""
        self._saved_theme: str | None = None
        """The theme config.toml names (or the default): a change to it is saved."""
        self.started = asyncio.Event()
        self.imported: ImportRow | None = None
        """What a read-only session was imported from (a HAR file); None when recorded."""
        self.no_bytes = "No bytes on this connection yet."
        """What the Bytes tab says of a connection without chunks (a HAR's never have any)."""
        self._unmounted = False
        """Set once startup is over: the page server listening (or `startup_error`
        said why not) and every pane mounted. The first frame comes before."""

    @property
    def read_only(self) -> bool:
        return self.config.open_path is not None

    # -- lifecycle -----------------------------------------------------------------

    def on_load(self) -> None:
        # Before the terminal is set up: the recorder's process starts now, its
        # interpreter and SQLite's open overlapping the first frame.
        if not self.read_only:
            self._prepare_engine()

    async def on_mount(self) -> None:
        from netbench.ui.screens.main import MainScreen

        self._apply_settings()
        self._handle_signals()
        if self.read_only:
            assert self.config.open_path is not None
            self.sub_title = f"{self.config.open_path.name}  ·  read-only"
            self.imported = self._imported()
            if self.imported is not None:
                source = visible_text(Path(self.imported.source).name)
                self.sub_title = f"{source}  ·  imported from HAR  ·  read-only"
                self.no_bytes = NO_RAW_BYTES
                if self.imported.skipped:
                    entries = "entry" if self.imported.skipped == 1 else "entries"
                    self.notify(
                        visible_text(
                            f"{self.imported.skipped} {entries} of the HAR could not be read"
                            f" and {'is' if self.imported.skipped == 1 else 'are'} left out ({self.imported.note})"
                        ),
                        title="HAR",
                        severity="warning",
                        timeout=15,
                        markup=False,
                    )
        else:
            self.sub_title = "starting the page server…"
        self.set_interval(self.hub.interval, self.hub.flush, name="event-hub")
        main = MainScreen()
        await self.push_screen(main)
        # Posted now, run by the screen once `on_mount` (and the batch that
        # holds the first frame back) is over: after the first frame.
        self.call_after_refresh(self._finish_start, main)

    def _imported(self) -> ImportRow | None:
        from netbench.store import StoreError
        from netbench.store.har_import import imported_from

        reader = self.reader()
        try:
            return None if reader is None else imported_from(reader)
        except StoreError:
            return None  # the screens say what is wrong with the file

    async def _finish_start(self, main: MainScreen) -> None:
        """After the first frame: the session, the engine, the page server.

        The widgets learn of the page server from its `ServerStarted` event,
        as of any server started later. The hidden panes are mounted after
        the next frame, which shows the URL in the header (mounting them
        takes longer than starting the engine; the URL waited for it).
        """
        try:
            if not self.read_only:
                await self._start_engine()
                if self.page_server is None:
                    self.sub_title = ""
                if self.exposure:
                    self.notify(
                        self.exposure, title="Server", severity="warning", timeout=10, markup=False
                    )
                if self.startup_error:
                    self.notify(
                        self.startup_error,
                        title="Could not start",
                        severity="error",
                        timeout=30,
                        markup=False,
                    )
        except BaseException:
            self.started.set()
            raise
        self.call_after_refresh(self._mount_panes, main)

    async def _mount_panes(self, main: MainScreen) -> None:
        """The panes hidden behind tabs, after the frame that shows the URL;
        capture after them (its start imports scapy on a thread, which would
        compete with the URL's frame and the mounting for the interpreter)."""
        try:
            if not await main.mount_hidden():
                return  # quit while they mounted
            self._check_keymap()
            if self.config.capture and self.runtime is not None and not self._unmounted:
                self.runtime.capture_own()
        finally:
            # What startup built (the DOM, styles, modules: ~100k objects) lives
            # as long as the app: out of the collector's sight, a full
            # collection under load pauses the loop ~40 ms instead of ~150 ms.
            if not self._unmounted:
                gc.freeze()
            self.started.set()

    def _prepare_engine(self) -> None:
        """Start the recorder's process; `_start_engine` waits for its answer."""
        from netbench.runtime import Runtime
        from netbench.store.paths import new_session_path

        runtime = Runtime(
            self.config.session or new_session_path(),
            argv=["netbench"],
            on_recording_error=lambda message: self.call_from_thread(
                self._recording_failed, message
            ),
            wal_limit=self.config.wal_limit,
        )
        runtime.prepare()
        self._prepared = runtime

    async def _start_engine(self) -> None:
        from netbench.engine.config import default_config
        from netbench.engine.engine import EngineError
        from netbench.store import StoreError

        runtime = self._prepared
        assert runtime is not None and runtime.session is not None
        if self._quitting:
            return  # quit before the engine's turn: close_session ends the recording
        # Off the loop: the recorder may still be starting (~0.1-0.2 s). A quit
        # meanwhile waits for it (`shutdown`): closing it under open() would fail.
        self._opening = asyncio.ensure_future(asyncio.to_thread(runtime.open))
        try:
            await self._opening
        except StoreError as error:
            self.startup_error = str(error)
            return
        finally:
            self._opening = None
        if self._quitting or self._session_closed:
            return  # quit while the recorder started: close_session closes it
        self.runtime, self.session_path, self._prepared = runtime, runtime.session, None
        path = runtime.session
        assert runtime.recorder is not None
        self.follower.follow(runtime.recorder)
        self.engine = runtime.start([(self.hub, None)])
        config = default_config(
            "http", host=self.config.host, port=self.config.port, limits=self.config.limits
        )
        try:
            self.page_server = await runtime.start_server(config, next_free=True)
        except EngineError as error:
            self.startup_error = str(error)
        if self.page_server is not None:
            from netbench.ui.server_row import beyond_loopback

            self.exposure = beyond_loopback([self.config.host])
            self.sub_title = f"{self.page_server.url}  ·  recording to {path}"

    def format_title(self, title: str, sub_title: str) -> Content:
        """The header: the warning first when the page server is reachable from
        other machines (the URL and session path after it may be cut short)."""
        if self.exposure is None:
            return super().format_title(title, sub_title)
        warning = Content(self.exposure).stylize("bold $text-warning")
        return Content.assemble(title, (" — ", "dim"), warning, super().format_title("", sub_title))

    def _recording_failed(self, message: str) -> None:
        self.notify(
            f"Recording stopped: {message}. Servers keep serving.",
            title="Session",
            severity="error",
            timeout=30,
            markup=False,
        )

    async def action_quit(self) -> None:
        await self.shutdown()
        self.exit(0)

    async def shutdown(self) -> None:
        """Stop every server and client and flush the session (idempotent)."""
        self._quitting = True
        opening = self._opening
        if opening is not None:  # the recorder is opening: let it, then close it
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(opening), 10)
        try:
            self.engine = None
            if self.runtime is not None:
                await self.runtime.stop()
            self.hub.flush(force=True)
        finally:
            self.close_session()

    def close_session(self) -> None:
        """Close the reader, then the writer, which folds the WAL back into the
        file (idempotent; no reader is opened after it)."""
        self._session_closed = True
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.runtime is not None:
            self.runtime.close()
        if self._prepared is not None:
            self._prepared.close()  # quit before the engine started: an empty recording

    def _handle_signals(self) -> None:
        """SIGTERM and SIGHUP (the terminal closed) quit as ctrl+q does, so the
        session is closed cleanly; by default either would end the process mid-write."""
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers (an embedding program)
        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP"):  # Windows has no SIGHUP
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            previous = signal.getsignal(sig)
            if previous is signal.SIG_IGN:
                continue  # nohup: whoever started us wants it ignored
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.call_next, self.action_quit)
                self._signals[sig] = previous

    def _restore_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig, previous in self._signals.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)
        self._signals.clear()

    async def on_unmount(self) -> None:
        self._unmounted = True
        self.started.set()  # startup is over, whether or not the panes were mounted
        self._restore_signals()
        await self.shutdown()
        # The app is going: what startup froze may be collected again (an
        # embedding program, or the test suite, runs many apps in one process).
        gc.unfreeze()

    def action_help(self) -> None:
        from netbench.ui.screens.help import show_help

        show_help(self)

    def deliver_screenshot(
        self,
        filename: str | None = None,
        path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        """Save an SVG of the screen under the data dir (Textual's default,
        ~/Downloads, may not exist) and say where, or why not."""
        from netbench.store.paths import data_dir, make_private_dir

        # The screen shows recorded bytes: the folder is private like the sessions'.
        directory = Path(path) if path else data_dir() / "screenshots"
        try:
            make_private_dir(directory, ours=path is None)
            saved = self.save_screenshot(filename, str(directory), time_format)
        except OSError as error:
            self.notify(
                f"Screenshot not saved: {error}", title="Screenshot", severity="error", markup=False
            )
            return None
        self.notify(f"Saved to {saved}", title="Screenshot", markup=False)
        return saved

    def _theme_picked(self, theme: object) -> None:
        """A theme picked in the palette is kept in config.toml for the next start."""
        name = self.theme
        if name == self._saved_theme:
            return
        problem = save_theme(name, self.config.keymap_path)
        if problem is not None:
            self.notify(problem, title="Settings", severity="warning", markup=False)
        else:
            self._saved_theme = name

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: Textual's own commands, then every netbench action."""
        yield from super().get_system_commands(screen)
        yield from palette_commands(self, screen)

    def _apply_settings(self) -> None:
        settings = load_settings(self.config.keymap_path)
        if settings.keymap:
            self.set_keymap(settings.keymap)
        if settings.theme:
            if settings.theme in self.available_themes:
                self.theme = settings.theme
            else:
                self.notify(
                    f"Unknown theme {settings.theme!r} in settings",
                    severity="warning",
                    markup=False,
                )
        self._saved_theme = self.theme
        self.theme_changed_signal.subscribe(self, self._theme_picked)
        if settings.problem:
            self.notify(settings.problem, title="Settings", severity="warning", markup=False)

    def _check_keymap(self) -> None:
        """Report [keymap] ids no binding has (checked once every pane's module is loaded)."""
        from netbench.ui.commands import known_binding_ids

        unknown = sorted(set(self._keymap) - known_binding_ids())
        if unknown:
            self.notify(
                f"Unknown binding id(s) in [keymap]: {', '.join(unknown)} (F1 lists the ids)",
                title="Settings",
                severity="warning",
                timeout=15,
                markup=False,
            )

    def server_or_page(self, server_id: int | None) -> RunningServer | None:
        """Server `server_id`, or the page server when none is chosen (None: read-only)."""
        if self.engine is None:
            return None
        if server_id is None:
            return self.page_server
        return self.engine.servers.get(server_id)

    # -- the session, read back -------------------------------------------------

    def services(self) -> SessionServices:
        """What the views use (`ui.follow.session_services`): this app, type-checked."""
        return self

    def reader(self) -> SessionReader | None:
        """A read-only view of the session (None until the file exists: while
        recording, until the recorder has opened it)."""
        if (
            self._reader is None
            and self.session_path is not None
            and not self._session_closed
            and (self.read_only or self.runtime is not None)
        ):
            from netbench.store import SessionReader, StoreError

            try:
                self._reader = SessionReader(self.session_path)
            except StoreError:
                return None
        return self._reader
