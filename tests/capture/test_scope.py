"""Only netbench's own connections reach the session, when capture sees every port."""

from __future__ import annotations

import pytest

import netbench.capture.scope as scope_module
from netbench.capture.scope import OwnPackets
from netbench.events import CaptureStatus, ConnectionOpened, PacketCaptured, ServerStarted
from netbench.model import Endpoint, Role, TcpPacket, Transport

SERVER = 8000


class Bus:
    def __init__(self) -> None:
        self.events: list[object] = []

    def publish(self, event: object) -> None:
        self.events.append(event)

    def ports(self) -> list[tuple[int, int]]:
        return [
            (e.packet.src.port, e.packet.dst.port) for e in self.events if type(e) is PacketCaptured
        ]


def packet(src: int, dst: int, flags: str = "S") -> PacketCaptured:
    return PacketCaptured(
        TcpPacket(
            0.0, Endpoint("127.0.0.1", src), Endpoint("127.0.0.1", dst), flags, 0, 0, 0, 0, b"", b""
        )
    )


@pytest.fixture
def scoped() -> tuple[OwnPackets, Bus]:
    bus = Bus()
    scope = OwnPackets(bus)
    scope(ServerStarted(1, "http", Transport.TCP, Endpoint("127.0.0.1", SERVER), 0.0))
    return scope, bus


def test_packets_of_a_netbench_server_pass_and_others_do_not(scoped) -> None:  # type: ignore[no-untyped-def]
    scope, bus = scoped
    scope.publish(packet(40000, SERVER))
    scope.publish(packet(SERVER, 40000, "SA"))
    scope.publish(packet(41000, 5432))  # another program's database connection
    assert bus.ports() == [(40000, SERVER), (SERVER, 40000)]


def test_a_client_syn_waits_for_its_connection_to_be_announced(scoped) -> None:  # type: ignore[no-untyped-def]
    scope, bus = scoped
    scope.publish(packet(42000, 9999))  # netbench's client, before connection_made
    scope.publish(packet(9999, 42000, "SA"))
    assert bus.ports() == []
    scope(ConnectionOpened(7, None, Role.CLIENT, Transport.TCP, Endpoint("127.0.0.1", 42000),
                           Endpoint("127.0.0.1", 9999), 0.0))  # fmt: skip
    assert bus.ports() == [(42000, 9999), (9999, 42000)]  # in capture order
    scope.publish(packet(42000, 9999, "A"))
    assert len(bus.ports()) == 3


def test_unclaimed_packets_are_dropped_after_the_hold(scoped, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    scope, bus = scoped
    now = [100.0]
    monkeypatch.setattr(scope_module.time, "monotonic", lambda: now[0])
    scope.publish(packet(43000, 7777))
    now[0] += scope_module.HOLD + 0.1
    scope.publish(packet(43001, 7777))  # pruning happens as packets arrive
    scope(ConnectionOpened(8, None, Role.CLIENT, Transport.TCP, Endpoint("127.0.0.1", 43000),
                           Endpoint("127.0.0.1", 7777), 0.0))  # fmt: skip
    assert bus.ports() == []


def test_the_wait_list_is_bounded_and_statuses_pass(scoped) -> None:  # type: ignore[no-untyped-def]
    scope, bus = scoped
    for port in range(20000, 20000 + 3 * scope_module.MAX_WAITING):
        scope.publish(packet(port, 6000))
    assert len(scope._waiting) == scope_module.MAX_WAITING
    status = CaptureStatus(True, 0.0, "capturing")
    scope.publish(status)
    assert bus.events == [status]
