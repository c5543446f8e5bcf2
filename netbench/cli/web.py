"""`netbench web [--host H] [--port P] [-- NETBENCH-ARGS...]`: the TUI in a browser.

Each page opened starts its own `netbench NETBENCH-ARGS` (the terminal UI
by default, `-- workshop --projector` for a projected workshop) through
textual-serve; `netbench.ui.web` puts every route behind a token.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any

DEFAULT_PORT = 8765
"""Not 8000: the TUI it serves starts its page server there."""


def add_parser(subparsers: Any) -> None:
    web = subparsers.add_parser(
        "web",
        help="serve the terminal UI to a browser (textual-serve, behind a token)",
        description="Serve netbench's terminal UI to a browser: each page opened runs its own "
        "netbench. The URL printed holds a random token; without it every request gets 403.",
        epilog="Run another netbench command in the page by giving it after --, e.g. "
        "`netbench web -- workshop --projector` or `netbench web -- open SESSION`.",
    )
    web.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; another shows a warning)",
    )
    web.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    web.add_argument(
        "--title", default=None, help="the page's title (default: netbench and the command)"
    )
    web.add_argument(
        "netbench_args",
        nargs=argparse.REMAINDER,
        metavar="-- NETBENCH-ARGS",
        help="the netbench command each page runs (default: the terminal UI)",
    )


def tui_command(netbench_args: list[str]) -> str:
    """The shell command textual-serve runs for each page: this Python's netbench."""
    args = netbench_args[1:] if netbench_args[:1] == ["--"] else netbench_args
    return shlex.join([sys.executable, "-m", "netbench", *args])


def run(args: argparse.Namespace) -> int:
    from netbench.cli import fail, usage_error
    from netbench.engine.config import is_loopback_host
    from netbench.protocol.textsafe import visible_text

    if not 0 <= args.port <= 65535:
        return usage_error(args, f"--port must be 0-65535, got {args.port}")
    shown = " ".join(["netbench", *args.netbench_args[args.netbench_args[:1] == ["--"] :]])
    if shown.split()[1:2] == ["web"]:
        return usage_error(args, "the page cannot run netbench web itself")
    try:
        from netbench.ui.web import TokenServer, new_token, serve_until_signal
    except ImportError as error:  # textual-serve is a dependency; an odd install may lack it
        return fail(f"netbench web needs textual-serve ({error.name} is missing)")
    import asyncio

    title = args.title or (shown if shown != "netbench" else "netbench")
    server = TokenServer(tui_command(args.netbench_args), args.host, args.port, new_token(), title)

    def listening(url: str) -> None:
        print(f"netbench web: open {url}", flush=True)
        print(f"  each page runs `{visible_text(shown)}`; Ctrl-C stops serving", flush=True)
        print("  the token in the URL lets whoever has it drive netbench here", flush=True)
        if not is_loopback_host(args.host):
            print(
                f"netbench web: warning: listening on {visible_text(args.host)}, beyond "
                "loopback: other machines can reach it (the token keeps them out)",
                file=sys.stderr,
                flush=True,
            )

    try:
        asyncio.run(serve_until_signal(server, listening))
    except OSError as error:
        why = os.strerror(error.errno) if error.errno else str(error)
        return fail(f"cannot listen on {args.host}:{args.port}: {why}")
    return 0
