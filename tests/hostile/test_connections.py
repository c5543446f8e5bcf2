"""Connections that end badly or arrive all at once."""

from __future__ import annotations

import asyncio
import time

from payloads import HOST
from rawclient import connect, reset, responses, talk

CONCURRENT = 200


def test_a_reset_in_the_middle_of_a_request(http_server, recorded_in) -> None:
    sock = connect(http_server.port)
    sock.sendall(b"POST /reset-mid-request HTTP/1.1\r\n" + HOST + b"Content-Length: 1000\r\n\r\nab")
    time.sleep(0.05)  # let the head arrive before the RST (an ordering, not a wait)
    reset(sock)
    rows = recorded_in("target = '/reset-mid-request'")
    assert rows and rows[0][0] is None  # recorded as a request that got no answer


def test_a_reset_in_the_middle_of_a_response(static_server) -> None:
    sock = connect(static_server.port)
    sock.sendall(b"GET /big.bin HTTP/1.1\r\n" + HOST + b"\r\n")
    first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    reset(sock)  # 8 MiB still to send


def test_a_close_in_the_middle_of_a_body(http_server, recorded_in) -> None:
    with connect(http_server.port) as sock:
        sock.sendall(b"PUT /half-body HTTP/1.1\r\n" + HOST + b"Content-Length: 10\r\n\r\nabc")
    rows = recorded_in("target = '/half-body'")
    assert rows and rows[0][2], "the cut-short body is recorded with an error"


def test_connections_that_send_nothing(http_server) -> None:
    for _ in range(50):
        connect(http_server.port).close()
    for _ in range(50):
        reset(connect(http_server.port))


async def _one_request(port: int, index: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /c%d HTTP/1.1\r\n" % index + HOST + b"Connection: close\r\n\r\n")
        data = await reader.read()
        return responses(data)[0].status
    finally:
        writer.close()


def test_200_concurrent_connections_are_all_answered(http_server) -> None:
    async def all_at_once() -> list[int]:
        async with asyncio.timeout(20):
            return await asyncio.gather(
                *(_one_request(http_server.port, n) for n in range(CONCURRENT))
            )

    assert asyncio.run(all_at_once()) == [404] * CONCURRENT


def test_200_concurrent_slow_connections_do_not_starve_a_normal_one(http_server) -> None:
    idle = [connect(http_server.port) for _ in range(CONCURRENT)]
    try:
        for sock in idle:
            sock.sendall(b"GET /slow HTTP/1.1\r\n")  # a head that never ends
        reply = talk(http_server.port, b"GET / HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n")
        assert [r.status for r in responses(reply.data)] == [200]
        assert reply.seconds < 2
    finally:
        for sock in idle:
            sock.close()
