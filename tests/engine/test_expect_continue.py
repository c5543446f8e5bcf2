"""`Expect: 100-continue`: the interim answer that lets an upload start without waiting.

curl sends `Expect: 100-continue` with an upload (`-T`, and big `-d` bodies) and
waits up to 1 s for `HTTP/1.1 100 Continue` before it sends the body: without
it every upload shows a false ~1,000 ms. The tests use real curl and raw
sockets, and read what the record says.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from recorder import Events

from netbench.engine.config import default_config
from netbench.engine.engine import Engine, RunningServer
from netbench.events import ChunkRecorded, HttpRequestRecorded, InterceptHeld
from netbench.model import Direction
from netbench.protocol.limits import HttpLimits

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
UPLOAD_HEAD = (
    b"PUT /up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
)

Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def server(engine: Engine) -> RunningServer:
    return await engine.start_server(default_config("http"))


async def connect(server: RunningServer, data: bytes) -> Client:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.address.port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def read_until_closed(client: Client) -> bytes:
    reader, writer = client
    try:
        return await asyncio.wait_for(reader.read(), 3)
    finally:
        writer.close()


async def test_curl_upload_gets_100_continue_and_no_one_second_wait(
    server: RunningServer, events: Events, tmp_path: Path
) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed: this test needs real curl")
    upload = tmp_path / "upload.txt"
    upload.write_bytes(b"x" * 2000)
    process = await asyncio.create_subprocess_exec(
        curl,
        "--silent",
        "--show-error",
        "--verbose",
        "--max-time",
        "10",
        "-T",
        str(upload),
        f"http://127.0.0.1:{server.address.port}/upload",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, err
    assert b"> Expect: 100-continue" in err  # curl did ask
    assert b"< HTTP/1.1 100 Continue" in err
    request = await events.wait_for(HttpRequestRecorded)
    assert request.request.body_len == 2000
    # The row's duration is the request's own, not curl's 1 s wait for the 100.
    assert request.t_end - request.t_start < 0.9
    sent = [c.data for c in events.of(ChunkRecorded, conn_id=request.conn_id)]
    assert CONTINUE in sent


async def test_raw_client_gets_100_then_its_answer(server: RunningServer, events: Events) -> None:
    client = await connect(server, UPLOAD_HEAD)
    reader, writer = client
    assert await asyncio.wait_for(reader.readexactly(len(CONTINUE)), 3) == CONTINUE
    writer.write(b"hello")
    await writer.drain()
    writer.write_eof()
    answer = await read_until_closed(client)
    assert answer.startswith(b"HTTP/1.1 404 ")  # /up is not a page: a final answer came
    request = await events.wait_for(HttpRequestRecorded)
    assert request.request.body == b"hello" and request.request.error is None
    # Recorded like any bytes sent: the 100 is an outbound chunk between head and body.
    chunks = events.of(ChunkRecorded, conn_id=request.conn_id)
    assert [(c.direction, c.data) for c in chunks[:3]] == [
        (Direction.IN, UPLOAD_HEAD),
        (Direction.OUT, CONTINUE),
        (Direction.IN, b"hello"),
    ]


async def test_announced_body_over_the_limit_gets_413_instead_of_100(engine: Engine) -> None:
    limits = replace(HttpLimits(), max_body=4)
    server = await engine.start_server(default_config("http", limits=limits))
    answer = await read_until_closed(await connect(server, UPLOAD_HEAD))
    assert answer.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in answer


async def test_a_foreign_host_gets_403_instead_of_100(server: RunningServer) -> None:
    head = UPLOAD_HEAD.replace(b"Host: 127.0.0.1", b"Host: evil.example")
    answer = await asyncio.wait_for(read_until_closed(await connect(server, head)), 3)
    assert answer.startswith(b"HTTP/1.1 403 ") and b"100 Continue" not in answer


@pytest.mark.parametrize(
    ("head", "body"),
    [
        pytest.param(UPLOAD_HEAD.replace(b"HTTP/1.1", b"HTTP/1.0"), b"hello", id="http-1.0"),
        pytest.param(UPLOAD_HEAD + b"hello", b"", id="body-already-sent"),
        pytest.param(
            UPLOAD_HEAD.replace(b"Content-Length: 5", b"Content-Length: 0"), b"", id="no-body"
        ),
    ],
)
async def test_no_100_when_nothing_waits_for_it(
    server: RunningServer, events: Events, head: bytes, body: bytes
) -> None:
    client = await connect(server, head)
    reader, writer = client
    await events.wait_for(ChunkRecorded, lambda c: c.direction is Direction.IN)
    if body:  # HTTP/1.0 ignores Expect (RFC 9110 §10.1.1): its client sends the body anyway
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.2)
        writer.write(body)
    writer.write_eof()
    answer = await read_until_closed(client)
    assert b" 404 " in answer.split(b"\r\n", 1)[0] and b"100 Continue" not in answer


async def test_intercept_reads_the_body_before_the_user_answers(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    queue = engine.set_intercept(server.server_id, True)
    client = await connect(server, UPLOAD_HEAD)
    reader, writer = client
    assert await asyncio.wait_for(reader.readexactly(len(CONTINUE)), 3) == CONTINUE
    writer.write(b"hello")
    writer.write_eof()
    held = await events.wait_for(InterceptHeld)
    item = queue.get(held.exchange_id)
    assert item is not None and item.request.body == b"hello"  # the user sees the whole request
    assert queue.answer(held.exchange_id, b"HTTP/1.1 201 Created\n\n")
    assert (await read_until_closed(client)).startswith(b"HTTP/1.1 201 Created")


async def test_100_waits_for_the_answers_before_it(
    engine: Engine, server: RunningServer, events: Events
) -> None:
    queue = engine.set_intercept(server.server_id, True)
    client = await connect(server, b"GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + UPLOAD_HEAD)
    reader, writer = client
    held = await events.wait_for(InterceptHeld)
    with pytest.raises(TimeoutError):  # the first request is not answered: no 100 yet
        await asyncio.wait_for(reader.read(1), 0.2)
    assert queue.answer(held.exchange_id, b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\nok"), 3)
    assert first.startswith(b"HTTP/1.1 200 OK")
    assert await asyncio.wait_for(reader.readexactly(len(CONTINUE)), 3) == CONTINUE
    writer.close()
