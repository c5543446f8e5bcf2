"""A chunk's place without its bytes, and a window of them: the shapes the
byte view lays out, in a module that loads no SQLite (the TUI's first frame
imports them, issue 18)."""

from __future__ import annotations

from dataclasses import dataclass

from netbench.model import Direction


@dataclass(frozen=True, slots=True)
class ChunkMeta:
    """A chunk without its bytes: enough to lay out a byte view of any size."""

    seq: int
    direction: Direction
    t: float
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class ChunkWindow:
    """Chunks `first` to `first + len(chunks) - 1` of a connection, and how many it has."""

    first: int
    chunks: list[ChunkMeta]
    total: int
    """The connection's chunk count when the window was read (its last seq + 1)."""
