"""The page server (`http`) of seeds 000, 003 and 004."""

from __future__ import annotations

import functools
from importlib import resources

from netbench.engine.kinds.common import HTTP_DEFAULTS, KEEP_ALIVE, LIVE, http_listener
from netbench.engine.registry import KindRuntime, Listener, ServerKind, register
from netbench.model import Transport
from netbench.protocol.pages import PageSite


@functools.cache
def _jpeg() -> bytes:
    return resources.files("netbench").joinpath("assets/test.jpg").read_bytes()


async def _build(runtime: KindRuntime) -> Listener:
    return http_listener(runtime, PageSite(_jpeg()))


register(
    ServerKind(
        "http",
        'the page server: `GET /` is the seed page with `<IMG src="test.jpg"/>` and a form, '
        "`GET /test.jpg` a real JPEG (sent as `image/jpeg`, the registered type; seed 004 wrote "
        "`image/jpg`, which is not one), `HEAD` works, `POST`/`PUT`/`PATCH`/`DELETE` answer with "
        "the page plus the decoded form or JSON body, anything else 404 (003/004)",
        Transport.TCP,
        http=True,
        answers="the built-in page",
        port=8000,  # seeds 000, 003, 004
        defaults=HTTP_DEFAULTS,
        build=_build,
        options=(KEEP_ALIVE, *LIVE),
        idle_note="keep-alive idle",
    )
)
