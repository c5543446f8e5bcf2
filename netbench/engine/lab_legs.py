"""The connections a lesson's servers open themselves, named for the lesson (`proxy->app`).

A proxy forwards each request on a connection of its own to the server
behind it. The kernel's table holds both ends of it: the app's end was
named `app:44704` after its peer's port, but the proxy's end, from a port
no lesson socket owns, had no row at all, and the ladder called it
`:44704`. `LegNames` names the opening end after its server and the server
it connects to, `proxy->app` (`proxy->app#2` for a second one), and keeps
the name for the rest of the lesson, so a leg in TIME_WAIT after its
stream is gone keeps its row and its name.
"""

from __future__ import annotations

from collections.abc import Mapping

from netbench.engine.engine import RunningServer

Ports = tuple[int, int]
"""(local port, remote port) of one end of a connection on 127.0.0.1."""


class LegNames:
    def __init__(self) -> None:
        self.names: dict[Ports, str] = {}

    def update(self, servers: Mapping[str, RunningServer]) -> dict[Ports, str]:
        """Every leg seen so far, by its (local, remote) ports; the new ones named now."""
        by_port = {server.address.port: name for name, server in servers.items()}
        for name, server in servers.items():
            for stream in list(server.connections):
                if stream.via is None or not stream.local.port:
                    continue  # a client's connection to the server, not one it opened
                ports = (stream.local.port, stream.peer.port)
                if ports not in self.names:
                    target = by_port.get(stream.peer.port, f":{stream.peer.port}")
                    base = f"{name}->{target}"
                    count = sum(1 for n in self.names.values() if n.partition("#")[0] == base)
                    self.names[ports] = base if not count else f"{base}#{count + 1}"
        return self.names
