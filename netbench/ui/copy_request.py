"""The HTTP tab's copy-as and edit keys, the part that runs in a thread.

Each call opens its own read-only view of the session: the app's reader
serves the screen on the loop's thread, and a 100 MB request is read (and
its body written beside the session) without holding the loop.
"""

from __future__ import annotations

from pathlib import Path

from netbench.protocol.copy_as import Format
from netbench.protocol.wire_request import Export, WireRequest
from netbench.store import SessionReader, exchange_bytes


def read_wire(session: Path, exchange_id: int) -> tuple[WireRequest, str]:
    """The exchange's request as recorded and the `host:port` it went to."""
    with SessionReader(session) as reader:
        return exchange_bytes.read_wire(reader, exchange_id)


def export_exchange(kind: Format, session: Path, exchange_id: int) -> tuple[Export, Path | None]:
    """The `kind` command for the exchange, and the body file it reads (written), if any."""
    wire, server = read_wire(session, exchange_id)
    body_file = exchange_bytes.bodies_beside(session) / f"exchange-{exchange_id}.body"
    return exchange_bytes.export_wire(kind, wire, server, body_file)
