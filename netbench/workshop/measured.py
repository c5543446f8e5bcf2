"""What a step's paragraph says it measured: `{probes}`, `{syn_retry}`, `{queued}`...

A paragraph must not contradict the screen beside it: these come from the
kernel and the capture after the step, and say so when they were not measured.
Numbers are written as the sockets table writes them (no separators), so a
room can find each one in the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from netbench.engine.lab import syn_linear_timeouts
from netbench.workshop.checks import Facts
from netbench.workshop.results import SocketRow, WirePacket


def measured(
    socket: str,
    facts: Facts,
    earlier: Sequence[WirePacket],
    before: Mapping[str, SocketRow] | None = None,
    peer: str | None = None,
) -> dict[str, str]:
    """The placeholders' values for a step of `socket`; `earlier`: the lesson's packets before it.

    `before`: the kernel's view before the call; `peer`: the socket at the
    other end of `socket`'s connection, when the lesson holds it.
    """
    probes = facts.zero_window_probes(socket)
    syns = [
        p.t
        for p in [*earlier, *facts.packets]
        if p.src == socket and p.flags == "S" and p.source == "captured"
    ]
    if len(syns) >= 2:
        retry = f"{(syns[1] - syns[0]) * 1000:.0f} ms after the first (captured)"
    else:
        retry = "after its retransmission timeout (1 s; capture would time it)"
    linear = syn_linear_timeouts()
    if linear:
        # Linux >= 6.7: the first `linear` retries keep the initial 1 s, then it doubles.
        schedule = (
            f"This kernel retries a SYN every 1 s for the first {linear + 1} retries "
            f"(tcp_syn_linear_timeouts = {linear}); only then does each wait double."
        )
    else:
        schedule = "Each next try waits twice as long: 1 s, 2 s, 4 s..."
    return {
        "probes": "an unknown number of" if probes is None else str(probes),
        "syn_retry": retry,
        "syn_schedule": schedule,
        "queued": queued(socket, peer, facts.sockets),
        "after_read": after_read(socket, peer, before or {}, facts.sockets),
    }


UNKNOWN = "(the kernel did not report where the bytes wait)"


def queued(sender: str, receiver: str | None, rows: Mapping[str, SocketRow]) -> str:
    """`{queued}`: where the bytes `sender` wrote and its peer has not read wait, which holds most.

    Which side holds most depends on the two buffers' sizes (autotuned by
    the kernel), not on the lesson: a fixed sentence said "most wait in the
    server's receive queue" beside a table showing 33 times more in the
    client's send queue.
    """
    mine, theirs = rows.get(sender), rows.get(receiver or "")
    if mine is None or theirs is None or mine.send_queue is None or theirs.recv_queue is None:
        return UNKNOWN
    waiting, unread = mine.send_queue, theirs.recv_queue
    # Send-Q counts unsent and sent-but-unacknowledged bytes; none in flight: all unsent.
    unsent = (
        "unsent" if mine.info is not None and mine.info.unacked == 0 else "not yet acknowledged"
    )
    said = (
        f"Of them, {waiting} wait on the sending side, in the send queue of {sender} (its "
        f"Send-Q), {unsent}, and {unread} on the receiving side, in the receive queue of "
        f"{receiver} (its Recv-Q), unread"
    )
    if waiting > unread:
        return f"{said}: most never left {sender}."
    if unread > waiting:
        return f"{said}: most reached the kernel of {receiver}, which keeps them until {receiver} reads."
    return f"{said}: as many on each side."


def after_read(
    reader: str,
    writer: str | None,
    before: Mapping[str, SocketRow],
    after: Mapping[str, SocketRow],
) -> str:
    """`{after_read}`: what a read by `reader` let `writer` send, and the window after it.

    One read of a full buffer does not drain a sender with megabytes queued:
    the room it makes is filled again at once, and the window may be back at
    0 before the step's screen is drawn (the old sentence said "the queued
    bytes flow again" beside a window of 0).
    """
    was, now = before.get(writer or ""), after.get(writer or "")
    mine = after.get(reader)
    if was is None or now is None or was.send_queue is None or now.send_queue is None:
        return UNKNOWN
    moved = was.send_queue - now.send_queue
    if moved > 0:
        said = (
            f"The room it made opened the window: the kernel of {reader} told {writer} (a "
            f"window update), and {moved} more bytes left the send queue of {writer} in this "
            f"step (its Send-Q: {was.send_queue} before the read, {now.send_queue} now)."
        )
    else:
        said = (
            f"No byte left the send queue of {writer} in this step "
            f"(its Send-Q: still {now.send_queue})."
        )
    window = now.info.snd_wnd if now.info is not None else None
    unread = "" if mine is None or mine.recv_queue is None else f" (its Recv-Q: {mine.recv_queue})"
    if window == 0:
        return (
            f"{said} {reader} reads no more, so they fill its buffer again{unread}, and the "
            f"window {writer} last heard is 0 again: {writer} waits, and probes, until {reader} "
            "reads again."
        )
    if window is None:
        return said
    return (
        f"{said} The window {writer} last heard is {window} bytes{unread}: room for that much "
        f"before {reader} must read again."
    )
