"""The file server (`static`) of seed 001 (SimpleHTTPServer); engine/static.py serves."""

from __future__ import annotations

from pathlib import Path

from netbench.engine.kinds.common import (
    HTTP_DEFAULTS,
    KEEP_ALIVE,
    LIVE,
    a_path,
    existing_dir,
    http_listener,
)
from netbench.engine.registry import (
    KindError,
    KindOption,
    KindRuntime,
    Listener,
    ServerKind,
    register,
)
from netbench.engine.static import StaticSite
from netbench.model import Transport


async def _build(runtime: KindRuntime) -> Listener:
    config = runtime.config
    root = config.root or Path.cwd()
    if not root.is_dir():
        raise KindError(f"static root {root} is not a directory")
    return http_listener(runtime, StaticSite(root, follow_symlinks=config.follow_symlinks))


register(
    ServerKind(
        "static",
        "files under `--root` (default: current directory), directory listings (1,000 "
        "entries a page, `?page=N`), never outside the root (001's SimpleHTTPServer)",
        Transport.TCP,
        http=True,
        answers="the files under its root",
        port=8000,  # SimpleHTTPServer's default
        defaults=HTTP_DEFAULTS,
        build=_build,
        options=(
            KindOption(
                "root",
                "directory to serve (default: current)",
                flag="--root",
                metavar="DIR",
                parse=lambda text: a_path(text) if text.strip() else Path.cwd(),
                check=existing_dir,
                label="Root",
                placeholder="directory to serve",
            ),
            KindOption(
                "follow_symlinks",
                "serve symlinks that lead outside --root (refused by default)",
                flag="--follow-symlinks",
                shape="flag",
                default=False,
            ),
            KEEP_ALIVE,
            *LIVE,  # its files answer behind the live rules, as every HTTP kind's site does
        ),
    )
)
