"""The workshop's ladder, drawn from packets alone: lanes, labels, and a long step cut short."""

from __future__ import annotations

import pytest

from netbench.ui.widgets.workshop_ladder import SHOWN_MAX, ladder_lines, lanes
from netbench.workshop.results import SocketRow, WirePacket


def _row(name: str, role: str) -> SocketRow:
    return SocketRow(name, role, "ESTABLISHED", "", "", True, 0, 0, None, None)


def _packet(
    src: str, dst: str, flags: str = "A", source: str = "captured", note: str = ""
) -> WirePacket:
    return WirePacket(0.0, src, dst, flags, 1, 1, 0, 65535, source, note)  # type: ignore[arg-type]


SOCKETS = [_row("listener", "listener"), _row("client", "client"), _row("conn", "accepted")]


def test_clients_stand_left_servers_right_and_strangers_opposite_their_peer() -> None:
    packets = [_packet("client", "peer"), _packet("nobody", "conn")]
    assert lanes(packets, SOCKETS) == {
        "listener": False,
        "client": True,
        "conn": False,
        "peer": False,
        "nobody": True,
    }


@pytest.mark.parametrize("projector", [False, True])
def test_each_packet_says_captured_or_inferred(projector: bool) -> None:
    packets = [
        _packet("client", "conn", "PA", "captured", "5 bytes"),
        _packet("conn", "client", "RA", "inferred", "close() with unread data sends a RST"),
    ]
    lines = [line.plain for line in ladder_lines(packets, SOCKETS, 100, projector=projector)]
    assert all(len(line) <= 100 for line in lines)
    assert "client side" in lines[0] and "server side" in lines[0]
    arrows = [line for line in lines if "seq=" in line]
    assert "PSH-ACK" in arrows[0] and "─▶" in arrows[0]
    assert "RST-ACK" in arrows[1] and "◁┄" in arrows[1]  # inferred: dashed, hollow head
    notes = [line.strip() for line in lines if "·" in line]
    assert notes == ["captured · 5 bytes", "inferred · close() with unread data sends a RST"]


def test_a_step_of_hundreds_of_segments_shows_its_first_and_last() -> None:
    packets = [_packet("client", "conn", "PA") for _ in range(SHOWN_MAX + 30)]
    lines = [line.plain for line in ladder_lines(packets, SOCKETS, 100)]
    assert sum("seq=" in line for line in lines) == SHOWN_MAX
    assert any("⋮ 30 more packets" in line for line in lines)
