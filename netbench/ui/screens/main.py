"""The workstation: servers and clients beside live traffic and the inspector.

Rules of the startup (issue 6: the first full screen as soon as a minimal
Textual app's):
- `compose` builds what the first frame shows; the panes hidden behind a
  tab (HTTP, TCP, Respond, Intercept, the HTTP client) start empty and
  `mount_hidden` fills them once that frame is on screen;
- until then every handler treats an absent pane as "nothing to update":
  the screen keeps what a pane must know (the selection, the chosen
  server) and hands it over when the pane mounts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple, cast

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Header, Input, TabbedContent, TabPane

from netbench.store.errors import StoreError
from netbench.ui.messages import Selection, SelectionChanged
from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.clients import ClientsPanel
from netbench.ui.widgets.footer import KeysFooter
from netbench.ui.widgets.servers import ServersPanel
from netbench.ui.widgets.status import StatusBar
from netbench.ui.widgets.traffic import TrafficList

if TYPE_CHECKING:
    from netbench.ui.app import NetbenchApp

    # Imported by `mount_hidden`, after the first frame.
    from netbench.ui.widgets.http_view import HttpView
    from netbench.ui.widgets.intercept import InterceptPane
    from netbench.ui.widgets.respond import RespondPane
    from netbench.ui.widgets.tcp_ladder import TcpLadder


class Hidden(NamedTuple):
    """The panes of the inspector's hidden tabs, in HIDDEN_TABS order."""

    http: HttpView
    tcp: TcpLadder
    respond: RespondPane
    intercept: InterceptPane


HIDDEN_TABS = [("HTTP", "http"), ("TCP", "tcp"), ("Respond", "respond"), ("Intercept", "intercept")]
"""The inspector's tabs behind Bytes: (label, id), filled by `mount_hidden`."""

TAB_FOCUS = {
    "bytes": "#bytes-view",
    "http": "#http-view",
    "tcp": "#tcp-ladder",
    "respond": "#respond-text",
    "intercept": "#intercept-queue",
}
"""What each tab's key focuses, so the tab's own keys (x, c, k, o...) work at once."""


NARROW_BELOW = 140
"""Columns under which the servers and clients leave the side for a drawer
that S and C open. The side column takes 36%: under 140 the servers' columns
are cut (state, then the byte counts) and the traffic list loses its own
(at 80 it had ~40 cells: a request line showed a dozen characters)."""


class MainScreen(Screen[None]):
    AUTO_FOCUS = "#traffic"
    """Textual focused the first focusable widget, the servers panel: on a narrow
    screen its drawer opened for the first frames."""
    # Screen declares it a plain attribute (mypy refuses a ClassVar here).
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012
        (0, "-narrow"),
        (NARROW_BELOW, "-wide"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", id="main.filter"),
        Binding("t", "focus_traffic", "Traffic", id="main.traffic"),
        Binding("S", "focus_servers", "Servers", id="main.servers"),
        Binding("C", "focus_clients", "Clients", id="main.clients"),
        Binding("b", "show_tab('bytes')", "Bytes", id="main.bytes"),
        Binding("h", "show_tab('http')", "HTTP", id="main.http"),
        Binding("p", "show_tab('tcp')", "TCP", id="main.tcp"),
        Binding("r", "show_tab('respond')", "Respond", id="main.respond"),
        Binding("i", "show_tab('intercept')", "Intercept", id="main.intercept"),
        Binding("w", "workshop", "Workshop", show=False, id="main.workshop"),
        Binding("E", "export_har", "Export HAR", show=False, id="main.export_har"),
        Binding("escape", "focus_traffic", "Back to traffic", show=False, id="main.escape"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield ServersPanel(id="servers")
                yield ClientsPanel(id="clients")
            with Vertical(id="right"):
                yield Input(placeholder="/ filter: path, header, body, status", id="filter")
                yield TrafficList(id="traffic")
                with TabbedContent(id="inspector", initial="bytes"):
                    with TabPane("Bytes", id="bytes"):
                        yield BytesView(id="bytes-view")
                    for label, tab in HIDDEN_TABS:
                        yield TabPane(label, id=tab)
        yield StatusBar(id="status")
        yield KeysFooter()

    def __init__(self) -> None:
        super().__init__()
        self._selection: Selection | None = None
        self._server_id: int | None = None
        self._focus_when_mounted: str | None = None
        self.hidden: Hidden | None = None
        """The panes of the hidden tabs, once `mount_hidden` has mounted them."""

    def on_mount(self) -> None:
        self.query_one(TrafficList).focus()
        self.watch(self.query_one(BytesView), "selected_chunk", self._chunk_selected, init=False)

    async def mount_hidden(self) -> bool:
        """Fill the hidden tabs (after the first frame) and bring them up to date;
        False when the app quit meanwhile (the tabs went with it: nothing mounted)."""
        if self.hidden is not None:
            return True
        # Imported here, not at the top: loading their modules is part of what waits.
        from netbench.ui.widgets.http_view import HttpView
        from netbench.ui.widgets.intercept import InterceptPane
        from netbench.ui.widgets.respond import RespondPane
        from netbench.ui.widgets.tcp_ladder import TcpLadder

        if not await self.query_one(ClientsPanel).mount_hidden():
            return False
        hidden = Hidden(
            HttpView(id="http-view"),
            TcpLadder(id="tcp-ladder"),
            RespondPane(id="respond-pane"),
            InterceptPane(id="intercept-pane"),
        )
        for (_label, tab), pane in zip(HIDDEN_TABS, hidden, strict=True):
            holder = self.query_one(f"#{tab}", TabPane)
            if not holder.is_attached:  # quit while the panes before it mounted
                return False
            await holder.mount(pane)
        self.hidden = hidden
        if not self.app.is_running:
            # Shut down while the panes mounted: Textual ends their mount
            # without composing them, so there is nothing to bring up to date.
            return False
        if self._server_id is not None:
            self._set_server(self._server_id)
        if self._selection is not None:
            self._show(self._selection)
            self._chunk_selected(self.query_one(BytesView).selected_chunk)
        if self._focus_when_mounted is not None:
            self.query_one(self._focus_when_mounted).focus()
        return True

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """On a narrow screen the servers and clients show while they have the
        focus: S, C, a request sent to the HTTP client open them; escape, t or
        anything else focused closes them."""
        left = self.query_one("#left")
        self.set_class(left in event.widget.ancestors_with_self, "-drawer")

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(TrafficList).set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(TrafficList).focus()

    def on_selection_changed(self, message: SelectionChanged) -> None:
        self._selection = message.selection
        self._show(message.selection)

    def _show(self, selection: Selection | None) -> None:
        self.query_one(BytesView).show(selection)
        if self.hidden is not None:
            self.hidden.http.show(selection)
            self.hidden.tcp.show(selection)

    def _chunk_selected(self, index: int | None) -> None:
        """Bytes tab -> TCP tab: highlight the segment(s) that carried the chunk."""
        view = self.query_one(BytesView)
        if self.hidden is not None and index is not None and index < len(view.chunks):
            meta = view.chunks[index]
            end = meta.offset + meta.length
            self.hidden.tcp.highlight_offsets(meta.direction, meta.offset, end)

    def on_tcp_ladder_segment_selected(self, message: TcpLadder.SegmentSelected) -> None:
        """TCP tab -> Bytes tab: select the chunk that holds the segment's bytes."""
        view = self.query_one(BytesView)
        if view.selection is None or view.selection.conn_id != message.conn_id:
            return
        reader = cast("NetbenchApp", self.app).reader()
        span = message.stream_offset_range
        if reader is None:
            return
        from netbench.store.ends import find_chunk  # the store loads after the first frame

        try:  # a binary search over the chunk index, a window at a time
            found = find_chunk(reader, message.conn_id, message.direction, span.start, span.stop)
        except StoreError:
            return
        if found is None or found.seq >= len(view.chunks):
            return
        view.selected_chunk = found.seq  # a chunk's position in the view is its seq
        view.action_chunk(0)  # its header on top, for when the Bytes tab is shown

    async def on_http_view_edit_requested(self, message: HttpView.EditRequested) -> None:
        """e on an exchange: its request in the HTTP client, ready to edit and send."""
        from netbench.ui.widgets.clients_http import HttpClientPane

        clients = self.query_one(ClientsPanel)
        await clients.mount_hidden()
        clients.tab = "http"
        notes = self.query_one(HttpClientPane).load(message.wire, message.server)
        if notes:
            self.notify("\n".join(notes), title="Loaded", severity="warning", markup=False)

    def on_servers_panel_highlighted(self, message: ServersPanel.Highlighted) -> None:
        self._server_id = message.server_id
        self._set_server(message.server_id)

    def _set_server(self, server_id: int | None) -> None:
        if self.hidden is not None:
            self.hidden.respond.server_id = server_id
            self.hidden.intercept.server_id = server_id

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_traffic(self) -> None:
        self.query_one(TrafficList).focus()

    def action_show_tab(self, tab: str) -> None:
        tabs = self.query_one("#inspector", TabbedContent)
        shown_already = tabs.active == tab
        tabs.active = tab
        if self.query_one(ServersPanel).has_focus and not shown_already:
            # The tab follows the highlighted server and the cursor stays in
            # the panel, so the arrows pick another server (issue 15): the
            # same key again enters the tab.
            return
        view = TAB_FOCUS.get(tab)
        if view is None:
            return
        if self.hidden is not None or view == "#bytes-view":
            self.query_one(view).focus()
        else:
            self._focus_when_mounted = view

    def action_workshop(self) -> None:
        """The workshop's lessons, above the workstation (escape comes back here)."""
        from netbench.ui.screens.workshop import WorkshopPicker

        capture = cast("NetbenchApp", self.app).config.capture
        self.app.push_screen(WorkshopPicker(capture=capture))

    def action_export_har(self) -> None:
        """Save the traffic (what the filter shows, when one is set) as a HAR 1.2 file."""
        from netbench.ui.screens.export_har import ask_and_export

        ask_and_export(self, self.query_one(TrafficList).model)

    def action_focus_servers(self) -> None:
        self.query_one(ServersPanel).focus()

    def action_focus_clients(self) -> None:
        tabs = self.query_one("#client-tabs", TabbedContent)
        pane = tabs.active_pane
        inputs = pane.query(Input) if pane is not None else None
        if inputs:  # the HTTP client's pane is empty until `mount_hidden`
            inputs.first().focus()
