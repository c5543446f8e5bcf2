"""Which data segments capture lets through: those of young connections.

The problem: the ladder should show a connection's data, but every data
segment that reaches Python costs ~6-12 µs of the GIL the servers need, and
a keep-alive load test sends tens of thousands a second. Control packets are
few whatever the load; data segments are not.

The rule, decided here and enforced by the kernel's filter:
- control packets (SYN, FIN, RST, bare ACKs) of every connection, always;
- data segments of the watched ports (netbench's own servers) while a
  connection is *young*: from its first byte until it has carried
  `YOUNG_SEGMENTS` data segments. A browser's first exchanges, a curl, a
  workshop's hand-typed lines are all young; then the connection is *old*
  and the filter names it, `not (port C1 or port C2 ...)`, so its data stops
  reaching Python at all;
- a budget: more than `BUDGET` data segments in a `WINDOW` (a flood of new
  connections, a 100 MB body) pauses data capture for `COOLDOWN` seconds, and
  more than `MAX_OLD` old connections at once pauses it until some close,
  because libpcap's optimiser is quadratic in the number of clauses (32
  ports: 6 ms, 64: 41 ms). While paused only control packets pass;
- a second budget for floods of new connections: each costs ~8 packets of
  which half are bare ACKs, and every packet that reaches Python costs the
  servers' GIL ~8 µs. Up to `CONNECTION_BUDGET` SYNs per `WINDOW` (1,280
  new connections/s, above the 1,000/s at which every handshake and teardown
  must be captured) everything passes; above it the bare ACKs pause too, for
  `COOLDOWN`, and SYN, SYN-ACK, FIN and RST still show every connection.
`paused` says what is paused and why, for the status line. Nothing is
invented: a gap in the ladder is a gap the status explains.

BPF cannot keep per-connection state, so the window is kept in Python, on the
capture thread, from the packets the filter already passed: a young
connection's segments are counted as they arrive, and the filter is swapped
(atomically, by the caller) when a connection turns old or closes. The swap
lands one ring wakeup (~10 ms) late, so an old connection may show a few
segments more than `YOUNG_SEGMENTS`, never fewer.

On loopback a connection is named by its two ports: the addresses are always
the same machine, and a client port is unique among the connections to one
server port.

Pure: packets and clock readings in, filter text out. No I/O, no scapy.
"""

from __future__ import annotations

from collections.abc import Iterable

from netbench.model import TcpPacket

__all__ = [
    "BARE_ACK",
    "BUDGET",
    "CONNECTION_BUDGET",
    "CONTROL_FILTER",
    "COOLDOWN",
    "MAX_OLD",
    "OPEN_CLOSE",
    "YOUNG_SEGMENTS",
    "DataWindow",
]

OPEN_CLOSE = (
    "(tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0 or (ip6 and ip6[6] == 6 and ip6[53] & 7 != 0))"
)
"""SYN, FIN or RST set. libpcap's `tcp[]` only reads IPv4, hence the ip6
clause (TCP right after the fixed 40-byte IPv6 header: flags at byte 53)."""
BARE_ACK = (
    "((tcp[tcpflags] == tcp-ack and ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) == 0)"
    " or (ip6 and ip6[6] == 6 and ip6[53] == 0x10 and ip6[4:2] - ((ip6[52] & 0xf0) >> 2) == 0))"
)
"""Only ACK set and no payload: the handshake's third packet, the teardown's
last one, and the acknowledgements of data. Under keep-alive load they are
rare (replies and next requests carry the ACKs); a new connection adds two to
four (IPv6: payload length at byte 4, data offset at 52)."""
CONTROL_FILTER = f"({OPEN_CLOSE} or {BARE_ACK})"
"""Every control packet: what the ladder needs to draw a handshake and a teardown."""

YOUNG_SEGMENTS = 32
"""Data segments a connection may carry before its data stops being captured."""
MAX_OLD = 24
"""Old connections the filter names at most; more pauses data capture."""
BUDGET = 400
WINDOW = 0.25
"""At most BUDGET data segments per WINDOW seconds (1,600/s) reach Python."""
CONNECTION_BUDGET = 320
"""New connections (SYNs) per WINDOW (1,280/s) above which bare ACKs pause too."""
COOLDOWN = 2.0
"""Seconds a paused part of the capture stays paused once over its budget."""
_TRACKED = 4096
"""Young connections counted at most (their counts are forgotten beyond)."""


def _ports(ports: Iterable[int]) -> tuple[int, ...]:
    wanted = tuple(sorted({int(port) for port in ports}))
    for port in wanted:
        if not 0 < port < 65536:
            raise ValueError(f"not a TCP port: {port}")
    return wanted


def _any_port(ports: Iterable[int]) -> str:
    return " or ".join(f"port {port}" for port in ports)


class DataWindow:
    """The young-connection window and the filter that enforces it.

    `control_ports` restricts everything to those ports (empty: all TCP on
    the interface); `data_ports` are the ports whose young connections'
    data is captured (empty: no data at all); `young_segments=None` captures
    every data segment of `data_ports`, old or young (for teaching, not load).
    """

    def __init__(
        self,
        control_ports: Iterable[int] = (),
        data_ports: Iterable[int] = (),
        *,
        young_segments: int | None = YOUNG_SEGMENTS,
        max_old: int = MAX_OLD,
        budget: int = BUDGET,
        connection_budget: int = CONNECTION_BUDGET,
        window: float = WINDOW,
        cooldown: float = COOLDOWN,
    ) -> None:
        self.control_ports = _ports(control_ports)
        self.data_ports = _ports(data_ports)
        self.young_segments = young_segments
        self.max_old = max_old
        self.budget = budget
        self.connection_budget = connection_budget
        self.window = window
        self.cooldown = cooldown
        self._counts: dict[tuple[int, int], int] = {}
        self._old: set[tuple[int, int]] = set()
        self._data = _Budget(budget, window, cooldown)
        self._syns = _Budget(connection_budget, window, cooldown)
        self._shown = self.filter()

    # -- what the filter is --------------------------------------------------

    @property
    def paused(self) -> str:
        """What is not captured right now and why ("" when everything is)."""
        reasons = []
        if self._syns.over:
            rate = self.connection_budget / self.window
            reasons.append(f"bare ACKs and data paused: over {rate:,.0f} new connections/s")
        elif self.data_ports and self._data.over:
            rate = self.budget / self.window
            reasons.append(f"data paused: over {rate:,.0f} data segments/s")
        elif self.data_ports and len(self._old) > self.max_old:
            reasons.append(f"data paused: over {self.max_old} long-lived connections")
        return "; ".join(reasons)

    def filter(self) -> str:
        """The BPF filter for the window as it stands."""
        wanted = OPEN_CLOSE if self._syns.over else CONTROL_FILTER
        control = f"inbound and tcp and {wanted}"
        if self.control_ports:
            control = f"inbound and tcp and ({_any_port(self.control_ports)}) and {wanted}"
        if not self.data_ports or self.paused:
            return control
        data = f"({_any_port(self.data_ports)})"
        if self._old:
            data += f" and not ({_any_port(sorted(client for _, client in self._old))})"
        return f"{control} or (inbound and tcp and {data})"

    def change(self) -> str | None:
        """The new filter if it changed since the last call, else None."""
        current = self.filter()
        if current == self._shown:
            return None
        self._shown = current
        return current

    # -- what changes it ---------------------------------------------------------

    def watch(self, data_ports: Iterable[int]) -> None:
        """Capture the young data of these ports from now on (the servers changed)."""
        self.data_ports = _ports(data_ports)
        kept = set(self.data_ports)
        self._old = {key for key in self._old if key[0] in kept}
        self._counts = {key: n for key, n in self._counts.items() if key[0] in kept}

    def observe(self, packet: TcpPacket, now: float) -> None:
        """Count one packet the filter passed (capture thread, or tests)."""
        if packet.flags == "S":
            self._syns.spend(now)
        key = self._key(packet)
        if key is None:
            return
        if "F" in packet.flags or "R" in packet.flags:
            # Its client port may be reused by the next connection: forget it.
            self._counts.pop(key, None)
            self._old.discard(key)
            return
        if not packet.payload_len:
            return
        self._data.spend(now)
        if self.young_segments is None or key in self._old:
            return
        count = self._counts.get(key, 0) + 1
        if count >= self.young_segments:
            self._counts.pop(key, None)
            self._old.add(key)
            return
        if key not in self._counts and len(self._counts) >= _TRACKED:
            self._counts.pop(next(iter(self._counts)))
        self._counts[key] = count

    def tick(self, now: float) -> None:
        """Let time pass: ends a pause whose cooldown is over."""
        self._data.tick(now)
        self._syns.tick(now)

    def _key(self, packet: TcpPacket) -> tuple[int, int] | None:
        """(server port, client port) if the packet belongs to a watched port."""
        if packet.dst.port in self.data_ports:
            return packet.dst.port, packet.src.port
        if packet.src.port in self.data_ports:
            return packet.src.port, packet.dst.port
        return None


class _Budget:
    """At most `limit` events per `window` seconds; over it, `over` for `cooldown` s."""

    __slots__ = ("_count", "_start", "_until", "cooldown", "limit", "window")

    def __init__(self, limit: int, window: float, cooldown: float) -> None:
        self.limit, self.window, self.cooldown = limit, window, cooldown
        self._start, self._count, self._until = 0.0, 0, 0.0

    @property
    def over(self) -> bool:
        return bool(self._until)

    def spend(self, now: float) -> None:
        self.tick(now)
        if now - self._start >= self.window:
            self._start, self._count = now, 0
        self._count += 1
        if self._count > self.limit and not self._until:
            self._until = now + self.cooldown

    def tick(self, now: float) -> None:
        if self._until and now >= self._until:
            self._until = 0.0
            self._start, self._count = now, 0
