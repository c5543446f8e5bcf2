"""The servers panel: every server of the session, live, and one key per seed preset.

Rules of this module:
- rows are keyed by server id and kept in a dict in display order; the table
  is rebuilt only when that order changes (servers are few) and otherwise
  updated cell by cell;
- counts come only from engine events (`EventsArrived`): a connection is
  mapped to its server when it opens, and its chunks and close are counted
  against that server; a removed or restarted server's late events are ignored;
- every engine failure becomes a notification with its one-line message,
  shown with markup off: a host or path a user typed is never markup.
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import DataTable

from netbench.engine import registry
from netbench.engine.config import ServerConfig, default_config
from netbench.engine.errors import EngineError
from netbench.engine.registry import server_url
from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    ServerStarted,
    ServerStopped,
)
from netbench.model import Direction
from netbench.protocol.textsafe import visible_text
from netbench.store.errors import StoreError
from netbench.ui.messages import EventsArrived
from netbench.ui.server_row import ServerRow, State, beyond_loopback, looks

if TYPE_CHECKING:
    from netbench.engine.engine import Engine, RunningServer  # loaded after the first frame
    from netbench.ui.app import NetbenchApp

PRESETS: tuple[registry.Preset, ...] = registry.presets()
"""One key each (1-8 for the seed kinds and seed 004's app behind a proxy): the kind, its seed port, its label and how it
knowingly differs from its seed (the registry's table: no kind is loaded for it)."""


COLUMNS = ("#", "kind", "address", "conns", "in / out", "state")
"""The table's headers, also its column keys. Bytes are every byte of every
connection (heads and bodies), where the traffic list shows body sizes."""
_PRESET_GROUP = Binding.Group("Presets", compact=True)


class ServersPanel(DataTable[Text]):
    """Every server: kind, address, state, connections and bytes, kept live.

    Keys 1-8 open a seed preset's form, filled in, Start focused: Enter starts it
    on its seed port (a free one if it is taken), or change the port; `a` adds a server with every option, `s` stops, `R` restarts on the
    same port, `delete` removes (after a yes), `y` copies the URL. Every key acts
    on the highlighted row; the panel's top edge is lit while it has focus.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add server", id="servers.add"),
        Binding("s", "stop", "Stop", id="servers.stop"),
        Binding("R", "restart", "Restart", id="servers.restart"),
        Binding("delete", "remove", "Remove", id="servers.remove"),
        Binding("y", "copy_url", "Copy URL", id="servers.copy_url"),
        *(
            Binding(
                preset.key,
                f"preset('{preset.key}')",
                f"Start the {preset.label} preset",
                id=f"servers.preset_{preset.name}",
                tooltip=preset.note,
                group=_PRESET_GROUP,
            )
            for preset in PRESETS
        ),
    ]

    DEFAULT_CSS = """
    ServersPanel {
        border-top: hkey $panel-lighten-2;
        border-title-align: left;
        border-title-color: $text-muted;
        border-title-style: bold;
        border-subtitle-align: left;
        border-subtitle-color: $text-warning;
        border-subtitle-style: bold;
    }
    ServersPanel:focus {
        border-top: hkey $accent;
        border-title-color: $accent;
    }
    ServersPanel.-exposed {
        border-bottom: hkey $warning;
    }
    """

    highlighted_server: reactive[int | None] = reactive(None, init=False)
    """The server under the cursor (None when there are none)."""

    class Highlighted(Message):
        """The highlighted server changed (the screen points Respond/Intercept at it)."""

        def __init__(self, server_id: int | None) -> None:
            super().__init__()
            self.server_id = server_id
            """The server now under the cursor, or None."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.rows_by_id: dict[int, ServerRow] = {}
        """Every server shown, in display order."""
        self._conn_server: dict[int, int] = {}
        self._forgotten: set[int] = set()
        self._shown_order: list[int] = []
        self._shown_cells: dict[int, tuple[tuple[str, str], ...]] = {}
        self._counts_timer: Timer | None = None
        self._counts_shown_at = 0.0

    @property
    def _netbench(self) -> NetbenchApp:
        return cast("NetbenchApp", self.app)

    # -- lifecycle ------------------------------------------------------------------

    def on_mount(self) -> None:
        for label in COLUMNS:
            self.add_column(label, key=label)
        self._netbench.hub.register(self)
        engine = self._netbench.engine
        if engine is not None:
            for running in engine.servers.values():
                self.rows_by_id[running.server_id] = ServerRow.from_running(running)
        elif self._netbench.read_only:
            self._load_recorded()
        self._render_rows()

    def _load_recorded(self) -> None:
        """A session opened read-only: its servers as they were, with their totals."""
        reader = self._netbench.reader()
        if reader is None:
            return
        try:
            servers = reader.servers()
        except StoreError as error:  # a damaged file: say so, show the rest
            self._unreadable("Servers", error)
            servers = []
        for server in servers:
            url = server_url(server.kind, server.transport, server.address)
            # Killed while it ran: it never stopped, and is not running either.
            state: State = "ended uncleanly" if server.ended_uncleanly else "stopped"
            self.rows_by_id[server.id] = ServerRow(
                server.id, server.kind, server.address, url, None, state
            )
        try:
            connections = reader.connections()
        except StoreError as error:
            self._unreadable("Connections", error)
            return
        for conn in connections:
            owner = self.rows_by_id.get(conn.server_id) if conn.server_id is not None else None
            if owner is not None:
                owner.total += 1
                owner.bytes_in += conn.bytes_in or 0
                owner.bytes_out += conn.bytes_out or 0

    def _unreadable(self, what: str, error: StoreError) -> None:
        self.notify(f"{what} unreadable: {error}", severity="error", timeout=30, markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A recorded session cannot start or stop anything: hide those keys.
        return not (self._netbench.read_only and action != "copy_url")

    def on_unmount(self) -> None:
        self._netbench.hub.unregister(self)

    # -- engine events --------------------------------------------------------------

    def on_events_arrived(self, message: EventsArrived) -> None:
        rows, conns = self.rows_by_id, self._conn_server
        changed = started = False
        for event in message.events:
            if isinstance(event, ChunkRecorded):
                row = rows.get(conns.get(event.conn_id, -1))
                if row is not None:
                    if event.direction is Direction.IN:
                        row.bytes_in += len(event.data)
                    else:
                        row.bytes_out += len(event.data)
                    changed = True
            elif isinstance(event, ConnectionOpened):
                if event.server_id is not None:
                    conns[event.conn_id] = event.server_id
                    row = rows.get(event.server_id)
                    if row is not None:
                        row.open += 1
                        row.total += 1
                        changed = True
            elif isinstance(event, ConnectionClosed):
                row = rows.get(conns.pop(event.conn_id, -1))
                if row is not None:
                    row.open = max(0, row.open - 1)
                    changed = True
            elif isinstance(event, ServerStarted):
                started |= self._server_started(event)
            elif isinstance(event, ServerStopped):
                row = rows.get(event.server_id)
                if row is not None and row.state == "running":
                    row.state = "failed" if event.error else "stopped"
                    row.error = event.error
                    started = True
        if started:
            self._render_rows()
        elif changed:
            self._render_counts_soon()

    COUNTS_INTERVAL = 0.5
    """Seconds between repaints for counts alone: under load they change with
    every batch, and each repaint of the table costs the loop ~10 ms."""

    def _render_counts_soon(self) -> None:
        if self._counts_timer is not None:
            return  # already due
        wait = self._counts_shown_at + self.COUNTS_INTERVAL - time.monotonic()
        if wait <= 0:
            self._render_rows()
        else:
            self._counts_timer = self.set_timer(wait, self._render_rows)

    def _server_started(self, event: ServerStarted) -> bool:
        if event.server_id in self.rows_by_id or event.server_id in self._forgotten:
            return False
        engine = self._netbench.engine
        running = engine.servers.get(event.server_id) if engine is not None else None
        if running is not None:
            row = ServerRow.from_running(running)
        else:
            url = server_url(event.kind, event.transport, event.address)
            row = ServerRow(event.server_id, event.kind, event.address, url, None)
        self.rows_by_id[event.server_id] = row
        return True

    # -- rendering ------------------------------------------------------------------

    def _render_rows(self) -> None:
        if self._counts_timer is not None:
            self._counts_timer.stop()
            self._counts_timer = None
        self._counts_shown_at = time.monotonic()
        order = list(self.rows_by_id)
        if order != self._shown_order:
            keep = self.highlighted_server
            self.clear()
            self._shown_cells.clear()
            for server_id, row in self.rows_by_id.items():
                cells = row.cells()
                self.add_row(*cells, key=str(server_id))
                self._shown_cells[server_id] = looks(cells)
            self._shown_order = order
            if keep in self.rows_by_id:
                self.move_cursor(row=order.index(keep), animate=False)
        else:
            for server_id, row in self.rows_by_id.items():
                cells = row.cells()
                seen = looks(cells)
                shown = self._shown_cells.get(server_id, ())
                if seen == shown:
                    continue
                for index, (column, cell) in enumerate(zip(COLUMNS, cells, strict=True)):
                    if index >= len(shown) or shown[index] != seen[index]:
                        # A column widens with its cell: "0 B / 0 B" grows to "1.2 MB / 3.4 MB".
                        self.update_cell(str(server_id), column, cell, update_width=True)
                self._shown_cells[server_id] = seen
        running = sum(row.state == "running" for row in self.rows_by_id.values())
        if self._netbench.read_only:
            self.border_title = f"Servers: {len(self.rows_by_id)} recorded (read-only)"
        else:
            self.border_title = f"Servers: {running} running · 1-{PRESETS[-1].key} presets · a add"
        self._show_exposure()
        self._sync_highlight()

    def _show_exposure(self) -> None:
        """The warning on the panel's bottom edge while a server listens beyond loopback."""
        rows = self.rows_by_id.values()
        warning = beyond_loopback([row.address.host for row in rows if row.exposed])
        self.set_class(warning is not None, "-exposed")
        self.border_subtitle = warning

    def _cursor_server(self) -> int | None:
        if not self.row_count:
            return None
        row = min(max(self.cursor_row, 0), self.row_count - 1)
        key = self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        return int(key) if key is not None else None

    def _sync_highlight(self) -> None:
        self.highlighted_server = self._cursor_server()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Read the cursor, not the event: a rebuild posts stale highlights.
        event.stop()
        self._sync_highlight()

    def watch_highlighted_server(self, server_id: int | None) -> None:
        self.post_message(self.Highlighted(server_id))

    def selected(self) -> ServerRow | None:
        """The highlighted server's row."""
        server_id = self._cursor_server()
        return None if server_id is None else self.rows_by_id.get(server_id)

    # -- commands ---------------------------------------------------------------------

    def _engine(self) -> Engine | None:
        engine = self._netbench.engine
        if engine is None:
            self.notify("No engine: this session is read-only.", severity="warning")
        return engine

    def _say(self, message: str, **options: Any) -> None:
        """A notification; what the user typed (a host, a path) is made inert."""
        self.notify(visible_text(message), markup=False, **options)

    def _error(self, message: str, title: str = "Server") -> None:
        self._say(message, title=title, severity="error", timeout=10)

    def _added(self, running: RunningServer, *, at: int | None = None) -> None:
        row = ServerRow.from_running(running)
        if at is None:
            self.rows_by_id[running.server_id] = row
        else:
            items = list(self.rows_by_id.items())
            items.insert(at, (running.server_id, row))
            self.rows_by_id = dict(items)
        self._render_rows()
        self.move_cursor(row=list(self.rows_by_id).index(running.server_id), animate=False)
        warning = beyond_loopback([running.config.host])
        if warning is not None:
            self._say(warning, severity="warning", timeout=10)

    async def start(self, config: ServerConfig) -> str | None:
        """Start a server and show it; returns the engine's error line on failure."""
        engine = self._engine()
        if engine is None:
            return "no engine: this session is read-only"
        try:
            running = await engine.start_server(config)
        except EngineError as error:
            self._error(str(error))
            return str(error)
        self._added(running)
        self._say(f"{running.config.kind} server on {running.url}")
        return None

    def action_preset(self, key: str) -> None:
        """Open a seed preset's form, filled in (Enter starts it; any field can change)."""
        from netbench.ui.screens.add_server import AddServerScreen

        preset = next((preset for preset in PRESETS if preset.key == key), None)
        if self._engine() is None or preset is None:
            return

        async def submit(config: ServerConfig) -> str | None:
            return await self._start_preset(preset, config)

        self.app.push_screen(AddServerScreen.for_preset(submit, preset))

    async def _start_preset(self, preset: registry.Preset, config: ServerConfig) -> str | None:
        """Start the form's server (and the preset's front, pointed at it); an error or None."""
        started = await self._start_on_seed(config, fall_back=config.port == preset.port)
        if isinstance(started, str):
            return started
        running, where = started
        said = f"{preset.kind} on {running.url} ({where})"
        front = preset.front
        if front is not None:
            upstream = f"{running.address.host}:{running.address.port}"
            config = default_config(front.kind, port=front.port, **{front.option: upstream})
            started = await self._start_on_seed(config, fall_back=True)
            if isinstance(started, str):
                self._error(started)
                return None
            running, where = started
            said = f"{front.kind} on {running.url} ({where}) in front of {said}"
        note = f": {preset.note}" if preset.note else ""
        self._say(said + note, title="Server started")
        return None

    async def _start_on_seed(
        self, config: ServerConfig, *, fall_back: bool
    ) -> tuple[RunningServer, str] | str:
        """Start on the config's port, or a free one if it is taken and `fall_back`."""
        engine = self._engine()
        if engine is None:
            return "the engine is not running"
        seed = config.port
        where = f"its seed port {seed}" if fall_back else f"port {seed}"
        try:
            running = await engine.start_server(config)
        except EngineError as error:
            if not (fall_back and error.port_in_use):
                return str(error)
            try:
                running = await engine.start_server(dataclasses.replace(config, port=0))
            except EngineError as again:
                return str(again)
            where = f"port {seed} is taken: a free port instead"
        self._added(running)
        return running, where

    def action_add(self) -> None:
        """Open the form for a server with every option."""
        from netbench.ui.screens.add_server import AddServerScreen

        if self._engine() is not None:
            self.app.push_screen(AddServerScreen(self.start))

    async def action_stop(self) -> None:
        """Stop listening and close the server's connections; the row stays."""
        row, engine = self.selected(), self._engine()
        if row is None or engine is None:
            return
        if row.state != "running":
            self._say(f"{row.url} is not running (R starts it again)")
            return
        await engine.stop_server(row.server_id)
        row.state = "stopped"
        self._render_rows()
        self._say(f"Stopped {row.url}")

    async def action_restart(self) -> None:
        """Stop, then start again with the same config on the same port."""
        row, engine = self.selected(), self._engine()
        if row is None or engine is None:
            return
        if row.config is None:
            self._error(f"Cannot restart server {row.server_id}: its options are unknown.")
            return
        await engine.stop_server(row.server_id)
        config = dataclasses.replace(row.config, port=row.address.port)
        try:
            running = await engine.start_server(config)
        except EngineError as error:
            row.state, row.error = "failed", str(error)
            self._render_rows()
            self._error(str(error), title="Restart failed")
            return
        position = list(self.rows_by_id).index(row.server_id)
        self._forget(row.server_id)
        self._added(running, at=position)
        self._say(f"Restarted {running.url}")

    def action_remove(self) -> None:
        """Ask, then stop the highlighted server and drop its row."""
        from netbench.ui.screens.confirm import ConfirmScreen

        row = self.selected()
        if row is None or self._engine() is None:
            return
        page = self._netbench.page_server
        which = " (the page server)" if page is not None and page.server_id == row.server_id else ""
        question = (
            f"Remove server {row.server_id}{which}, {row.kind} on {row.url}?\n"
            "It stops listening and its row goes; what it recorded stays in the session."
        )
        self.app.push_screen(
            ConfirmScreen(visible_text(question), "Remove"),
            partial(self._remove, row.server_id),
        )

    async def _remove(self, server_id: int, confirmed: bool | None) -> None:
        row, engine = self.rows_by_id.get(server_id), self._netbench.engine
        if not confirmed or row is None or engine is None:
            return
        await engine.stop_server(row.server_id)
        self._forget(row.server_id)
        self._render_rows()

    def _forget(self, server_id: int) -> None:
        self.rows_by_id.pop(server_id, None)
        self._forgotten.add(server_id)

    def action_copy_url(self) -> None:
        """Copy the highlighted server's URL to the clipboard."""
        row = self.selected()
        if row is None:
            return
        self.app.copy_to_clipboard(row.url)
        self._say(f"Copied {row.url}", timeout=3)
