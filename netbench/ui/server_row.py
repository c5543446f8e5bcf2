"""One server as the servers panel shows it, and the beyond-loopback warning.

Pure display data: the panel (widgets/servers.py) keeps one `ServerRow` per
server and updates it from engine events; the header uses `beyond_loopback`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rich.text import Text

from netbench.engine.config import ServerConfig, is_loopback_host
from netbench.model import Endpoint
from netbench.protocol.textsafe import visible_text
from netbench.ui.widgets.traffic import human_bytes

if TYPE_CHECKING:
    from netbench.engine.engine import RunningServer

__all__ = ["ServerRow", "State", "beyond_loopback", "looks"]

State = Literal["running", "stopped", "failed", "ended uncleanly"]
_STATE_STYLE: dict[str, str] = {
    "running": "green",
    "stopped": "dim",
    "failed": "bold red",
    "ended uncleanly": "yellow",
}
_EXPOSED_STYLE = "bold yellow"


def beyond_loopback(hosts: list[str]) -> str | None:
    """The warning for servers bound to `hosts` that other machines can reach (None: none can).

    Short enough for the header and the panel's edge at 80 columns.
    """
    exposed = list(
        dict.fromkeys(visible_text(host) for host in hosts if not is_loopback_host(host))
    )
    if not exposed:
        return None
    return f"⚠ {', '.join(exposed)}: beyond loopback, others can connect"


@dataclass(slots=True)
class ServerRow:
    """What the panel knows about one server."""

    server_id: int
    kind: str
    address: Endpoint
    url: str
    config: ServerConfig | None
    """What it was started with (None if the engine did not say): restart reuses it."""
    state: State = "running"
    error: str | None = None
    open: int = 0
    total: int = 0
    bytes_in: int = 0
    bytes_out: int = 0

    @property
    def exposed(self) -> bool:
        """Listening beyond loopback: other machines can connect."""
        return self.state == "running" and not is_loopback_host(self.address.host)

    @classmethod
    def from_running(cls, running: RunningServer) -> ServerRow:
        from netbench.engine.engine import ServerState  # loaded after the first frame

        config = running.config
        state: State = "running" if running.state is ServerState.RUNNING else "stopped"
        row = cls(running.server_id, config.kind, running.address, running.url, config, state)
        row.open = row.total = len(running.connections)
        return row

    @property
    def where(self) -> str:
        """`:8000` on 127.0.0.1, as the traffic list names servers; host:port on any
        other (`[::1]:8000` can listen beside it). Not the URL: the kind names the
        protocol, `y` copies the URL, and at 160 columns the URL pushed `in / out`
        out of the panel."""
        address = self.address
        return f":{address.port}" if address.host == "127.0.0.1" else str(address)

    def cells(self) -> tuple[Text, ...]:
        """The row's cells, sanitised (a host name is user text). The state comes
        last and colours the address too: where the panel is narrow (120
        columns) the edge cuts the state's word, not the counts."""
        state_style = _STATE_STYLE[self.state]
        return (
            Text(str(self.server_id), style="dim"),
            Text(self.kind),
            Text(visible_text(self.where), style=_EXPOSED_STYLE if self.exposed else state_style),
            Text(f"{self.open}/{self.total}"),
            Text(f"{human_bytes(self.bytes_in)} / {human_bytes(self.bytes_out)}"),
            Text(self.state, style=state_style),
        )


def looks(cells: tuple[Text, ...]) -> tuple[tuple[str, str], ...]:
    """Cells as shown, text and style: a stopped server's address turns dim
    while its text stays the same."""
    return tuple((cell.plain, str(cell.style)) for cell in cells)
