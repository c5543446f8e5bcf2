"""The workstation: servers and clients beside live traffic and the inspector."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, TabbedContent, TabPane

from netbench.ui.messages import SelectionChanged
from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.clients import ClientsPanel
from netbench.ui.widgets.http_view import HttpView
from netbench.ui.widgets.intercept import InterceptPane
from netbench.ui.widgets.respond import RespondPane
from netbench.ui.widgets.servers import ServersPanel
from netbench.ui.widgets.status import StatusBar
from netbench.ui.widgets.tcp_ladder import TcpLadder
from netbench.ui.widgets.traffic import TrafficList


class MainScreen(Screen[None]):
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
                    with TabPane("HTTP", id="http"):
                        yield HttpView(id="http-view")
                    with TabPane("TCP", id="tcp"):
                        yield TcpLadder(id="tcp-ladder")
                    with TabPane("Respond", id="respond"):
                        yield RespondPane(id="respond-pane")
                    with TabPane("Intercept", id="intercept"):
                        yield InterceptPane(id="intercept-pane")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TrafficList).focus()
        self.watch(self.query_one(BytesView), "selected_chunk", self._chunk_selected, init=False)
        error = getattr(self.app, "startup_error", None)
        if error:
            self.notify(error, title="Could not start", severity="error", timeout=30, markup=False)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(TrafficList).set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(TrafficList).focus()

    def on_selection_changed(self, message: SelectionChanged) -> None:
        self.query_one(BytesView).show(message.selection)
        self.query_one(HttpView).show(message.selection)
        self.query_one(TcpLadder).show(message.selection)

    def _chunk_selected(self, index: int | None) -> None:
        """Bytes tab -> TCP tab: highlight the segment(s) that carried the chunk."""
        view = self.query_one(BytesView)
        if index is not None and index < len(view.chunks):
            meta = view.chunks[index]
            end = meta.offset + meta.length
            self.query_one(TcpLadder).highlight_offsets(meta.direction, meta.offset, end)

    def on_tcp_ladder_segment_selected(self, message: TcpLadder.SegmentSelected) -> None:
        """TCP tab -> Bytes tab: select the chunk that holds the segment's bytes."""
        view = self.query_one(BytesView)
        if view.selection is None or view.selection.conn_id != message.conn_id:
            return
        span = message.stream_offset_range
        view.selected_chunk = next(
            (
                i
                for i, meta in enumerate(view.chunks)
                if meta.direction is message.direction
                and meta.offset < span.stop
                and span.start < meta.offset + meta.length
            ),
            view.selected_chunk,
        )

    def on_servers_panel_highlighted(self, message: ServersPanel.Highlighted) -> None:
        self.query_one(RespondPane).server_id = message.server_id
        self.query_one(InterceptPane).server_id = message.server_id

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_traffic(self) -> None:
        self.query_one(TrafficList).focus()

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#inspector", TabbedContent).active = tab
        view = {"bytes": "#bytes-view", "http": "#http-view", "tcp": "#tcp-ladder"}.get(tab)
        if view is not None:  # so the view's own keys (x, c, k...) work at once
            self.query_one(view).focus()

    def action_focus_servers(self) -> None:
        self.query_one(ServersPanel).focus()

    def action_focus_clients(self) -> None:
        tabs = self.query_one("#client-tabs", TabbedContent)
        pane = tabs.active_pane
        if pane is not None:
            pane.query(Input).first().focus()
