"""Raw ASGI apps, one per case the ASGI host must get right."""

from __future__ import annotations

from typing import Any


async def raises(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        raise RuntimeError("no lifespan here")  # a server must then run without it
    raise LookupError("nothing <here>")


async def startup_fails(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "the database is down"})


async def no_response(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})


def a_wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    """Not for the asgi kind: it must say so."""
    start_response("200 OK", [])
    return [b""]
