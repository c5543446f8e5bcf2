"""Whose connection a captured packet is, so the capture agent gives each user only theirs.

Rules:
- a packet's owners are the users owning a socket at either end of it (on
  loopback both ends are local): the connected socket, or before accept()
  the listening one. Finding them is an `OwnerLookup` (the kernel's
  sock_diag, engine/sockdiag.py, handed in by the command);
- a connection is looked up at its first packet, after it was captured, and
  again at a SYN (a new connection on an old 4-tuple); the answer, nobody
  included, is kept (bounded), so a long connection costs one lookup and its
  last packets, once its sockets are gone, still find their owners;
- no owner found: the packet goes to nobody. A connection that opened and
  closed before the lookup (the agent gathers packets for ~20 ms) is
  missed, unless one end is a listening socket (a server), which lives on.
"""

from __future__ import annotations

from collections.abc import Callable

from netbench.model import Endpoint, TcpPacket

__all__ = ["ConnectionOwners", "OwnerLookup"]

OwnerLookup = Callable[[Endpoint, Endpoint], "int | None"]
"""(local, remote) -> uid of the live socket there, else of the one listening
on local; None if none. A remote of 0.0.0.0:0 (or [::]:0) asks for the listener."""

MAX_KNOWN = 65536
"""Connections whose owners are remembered; the oldest are forgotten first."""

Key = tuple[str, int, str, int]


def _opens(packet: TcpPacket) -> bool:
    return "S" in packet.flags and "A" not in packet.flags


def _key(packet: TcpPacket) -> Key:
    a, b = sorted(((packet.src.host, packet.src.port), (packet.dst.host, packet.dst.port)))
    return (*a, *b)


class ConnectionOwners:
    """The owners of captured packets' connections, looked up once and remembered.

    Call `new_batch` before each batch: the listening sockets found are
    remembered for one batch only (a flood of connections to one server
    asks for its listener once per batch, not once per connection).
    """

    def __init__(self, lookup: OwnerLookup) -> None:
        self._lookup = lookup
        self._known: dict[Key, frozenset[int]] = {}
        self._sets: dict[frozenset[int], frozenset[int]] = {}
        """One copy of each answer: 65,536 connections then hold a handful of sets."""
        self._listeners: dict[Endpoint, int | None] = {}

    def new_batch(self) -> None:
        self._listeners.clear()

    def owners(self, packet: TcpPacket) -> frozenset[int]:
        """The uids owning `packet`'s connection (empty: nobody known)."""
        key = _key(packet)
        known = self._known
        opens = _opens(packet)
        if not opens:
            found = known.get(key)
            if found is not None:
                return found
        lookup = self._lookup
        if opens:  # the destination is a server: its listener answers for it
            server = self._listener(packet.dst)
            if server is None:
                server = lookup(packet.dst, packet.src)
        else:
            server = lookup(packet.dst, packet.src)
        uids = {lookup(packet.src, packet.dst), server}
        found = frozenset(uid for uid in uids if uid is not None)
        found = self._sets.setdefault(found, found)
        known.pop(key, None)
        known[key] = found
        if len(known) > MAX_KNOWN:
            del known[next(iter(known))]
        return found

    def _listener(self, local: Endpoint) -> int | None:
        listeners = self._listeners
        if local not in listeners:
            anywhere = Endpoint("::" if ":" in local.host else "0.0.0.0", 0)
            listeners[local] = self._lookup(local, anywhere)
        return listeners[local]
