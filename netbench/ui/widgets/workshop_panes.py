"""What a workshop step shows besides its ladder: the kernel's sockets, the bytes, the checks.

Each function turns part of a `StepResult` into one rich renderable for a
`Static`. Rules:
- every cell is a `Text` (a plain `str` in a rich Table is parsed as markup);
  bytes off a socket go through `textsafe.visible`, names and notes through
  `visible_text`;
- a value that changed since the step before is drawn in bold yellow, so a
  room sees what the step did to the kernel's state;
- a field the kernel did not report is "—", never 0;
- projector mode keeps the essentials: state and queues, no addresses or
  TCP_INFO small print.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.style import Style
from rich.text import Text

from netbench.protocol.textsafe import visible, visible_text
from netbench.workshop.results import ChunkRow, SocketRow, StepResult
from netbench.workshop.returned import returned_summary

LOOPBACK = "127.0.0.1"
"""Every socket of a lesson lives here: the table shows ports only (the title says so)."""

_CHANGED = Style(bold=True, color="yellow")
_CLIENT = Style(color="cyan", bold=True)
_SERVER = Style(color="green", bold=True)
_DIM = Style(dim=True)
_BOLD_STATE = Style(bold=True)
_HEADER = Style(bold=True)
_OK = Style(color="green", bold=True)
_FAILED = Style(color="red", bold=True)
_UNKNOWN = Style(dim=True, italic=True)

CHUNKS_SHOWN = 6
"""Chunks listed under "bytes so far" (the latest; the count of earlier ones is said)."""


def side_style(role: str) -> Style:
    return _CLIENT if role == "client" else _SERVER


def _address(address: str) -> str:
    if not address:
        return "—"
    host, _, port = address.rpartition(":")
    return f":{port}" if host == LOOPBACK else visible_text(address)


def _number(value: int | None) -> str:
    return "—" if value is None else str(value)


def _rtt(microseconds: int | None) -> str:
    if not microseconds:
        return "—"
    return f"{microseconds}µs" if microseconds < 1000 else f"{microseconds / 1000:.1f}ms"


def _cells(row: SocketRow, projector: bool) -> list[str]:
    """The row's values as text, in the table's column order."""
    queues = [_number(row.recv_queue), _number(row.send_queue), _number(row.accept_queue)]
    if projector:
        return [row.state, *queues]
    info = row.info if row.role != "listener" else None  # a listener's tcp_info is its queue
    kernel = ["—", "—", "—", "—"]
    if info is not None:
        windows = (
            "—"
            if info.snd_wnd is None or info.rcv_wnd is None
            else f"{info.snd_wnd}/{info.rcv_wnd}"
        )
        kernel = [_number(info.unacked), _number(info.total_retrans), _rtt(info.rtt_us), windows]
    return [row.state, _address(row.local), _address(row.remote), *queues, *kernel]


COLUMNS = (
    "state",
    "local",
    "remote",
    "Recv-Q",
    "Send-Q",
    "accept",
    "unacked",
    "retr",
    "rtt",
    "wnd s/r",
)
PROJECTOR_COLUMNS = ("state", "Recv-Q", "Send-Q", "accept queue")


def sockets_table(
    rows: Sequence[SocketRow],
    previous: Sequence[SocketRow] = (),
    *,
    projector: bool = False,
    width: int | None = None,
) -> Text:
    """The kernel's view of every socket of the lesson, what changed in this step highlighted.

    Laid out here, column by column, as one `Text`: a rich Table is measured
    and rendered again for every line Textual draws, several times a step.
    Given a `width`, the last columns that do not fit are left out whole (at
    80 columns `wnd s/r` wrapped under the other titles), socket and state kept.
    """
    if not rows:
        return Text("no socket yet", _DIM)
    before = {row.name: _cells(row, projector) for row in previous}
    titles = ["socket", *(PROJECTOR_COLUMNS if projector else COLUMNS)]
    table: list[list[tuple[str, Style]]] = []
    for row in rows:
        old = before.get(row.name)
        name = _short(visible_text(row.name), NAME_MAX)
        if old is None and previous:
            name += " new"
        line = [(name, side_style(row.role) if not name.endswith(" new") else _CHANGED)]
        for column, value in enumerate(_cells(row, projector)):
            changed = old is not None and old[column] != value
            style = _CHANGED if changed else _BOLD_STATE if column == 0 else Style()
            line.append((visible_text(value), style))
        table.append(line)
    widths = [
        max(len(title), *(len(line[n][0]) for line in table)) for n, title in enumerate(titles)
    ]
    gap = " " * (2 if projector else 1)
    while width is not None and len(titles) > 2 and sum(widths) + len(gap) * len(widths) > width:
        titles, widths = titles[:-1], widths[:-1]
        table = [line[:-1] for line in table]
    texts = 2 if projector else 4  # socket, state (local, remote): left-aligned; numbers right
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for n, title in enumerate(titles):
        text.append(_pad(title, widths[n], n < texts) + gap, _HEADER)
    for line in table:
        text.append("\n")
        for n, (value, style) in enumerate(line):
            text.append(_pad(value, widths[n], n < texts), style)
            text.append(gap)
    return text


NAME_MAX = 16
"""Cells of a socket's name in the table (longer ones end in …)."""


def _pad(value: str, width: int, left: bool) -> str:
    return value.ljust(width) if left else value.rjust(width)


def _short(name: str, cells: int) -> str:
    return name if len(name) <= cells else name[: cells - 1] + "…"


def counted(count: int, noun: str) -> str:
    """`1 chunk`, `2 chunks`: a room reads the title aloud."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def chunks_title(chunks: Sequence[ChunkRow]) -> str:
    return f"Bytes so far ({counted(len(chunks), 'chunk')})"


def chunks_text(chunks: Sequence[ChunkRow], limit: int = CHUNKS_SHOWN) -> Text:
    """The latest chunks each socket sent or received, one line each (bytes made visible)."""
    if not chunks:
        return Text("no bytes sent yet", _DIM)
    lines: list[Text] = []
    if len(chunks) > limit:
        lines.append(Text(f"… {counted(len(chunks) - limit, 'earlier chunk')}", _DIM))
    lane = max(len(c.socket) for c in chunks[-limit:])
    for chunk in chunks[-limit:]:
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        sent = chunk.direction == "sent"
        line.append(
            f"{visible_text(chunk.socket):>{lane}} ", _DIM if not sent else Style(bold=True)
        )
        line.append("sent →" if sent else "recv ←", Style(color="cyan" if sent else "green"))
        line.append(f" {len(chunk.data):>5} B  ", _DIM)
        line.append(visible(chunk.data[:120]))
        lines.append(line)
    return Text("\n", no_wrap=True, overflow="ellipsis", end="").join(lines)


def outcome_text(result: StepResult) -> Text | None:
    """What the call itself did: what it returned, or the exception it raised."""
    if result.unexpected:
        text = Text.assemble(("✗ ", _FAILED))
        text.append(f"{result.action}: {visible_text(result.error or 'unexpected')}", _FAILED)
        text.append(" — not what the lesson expects")
        return text
    covered = {check.what for check in result.checks}
    if result.error and "the call raised" not in covered:
        text = Text.assemble(("✓ ", _OK))
        text.append(f"{result.action} raised {visible_text(result.error)}, as the lesson expects")
        return text
    if result.returned is not None and not result.error and "the call returned" not in covered:
        text = Text.assemble(("✓ ", _OK))
        text.append(f"{result.action} returned {len(result.returned)} B: ")
        text.append(returned_summary(result.returned), Style(bold=True))
        return text
    return None


def checks_text(result: StepResult, *, projector: bool = False) -> Text:
    """The outcome, then each check: ✓ agreed, ✗ the kernel disagreed, · not checkable here."""
    lines: list[Text] = []
    outcome = outcome_text(result)
    if outcome is not None:
        lines.append(outcome)
    passed = [check for check in result.checks if check.ok]
    if projector and passed and all(check.ok is not False for check in result.checks):
        # From the back of the room: one line; only a failure is spelt out.
        noun = "check" if len(passed) == 1 else "checks"
        lines.append(Text(f"✓ the kernel agreed: {len(passed)} {noun}", _OK))
        return Text("\n", end="").join(lines)
    for check in result.checks:
        what = visible_text(check.what)
        if check.ok:
            line = Text.assemble(("✓ ", _OK))
            line.append(f"{what}: {visible_text(check.actual)}")
        elif check.ok is False:
            line = Text.assemble(("✗ ", _FAILED))
            line.append(f"{what}: expected {visible_text(check.expected)}, ")
            who = "the kernel disagreed:" if check.says == "kernel says" else check.says
            line.append(f"{who} {visible_text(check.actual)}", _FAILED)
        else:
            line = Text(
                f"· {what}: {visible_text(check.expected)} ({visible_text(check.actual)})", _UNKNOWN
            )
        lines.append(line)
    if not lines:
        return Text("nothing to check in this step", _DIM)
    return Text("\n", end="").join(lines)


def paragraph(text: str) -> Text:
    """A TOML paragraph as one flowing text: its line breaks joined, blank lines kept."""
    parts = (visible_text(" ".join(part.split())) for part in text.strip().split("\n\n"))
    return Text("\n\n".join(part for part in parts if part))


def explanation(result: StepResult) -> RenderableType:
    return paragraph(result.explanation)


def intro(summary: str, titles: Sequence[str]) -> RenderableType:
    """The lesson before its first call: the summary, then the plan, one line per step."""
    # The plan keeps rich's default end ("\n"): with end="" inside a Group,
    # Textual measured the Static one line short and the last step was cut.
    plan = Text(no_wrap=True, overflow="ellipsis")
    for number, title in enumerate(titles, 1):
        plan.append(f"{number:>3}. ", _DIM)
        plan.append(visible_text(title) + ("\n" if number < len(titles) else ""))
    start = Text(f"{len(titles)} steps: space runs the first.", Style(bold=True))
    return Group(paragraph(summary), Text(""), start, plan)
