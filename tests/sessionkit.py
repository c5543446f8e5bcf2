"""Write a list of engine events into a session file (shared by store and UI tests)."""

from __future__ import annotations

from pathlib import Path

from netbench.events import Event
from netbench.store import SessionWriter


def record(path: Path, events: list[Event], **options: object) -> SessionWriter:
    """A closed session at `path` holding exactly `events` (options go to SessionWriter)."""
    writer = SessionWriter(path, **options)  # type: ignore[arg-type]
    writer.open()
    for event in events:
        writer(event)
    writer.close()
    return writer
