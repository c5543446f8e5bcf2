"""The Bytes tab's words: a chunk's header line, and bytes as escaped, wrapped text.

Every character comes from `textsafe.visible`: control bytes show as ␍ ␊ ␉
␀ ␛, never reach the terminal.
"""

from __future__ import annotations

import re
import time

from rich.cells import cell_len

from netbench.model import Direction
from netbench.protocol.textsafe import visible
from netbench.store.chunk_meta import ChunkMeta

_ARROW = {Direction.IN: "<- in ", Direction.OUT: "-> out"}
_CR, _LF = visible(b"\r"), visible(b"\n")
_NARROW = re.compile("[\x20-\x7e\u2400-\u2421]*")
"""Printable ASCII and control pictures: one cell each, so wrapping is slicing."""
_RUNS = re.compile("[\x20-\x7e\u2400-\u2421]+|.", re.DOTALL)


def chunk_header(meta: ChunkMeta, t0: float) -> str:
    """`#3  +12.345 ms  <- in   517 B  offset 1024  14:03:22.123` (no user bytes)."""
    clock = time.strftime("%H:%M:%S", time.localtime(meta.t)) + f".{int(meta.t * 1000) % 1000:03d}"
    return (
        f"#{meta.seq:<4} +{(meta.t - t0) * 1000:.3f} ms  {_ARROW[meta.direction]} "
        f"{meta.length:>7} B  offset {meta.offset:<9} {clock}"
    )


def wrap(line: str, width: int) -> list[str]:
    """`line` in pieces of at most `width` cells; a wide character is never split."""
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for run in _RUNS.findall(line):
        narrow = _NARROW.fullmatch(run) is not None
        size = len(run) if narrow else cell_len(run)
        while narrow and used + size > width:  # cut a narrow run to fit
            cut = max(0, width - used)
            pieces.append("".join([*current, run[:cut]]))
            current, used, run, size = [], 0, run[cut:], size - cut
        if used + size > width and current:
            pieces.append("".join(current))
            current, used = [], 0
        current.append(run)
        used += size
    return [*pieces, "".join(current)]


def text_lines(data: bytes, width: int) -> list[str]:
    """Escaped text, one line per LF (kept as ␊), wrapped at `width` cells.

    The same as `visible(data, keep_newlines=True)` split at its line breaks,
    but sanitised a line at a time with the CR before an LF cut off, which
    keeps `textsafe` on its fast path (printable ASCII) for ordinary text.
    """
    lines: list[str] = []
    pieces = data.split(b"\n")
    for n, piece in enumerate(pieces, 1 - len(pieces)):
        cr = piece.endswith(b"\r")
        line = visible(piece[:-1] if cr else piece) + (_CR if cr else "") + (_LF if n else "")
        if len(line) <= width and _NARROW.fullmatch(line):
            lines.append(line)
        else:
            lines.extend(wrap(line, width))
    if lines and not lines[-1]:
        lines.pop()
    return lines
