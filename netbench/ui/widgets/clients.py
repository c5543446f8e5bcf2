"""The clients panel: a raw TCP client and an HTTP client, one tab each.

Either can aim at one of netbench's own servers or at any host:port; the
engine records client connections like server ones, so a conversation with
a local server shows both ends in the traffic list.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import TabbedContent, TabPane

from netbench.ui.widgets.clients_tcp import TcpClientPane

__all__ = ["ClientsPanel", "TcpClientPane"]


class ClientsPanel(Vertical):
    """The TCP and HTTP clients, in tabs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "switch", "TCP/HTTP", id="clients.switch"),
    ]

    DEFAULT_CSS = """
    ClientsPanel {
        border-top: solid $panel-lighten-2;
    }
    ClientsPanel > #client-tabs {
        height: 1fr;
    }
    ClientsPanel TabPane {
        padding: 0;
    }
    """

    tab: reactive[str] = reactive("tcp")
    """The client shown: "tcp" or "http"."""

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="client-tcp", id="client-tabs"):
            with TabPane("TCP client", id="client-tcp"):
                yield TcpClientPane(id="tcp-client")
            # Filled by `mount_hidden` once the first frame is on screen: the
            # HTTP client (and its module) cost a first start ~0.1 s unseen.
            yield TabPane("HTTP client", id="client-http")

    async def mount_hidden(self) -> bool:
        """Mount the HTTP client, which is hidden at first (idempotent); False when
        the app quit meanwhile."""
        from netbench.ui.widgets.clients_http import HttpClientPane

        pane = self.query_one("#client-http", TabPane)
        if not pane.is_attached:
            return False
        if not pane.children:
            await pane.mount(HttpClientPane(id="http-client"))
        return True

    def on_mount(self) -> None:
        if getattr(self.app, "read_only", False):
            # Replaying a recording: there is no engine to connect with.
            self.disabled = True
            self.border_title = "Clients: not available in a read-only session"

    def watch_tab(self, tab: str) -> None:
        self.query_one("#client-tabs", TabbedContent).active = f"client-{tab}"

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "client-tabs" and event.pane.id is not None:
            self.tab = event.pane.id.removeprefix("client-")

    def action_switch(self) -> None:
        """Show the other client."""
        self.tab = "http" if self.tab == "tcp" else "tcp"
