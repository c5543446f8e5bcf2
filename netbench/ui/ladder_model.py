"""What the TCP ladder shows: its rows, what each row means, and how it is drawn.

Rules:
- a row is a captured packet (a tracker `Step`) or a note: a socket event
  between the packets, or, when nothing was captured, an inferred step. Rows
  are in time order, packets first at equal times (accept() returns after
  the ACK that completed the handshake arrived);
- a long connection is shown by its ends: its first and last packets (or
  chunks) with one gap row between them saying how many are not shown;
- a lane's TCP state is written only on the row where it changes;
- a row's stream bytes are what links it to the Bytes tab: the direction
  seen from netbench, and offsets = relative seq - 1 (as chunks record them);
- drawing returns rich Segments for one row at a given width. Every byte from
  the wire goes through `textsafe`; nothing is ever parsed as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from netbench.model import Direction, Endpoint, Role, TcpPacket
from netbench.protocol.tcp_inferred import ChunkLike, InferredStep, SocketEventLike, infer_steps
from netbench.protocol.tcp_tracker import Side, Step, explain, track
from netbench.protocol.tcp_tracker import flag_label as flag_label  # moved down; kept here
from netbench.protocol.textsafe import visible, visible_text

DT, STATE = 9, 13
"""Cells of the Δt column and of each lane's state column."""
FIXED = DT + 1 + STATE + 1 + 1 + 1 + STATE
"""Cells around the arrows: Δt, client state, two lane bars, server state."""
MIN_ARROW = 30
HEAD = 32
"""Payload bytes shown for a data segment."""

StreamBytes = Callable[[Direction, int, int], bytes]
"""(direction from netbench, start offset, size) -> the recorded stream bytes."""

_MARKS = {
    "syn-retransmission": ("⟲ SYN again", "bold yellow"),
    "retransmission": ("⟲ retransmission", "bold yellow"),
    "out-of-order": ("out of order", "yellow"),
    "dup-ack": ("dup ACK", "yellow"),
    "zero-window": ("zero window", "bold magenta"),
    "window-update": ("window update", "cyan"),
    "keep-alive": ("keep-alive", "cyan"),
    "rst": ("", "bold red"),  # the flags already say RST: only the colour
}
_DIRECTION = {Direction.OUT: Style(color="cyan"), Direction.IN: Style(color="green")}
_DIM = Style(dim=True)
_NOTE = Style(dim=True, italic=True)
_BOLD = Style(bold=True)
_RST = Style(bold=True, color="red")


class Gap(NamedTuple):
    """What a long connection's ladder leaves out between its two ends."""

    t: float
    """Time of the last row before it."""
    hidden: int
    what: Literal["segments", "chunks"]
    """Captured packets, or (nothing captured) chunks."""


_RANK = {"packet": 0, "note": 1, "gap": 2}
"""Order of rows at equal times."""


class Row(NamedTuple):
    t: float
    kind: Literal["packet", "note", "gap"]
    ref: int
    """Index into `Ladder.steps` (a packet) or `Ladder.notes` (a note); 0 for the gap."""
    states: tuple[str, str] = ("", "")
    """Client and server state to write beside the lanes (only when changed)."""


@dataclass(slots=True)
class Ladder:
    """One connection's ladder: its lanes, steps, notes and rows."""

    role: Role
    """Which end netbench is."""
    client: Endpoint
    server: Endpoint
    steps: list[Step]
    notes: list[InferredStep]
    rows: list[Row]
    t0: float
    """Time of the first row (the SYN when captured): Δt counts from here."""
    gap: Gap | None = None
    """What is not shown between the two ends of a long connection."""

    @classmethod
    def build(
        cls,
        role: Role,
        client: Endpoint,
        server: Endpoint,
        packets: Sequence[TcpPacket],
        socket_events: Sequence[SocketEventLike],
        chunks: Sequence[ChunkLike],
        stream: StreamBytes | None = None,
        gap: Gap | None = None,
    ) -> Ladder:
        """Packets with the socket events between them; without packets, inferred steps.

        `stream(direction, start, size)` returns recorded stream bytes: it fills
        the first bytes of data segments captured headers only (the agent's).
        With a `gap`, the packets (or chunks) are a long connection's two ends.
        """
        steps = track(packets, client, server) if packets else []
        notes = infer_steps(role, socket_events, () if steps else chunks)
        rows = [Row(note.t, "note", n) for n, note in enumerate(notes)]
        shown = ("", "")
        for n, step in enumerate(steps):
            left, right = str(step.client_state)[:STATE], str(step.server_state)[:STATE]
            changed = (left if left != shown[0] else "", right if right != shown[1] else "")
            rows.append(Row(step.packet.t, "packet", n, changed))
            shown = (left, right)
        if gap is not None and gap.hidden > 0:
            rows.append(Row(gap.t, "gap", 0))
        else:
            gap = None
        rows.sort(key=lambda row: (row.t, _RANK[row.kind], row.ref))
        t0 = steps[0].packet.t if steps else rows[0].t if rows else 0.0
        ladder = cls(role, client, server, steps, notes, rows, t0, gap)
        if stream is not None:
            ladder._fill_heads(stream)
        return ladder

    def _fill_heads(self, stream: StreamBytes) -> None:
        for n, step in enumerate(self.steps):
            packet = step.packet
            if not packet.payload_len or packet.payload_head or step.rel_seq < 1:
                continue
            direction = self._direction(step.sender is Side.CLIENT)
            size = min(packet.payload_len, HEAD)
            head = stream(direction, step.rel_seq - 1, size)
            if head:
                self.steps[n] = step._replace(packet=packet._replace(payload_head=head))

    @property
    def inferred(self) -> bool:
        """No packet was captured: the rows come from socket events and chunks."""
        return not self.steps

    def key(self, index: int) -> tuple[object, ...]:
        """What row `index` shows, stable across reloads (the ends of a
        growing connection move, so not its position)."""
        row = self.rows[index]
        if row.kind == "packet":
            packet = self.steps[row.ref].packet
            return row.kind, row.t, packet.src, packet.seq, packet.ack, packet.flags
        if row.kind == "note":
            return row.kind, row.t, self.notes[row.ref].label
        return (row.kind,)

    def _direction(self, from_client: bool) -> Direction:
        return Direction.OUT if from_client == (self.role is Role.CLIENT) else Direction.IN

    def data_range(self, index: int) -> tuple[Direction, range] | None:
        """The stream bytes row `index` carried: direction (from netbench) and offsets."""
        row = self.rows[index]
        if row.kind == "gap":
            return None
        if row.kind == "note":
            note = self.notes[row.ref]
            if note.direction is None:
                return None
            return note.direction, range(note.offset, note.offset + note.length)
        step = self.steps[row.ref]
        if step.packet.payload_len == 0:
            return None
        start = step.rel_seq - 1
        direction = self._direction(step.sender is Side.CLIENT)
        return direction, range(start, start + step.packet.payload_len)

    def carrying(self, direction: Direction, start: int, end: int) -> list[int]:
        """Rows that carried any of the stream bytes [start, end) going `direction`."""
        hits: list[int] = []
        for index in range(len(self.rows)):
            carried = self.data_range(index)
            if carried is None or carried[0] is not direction:
                continue
            if carried[1].start < end and start < carried[1].stop:
                hits.append(index)
        return hits

    def marked(self, index: int) -> bool:
        """A row worth jumping to: a retransmission, a RST, a zero window..."""
        row = self.rows[index]
        if row.kind == "gap":
            return False
        if row.kind == "note":
            return self.notes[row.ref].label.startswith("RST")
        step = self.steps[row.ref]
        return bool(step.marks) or "R" in step.packet.flags

    def explanation(self, index: int) -> str:
        """One plain sentence saying what row `index` means."""
        row = self.rows[index]
        if row.kind == "packet":
            text = explain(self.steps[row.ref], self.steps[: row.ref])
        elif self.gap is not None and row.kind == "gap":
            captured = "captured packets" if self.gap.what == "segments" else "chunks"
            text = (
                f"{self.gap.hidden:,} {captured} between these steps are not drawn: a long"
                " connection's ladder shows its first and last ones. The Bytes tab shows"
                " every byte."
            )
        elif self.inferred:
            text = self.notes[row.ref].sentence
        else:
            text = f"{self.notes[row.ref].fact} (a socket event, not a packet)."
        return visible_text(text)

    # -- drawing ---------------------------------------------------------------------

    def header(self, width: int) -> list[Segment]:
        """`Δt ms  client :50412│  netbench is the server  │ server :8000`."""
        arrows = width - FIXED
        me = f"netbench is the {self.role.value}"
        middle = f"{me}  ·  inferred, not captured" if self.inferred else me
        return [
            Segment(f"{'Δt ms':>{DT}} ", _DIM),
            Segment(f"{'client :' + str(self.client.port):>{STATE}}", _BOLD),
            Segment("│", _DIM),
            Segment(middle[:arrows].center(arrows), _DIM),
            Segment("│", _DIM),
            Segment(f" {'server :' + str(self.server.port)}", _BOLD),
        ]

    def row(self, index: int, width: int, base: Style) -> list[Segment]:
        """Row `index` in `width` cells, on the `base` style (selection, highlight)."""
        row = self.rows[index]
        ms = (row.t - self.t0) * 1000
        clock = f"{ms:>{DT}.3f}" if abs(ms) < 100_000 else f"{ms / 1000:>{DT - 1}.1f}s"
        arrows = width - FIXED
        if row.kind == "gap":
            clock = " " * DT
            middle = [Segment(self.gap_line()[:arrows].center(arrows), _NOTE)]
        elif row.kind == "packet":
            middle = self._packet(self.steps[row.ref], arrows)
        else:
            middle = self._note(self.notes[row.ref], arrows)
        segments = [
            Segment(clock + " ", _DIM),
            Segment(f"{row.states[0]:>{STATE}}", _BOLD),
            Segment("│", _DIM),
            *middle,
            Segment("│", _DIM),
            Segment(f" {row.states[1]:<{STATE - 1}}", _BOLD),
        ]
        return [Segment(text, base + style if style else base) for text, style, _ in segments]

    def gap_line(self) -> str:
        """`… 1,999,600 chunks not shown …` ("" without a gap)."""
        return "" if self.gap is None else f"… {self.gap.hidden:,} {self.gap.what} not shown …"

    def _packet(self, step: Step, arrows: int) -> list[Segment]:
        packet = step.packet
        from_client = step.sender is Side.CLIENT
        colour = _DIRECTION[self._direction(from_client)]
        rst = "rst" in step.marks or "R" in packet.flags
        ack = "" if step.rel_ack is None else f" ack={step.rel_ack}"
        label = [
            Segment(flag_label(packet.flags), _RST if rst else colour + _BOLD),
            Segment(f" seq={step.rel_seq}{ack} win={step.window} len={packet.payload_len}"),
        ]
        others = sorted(str(mark) for mark in step.marks if mark not in _MARKS)
        for mark in (*(m for m in _MARKS if m in step.marks), *others):
            text, style = _MARKS.get(mark, (mark, "yellow"))
            if text:
                label.append(Segment(f"  {text}", Style.parse(style)))
        if packet.payload_len:
            more = "…" if packet.payload_len > len(packet.payload_head) else ""
            label.append(Segment(f'  "{visible(packet.payload_head)}{more}"', _DIM))
        return arrow(label, arrows, from_client, "─", "▶" if from_client else "◀", colour)

    def _note(self, note: InferredStep, arrows: int) -> list[Segment]:
        from_client = note.side is Role.CLIENT
        if self.inferred and note.crosses:
            colour = _DIRECTION[self._direction(from_client)] + Style(italic=True)
            label = [Segment(note.label, colour)]
            return arrow(label, arrows, from_client, "┄", "▷" if from_client else "◁", colour)
        # A note stands by the lane of the end that acted.
        text = Text(f" {note.label} ", end="")
        text.truncate(arrows, overflow="ellipsis")
        text.align("left" if from_client else "right", arrows)
        return [Segment(text.plain, Style(italic=True) if self.inferred else _NOTE)]


def arrow(
    label: list[Segment], width: int, rightwards: bool, line: str, head: str, style: Style
) -> list[Segment]:
    """`─ LABEL ───▶` or `◀─── LABEL ─` in exactly `width` cells, the label cut to fit."""
    room = width - 5
    cells = sum(segment.cell_length for segment in label)
    if cells > room:
        label = [*Segment.adjust_line_length(label, room - 1), Segment("…", _DIM)]
        cells = room
    fill = line * (width - 4 - cells)
    if rightwards:
        return [Segment(line + " ", style), *label, Segment(" " + fill + head, style)]
    return [Segment(head + fill + " ", style), *label, Segment(" " + line, style)]
