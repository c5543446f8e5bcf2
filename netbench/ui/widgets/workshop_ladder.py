"""The workshop's ladder: the packets one step caused, between a client lane and a server lane.

Rules:
- the client's sockets stand on the left lane, the server's (listener,
  accepted, a server's connections) on the right; a name the step's sockets
  table does not know goes opposite the socket it talks to;
- one arrow per packet, with its flags, relative seq/ack, length and window,
  and under it a line saying whether it was captured or *inferred* and the
  runner's note. Inferred arrows are dashed with hollow heads, as on the TCP
  tab; a packet is never drawn as captured when it was not;
- the line count does not depend on the width (nothing wraps), so the
  widget's height is known before it is laid out;
- names and notes are made inert by `textsafe` and drawn as `Text`, never
  parsed as markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from netbench.protocol.textsafe import visible_text
from netbench.ui.ladder_model import arrow, flag_label
from netbench.workshop.results import SocketRow, WirePacket

LANE_MIN, LANE_MAX = 11, 16
"""Cells of each lane's name column."""
ARROW_MIN = 30
SHOWN_MAX = 14
"""Packets drawn at most: the first and last halves, and how many between (a captured fill sends hundreds)."""

_CLIENT = Style(color="cyan")
_SERVER = Style(color="green")
_BOLD = Style(bold=True)
_DIM = Style(dim=True)
_RST = Style(bold=True, color="red")
_INFERRED = Style(italic=True, color="yellow")
_CAPTURED = Style(bold=True, color="green")
_NOTE = Style(italic=True)

LEFT_ROLES = frozenset({"client"})
"""Roles drawn on the left lane; every other role is a server-side socket."""


def lanes(packets: Sequence[WirePacket], sockets: Sequence[SocketRow]) -> dict[str, bool]:
    """Socket name -> True when it stands on the left (client) lane."""
    left = {row.name: row.role in LEFT_ROLES for row in sockets}
    for packet in packets:
        for me, peer in ((packet.src, packet.dst), (packet.dst, packet.src)):
            if me not in left:
                left[me] = not left.get(peer, True)
    return left


def _short(name: str, cells: int) -> str:
    shown = visible_text(name)
    return shown if len(shown) <= cells else shown[: cells - 1] + "…"


def _label(packet: WirePacket, colour: Style, projector: bool) -> list[Segment]:
    rst = "R" in packet.flags
    flags_style = _RST if rst else colour + _BOLD
    if projector:
        flags_style += Style(reverse=True)
    parts = [f"seq={'?' if packet.seq is None else packet.seq}"]
    if packet.ack is not None:
        parts.append(f"ack={packet.ack}")
    parts.append(f"len={packet.length}")
    if packet.window is not None:
        parts.append(f"win={packet.window}")
    return [Segment(f" {flag_label(packet.flags)} " if projector else flag_label(packet.flags),
                    flags_style),
            Segment("  " + "  ".join(parts))]  # fmt: skip


def ladder_lines(
    packets: Sequence[WirePacket],
    sockets: Sequence[SocketRow],
    width: int,
    *,
    projector: bool = False,
) -> list[Text]:
    """The ladder of one step in `width` cells: a lane header, then two lines per packet."""
    sides = lanes(packets, sockets)
    lane = max(LANE_MIN, min(LANE_MAX, max((len(n) for n in sides), default=0)))
    room = max(ARROW_MIN, width - 2 * lane - 4)
    header = Text(no_wrap=True, end="")
    header.append(f"{'client side':>{lane}} ", _CLIENT + _BOLD)
    header.append("│", _DIM)
    header.append(" " * room)
    header.append("│", _DIM)
    header.append(" server side", _SERVER + _BOLD)
    lines = [header]
    if not packets:
        quiet = Text(" " * (lane + 2), no_wrap=True, end="")
        quiet.append("no packet on the wire in this step", _DIM + _NOTE)
        return [*lines, quiet]
    cut = len(packets) - SHOWN_MAX if len(packets) > SHOWN_MAX else 0
    half = SHOWN_MAX // 2
    for number, packet in enumerate(packets):
        if cut and half <= number < half + cut:
            if number == half:
                more = Text(" " * (lane + 3), no_wrap=True, end="")
                more.append(f"⋮ {cut} more packets", _DIM + _BOLD)
                lines += [more, Text("")] + ([Text("")] if projector else [])
            continue
        rightwards = sides.get(packet.src, True)
        colour = _CLIENT if rightwards else _SERVER
        inferred = packet.source == "inferred"
        line, head = (
            ("┄", "▷" if rightwards else "◁") if inferred else ("─", "▶" if rightwards else "◀")
        )
        left_name, right_name = (packet.src, packet.dst) if rightwards else (packet.dst, packet.src)
        row = Text(no_wrap=True, end="")
        row.append(f"{_short(left_name, lane):>{lane}} ", _CLIENT + _BOLD)
        row.append("│", _DIM)
        for segment in arrow(
            _label(packet, colour, projector), room, rightwards, line, head, colour
        ):
            row.append(segment.text, segment.style)
        row.append("│", _DIM)
        row.append(f" {_short(right_name, lane)}", _SERVER + _BOLD)
        note = Text(" " * (lane + 3), no_wrap=True, end="")
        note.append("inferred" if inferred else "captured", _INFERRED if inferred else _CAPTURED)
        if packet.note:
            note.append(" · " + visible_text(packet.note), _NOTE)
        note.truncate(width, overflow="ellipsis")
        lines += [row, note]
        if projector:
            lines.append(Text(""))
    return lines


class StepLadder(Widget):
    """The packets of the step on screen, as a ladder between the client and server lanes."""

    DEFAULT_CSS = """
    StepLadder {
        height: auto;
        padding: 0 1;
    }
    """

    projector: reactive[bool] = reactive(False, layout=True)
    """Double-spaced rows, flags in reverse video: legible from the back of a room."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.packets: list[WirePacket] = []
        self.sockets: list[SocketRow] = []

    def show(self, packets: Sequence[WirePacket], sockets: Sequence[SocketRow]) -> None:
        self.packets, self.sockets = list(packets), list(sockets)
        self.refresh(layout=True)

    def _line_count(self) -> int:
        per_packet = 3 if self.projector else 2
        shown = min(len(self.packets), SHOWN_MAX + 1)  # the cut counts as one packet's lines
        return 1 + (per_packet * shown if self.packets else 1)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._line_count()

    def render(self) -> Text:
        width = self.content_region.width or self.size.width
        lines = ladder_lines(self.packets, self.sockets, width, projector=self.projector)
        return Text("\n", no_wrap=True, end="").join(lines)
