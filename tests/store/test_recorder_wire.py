"""The pipe to the recorder process: every event arrives as the engine published it."""

from __future__ import annotations

import enum
import marshal

from sessionkit import one_exchange

from netbench.events import (
    CaptureStatus,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    InterceptHeld,
    PacketCaptured,
    SocketEventRecorded,
)
from netbench.model import Endpoint, EndReason, Role, SocketEventKind, TcpPacket, Transport
from netbench.store.recorder_wire import decode_events, encode_batch


def _through_the_pipe(events: list[Event]) -> list[object]:
    name, number, items = marshal.loads(encode_batch(7, list(events)))
    assert (name, number) == ("batch", 7)
    return decode_events(items)


def test_every_kind_and_every_member_of_its_enums_arrives_equal() -> None:
    v6, v4 = Endpoint("::1", 443), Endpoint("127.0.0.1", 50123)
    unbound = Endpoint("", 0)
    events: list[Event] = [
        *one_exchange(100.0),
        ConnectionOpened(9, None, Role.CLIENT, Transport.TCP, unbound, v6, 1.5, via=3),
        ConnectionOpened(10, 4, Role.SERVER, Transport.UDP, v4, v6, 1.6),
        *(SocketEventRecorded(9, kind, 2.0 + n, None) for n, kind in enumerate(SocketEventKind)),
        SocketEventRecorded(9, SocketEventKind.ERROR, 3.0, "connect: refused \x1b[31m"),
        *(ConnectionClosed(9, reason, 4.0, 1, 2, None) for reason in EndReason),
        ConnectionClosed(10, EndReason.ERROR, 5.0, 0, 0, "é detail"),
        PacketCaptured(
            TcpPacket(6.0, v4, v6, "FA", 2**32 - 1, 0, 65535, 3, b"\x00\xff", b"\x00" * 20)
        ),
        PacketCaptured(TcpPacket(6.1, v6, v4, "S", 1, 0, 0, 0, b"", b"\x45", linktype=113)),
        InterceptHeld(1, 1, 1, 7.0),
        CaptureStatus(False, 8.0, "stopped", dropped=2),
    ]
    arrived = _through_the_pipe(events)
    assert arrived == events
    assert [type(event) for event in arrived] == [type(event) for event in events]
    closed = [event for event in arrived if isinstance(event, ConnectionClosed)]
    assert {event.reason for event in closed} == set(EndReason)


class Port(enum.IntEnum):
    HTTP = 8000


class Detail(str):
    """A subclass of str: marshal refuses it, pickle takes it (by reference)."""


def test_a_field_marshal_refuses_travels_pickled_with_the_rest_of_its_batch() -> None:
    odd_endpoint = Endpoint("127.0.0.1", Port.HTTP)
    events: list[Event] = [
        ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, odd_endpoint, odd_endpoint, 1.0),
        SocketEventRecorded(1, SocketEventKind.ERROR, 2.0, Detail("odd")),
        *one_exchange(3.0, conn_id=2),
    ]
    arrived = _through_the_pipe(events)
    assert arrived == events
    assert [type(event) for event in arrived] == [type(event) for event in events]
