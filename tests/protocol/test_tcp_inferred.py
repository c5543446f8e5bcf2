"""Inferred TCP steps: what the sockets reported, never packets."""

from __future__ import annotations

import pytest

from netbench.model import Direction, Role, SocketEventKind
from netbench.protocol.tcp_inferred import UNSEEN, InferredStep, infer_steps, sender
from netbench.store import ChunkMeta, SocketEventRow

T0 = 1795341600.0


def event(kind: SocketEventKind, dt: float, detail: str | None = None) -> SocketEventRow:
    return SocketEventRow(1, T0 + dt, kind, detail)


def chunk(seq: int, direction: Direction, dt: float, offset: int, length: int) -> ChunkMeta:
    return ChunkMeta(seq, direction, T0 + dt, offset, length)


def test_a_served_request_closed_by_the_client() -> None:
    steps = infer_steps(
        Role.SERVER,
        [
            event(SocketEventKind.ACCEPT, 0.0),
            event(SocketEventKind.PEER_FIN, 0.3),
            event(SocketEventKind.CLOSE, 0.3),
        ],
        [chunk(0, Direction.IN, 0.1, 0, 78), chunk(1, Direction.OUT, 0.2, 0, 517)],
    )
    assert [(s.side, s.label.split(" · ")[0]) for s in steps] == [
        (Role.SERVER, "accept()"),
        (Role.CLIENT, "data 78 B"),
        (Role.SERVER, "data 517 B"),
        (Role.CLIENT, "FIN received"),
        (Role.SERVER, "close()"),
    ]
    assert [s.crosses for s in steps] == [False, True, True, True, False]
    assert all(s.sentence.endswith(UNSEEN + ".") for s in steps)
    assert "handshake" in steps[0].sentence
    assert "78 bytes" in steps[1].sentence and "relative seq 1" in steps[1].sentence
    assert steps[2].direction is Direction.OUT and (steps[2].offset, steps[2].length) == (0, 517)


@pytest.mark.parametrize(
    ("role", "kind", "side", "label", "crosses"),
    [
        (Role.CLIENT, SocketEventKind.CONNECT, Role.CLIENT, "connect()", False),
        (Role.SERVER, SocketEventKind.ACCEPT, Role.SERVER, "accept()", False),
        (Role.CLIENT, SocketEventKind.SHUTDOWN, Role.CLIENT, "FIN sent", True),
        (Role.SERVER, SocketEventKind.SHUTDOWN, Role.SERVER, "FIN sent", True),
        (Role.SERVER, SocketEventKind.PEER_FIN, Role.CLIENT, "FIN received", True),
        (Role.CLIENT, SocketEventKind.PEER_FIN, Role.SERVER, "FIN received", True),
        (Role.SERVER, SocketEventKind.ABORT, Role.SERVER, "RST sent", True),
        (Role.CLIENT, SocketEventKind.PEER_RESET, Role.SERVER, "RST received", True),
        (Role.SERVER, SocketEventKind.PEER_RESET, Role.CLIENT, "RST received", True),
        (Role.SERVER, SocketEventKind.CLOSE, Role.SERVER, "close()", False),
        (Role.SERVER, SocketEventKind.TIMEOUT, Role.SERVER, "timeout", False),
        (Role.CLIENT, SocketEventKind.ERROR, Role.CLIENT, "socket error", False),
    ],
)
def test_each_socket_event(
    role: Role, kind: SocketEventKind, side: Role, label: str, crosses: bool
) -> None:
    [step] = infer_steps(role, [event(kind, 1.0)], [])
    assert step == InferredStep(
        T0 + 1.0, side, step.label, step.fact, crosses, kind=kind, direction=None
    )
    assert step.label.startswith(label)
    assert step.sentence.endswith(f"{UNSEEN}.")
    assert step.sentence.count(".") == 1 and "\n" not in step.sentence


@pytest.mark.parametrize(
    ("role", "direction", "who"),
    [
        (Role.SERVER, Direction.IN, Role.CLIENT),
        (Role.SERVER, Direction.OUT, Role.SERVER),
        (Role.CLIENT, Direction.IN, Role.SERVER),
        (Role.CLIENT, Direction.OUT, Role.CLIENT),
    ],
)
def test_chunks_sit_on_the_senders_lane(role: Role, direction: Direction, who: Role) -> None:
    assert sender(role, direction) is who
    [step] = infer_steps(role, [], [chunk(3, direction, 0.5, 100, 10)])
    assert step.side is who
    assert "stream bytes 100–109" in step.sentence
    assert f"The {who.value} sent 10 bytes" in step.sentence


def test_ties_put_the_handshake_first_and_the_close_last() -> None:
    steps = infer_steps(
        Role.SERVER,
        [event(SocketEventKind.CLOSE, 0.0), event(SocketEventKind.ACCEPT, 0.0)],
        [chunk(0, Direction.IN, 0.0, 0, 5)],
    )
    assert [s.kind for s in steps] == [SocketEventKind.ACCEPT, None, SocketEventKind.CLOSE]


def test_error_details_are_made_inert() -> None:
    [step] = infer_steps(Role.CLIENT, [event(SocketEventKind.ERROR, 0, "boom\x1b[31m")], [])
    assert "\x1b" not in step.sentence
    assert "boom␛[31m" in step.sentence


def test_no_events_no_steps() -> None:
    assert infer_steps(Role.SERVER, [], []) == []
