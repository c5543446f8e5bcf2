"""The event bus: every subscriber gets what it asked for, a broken one is dropped."""

from __future__ import annotations

from netbench.engine.bus import EventBus, Subscriber
from netbench.events import ServerStarted, ServerStopped, SocketEventRecorded
from netbench.model import Endpoint, SocketEventKind, Transport

STARTED = ServerStarted(1, "http", Transport.TCP, Endpoint("127.0.0.1", 8000), 1.0)
STOPPED = ServerStopped(1, 2.0)
ACCEPTED = SocketEventRecorded(1, SocketEventKind.ACCEPT, 1.5)


def test_kinds_limit_what_a_subscriber_is_called_with() -> None:
    bus = EventBus()
    everything: list[object] = []
    servers: list[object] = []
    bus.subscribe(everything.append)
    unsubscribe = bus.subscribe(servers.append, kinds=(ServerStarted, ServerStopped))
    for event in (STARTED, ACCEPTED, STOPPED):
        bus.publish(event)
    assert everything == [STARTED, ACCEPTED, STOPPED]
    assert servers == [STARTED, STOPPED]
    unsubscribe()
    bus.publish(STARTED)
    assert servers == [STARTED, STOPPED]
    assert everything[-1] is STARTED


def test_a_failing_subscriber_is_reported_once_and_dropped_the_others_go_on() -> None:
    failures: list[tuple[Subscriber, str]] = []
    bus = EventBus(on_error=lambda subscriber, error: failures.append((subscriber, str(error))))
    received: list[object] = []

    def broken(event: object) -> None:
        raise ValueError("boom")

    bus.subscribe(broken, kinds=(SocketEventRecorded,))
    bus.subscribe(received.append)
    bus.publish(ACCEPTED)
    bus.publish(ACCEPTED)
    assert failures == [(broken, "boom")]
    assert received == [ACCEPTED, ACCEPTED]
