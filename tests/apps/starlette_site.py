"""A Starlette app with a lifespan: state from startup, a shutdown that leaves a mark."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

events: list[str] = []


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
    events.append("startup")
    yield {"greeting": "started by the lifespan"}
    events.append("shutdown")
    mark = os.environ.get("STARLETTE_SHUTDOWN_MARK")
    if mark:
        Path(mark).write_text("shut down cleanly")  # noqa: ASYNC240 (a test mark, once)


async def home(request: Request) -> Response:
    return PlainTextResponse(request.state.greeting)


async def upload(request: Request) -> Response:
    size = 0
    async for piece in request.stream():
        size += len(piece)
    return PlainTextResponse(f"received {size} bytes")


async def greet(request: Request) -> Response:
    data = await request.json()
    return PlainTextResponse(f"Hello, {data['name']}!")


async def numbers(request: Request) -> Response:
    async def lines() -> AsyncIterator[bytes]:
        for n in range(5):
            yield b"%d\n" % n

    return StreamingResponse(lines(), media_type="text/plain")


app = Starlette(
    routes=[
        Route("/", home),
        Route("/upload", upload, methods=["POST"]),
        Route("/greet", greet, methods=["POST"]),
        Route("/numbers", numbers),
    ],
    lifespan=lifespan,
)
