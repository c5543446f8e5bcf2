"""`netbench capture-agent`: the privileged capture helper (run it with sudo).

It captures TCP control packets on loopback and serves them, headers only,
to the invoking user's netbench processes over a Unix socket, so the TUI and
`netbench serve` never need root themselves. See netbench/capture/agent.py.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register `capture-agent` on the main parser's subparsers."""
    parser = subparsers.add_parser(
        "capture-agent",
        help="privileged helper: capture TCP handshakes on loopback for your netbench (sudo)",
        description="Capture TCP control packets (SYN, FIN, RST; headers only) on a loopback "
        "interface and serve them to the netbench processes of the user who ran sudo (each "
        "gets its own user's connections only), over a Unix socket. Run `sudo $(command -v netbench) capture-agent` in another terminal; Ctrl+C stops it.",
    )
    parser.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        help="Unix socket to serve on, in a directory that is the user's alone (made "
        "0700 if missing; default: in $XDG_RUNTIME_DIR or /run/user/UID when private, "
        "else in /run/netbench-capture/UID/)",
    )
    parser.add_argument(
        "--interface", default="lo", metavar="IFACE", help="loopback interface (default lo)"
    )
    parser.add_argument(
        "--user",
        metavar="NAME|UID",
        help="the user whose netbench it serves (default: whoever ran sudo; "
        "for root without sudo, name the user here)",
    )


def run(args: argparse.Namespace) -> int:
    from netbench.capture.agent import run_agent
    from netbench.engine.sockdiag import TcpOwners

    user = None
    if args.user is not None:
        import pwd

        try:
            entry = pwd.getpwuid(int(args.user)) if args.user.isdigit() else pwd.getpwnam(args.user)
        except (KeyError, ValueError):
            from netbench.cli import usage_error

            return usage_error(args, f"no such user {args.user!r}")
        user = entry.pw_uid, entry.pw_gid
    try:
        owners = TcpOwners()  # whose each connection is: a client gets its own only
    except OSError as error:
        print(
            f"netbench capture-agent: error: cannot ask the kernel who owns sockets "
            f"(sock_diag netlink): {error.strerror}",
            file=sys.stderr,
        )
        return 1
    with contextlib.closing(owners):
        return run_agent(args.socket, args.interface, owner_lookup=owners, user=user)


def main(argv: list[str] | None = None) -> int:
    """Run the command alone: `python -m netbench.cli.capture_agent`."""
    from netbench.cli import Parser

    parser = Parser(prog="netbench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["capture-agent", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
