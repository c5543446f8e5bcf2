"""`netbench completion bash|zsh|tcsh`: a shell completion script, made by shtab.

shtab writes a static script from the parser, so completing costs the shell
no Python start; shtab itself (~30 ms of imports, importlib.metadata) is
imported only by this command, never on netbench's other paths.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "tcsh")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh, tcsh)",
        description="Print a completion script for SHELL. Load it with "
        '`eval "$(netbench completion bash)"` (in ~/.bashrc), or write it where the '
        "shell looks: `netbench completion zsh > ~/.zfunc/_netbench`.",
    )
    parser.add_argument("shell", choices=SHELLS, metavar="SHELL", help=", ".join(SHELLS))


def run(args: argparse.Namespace) -> int:
    import shtab

    from netbench.cli import build_parser

    parser = build_parser(load_all=True)  # every command's options, not only this one's
    _complete_paths(parser, shtab.FILE, shtab.DIRECTORY)
    print(shtab.complete(parser, shell=args.shell), end="")
    return 0


def _complete_paths(parser: argparse.ArgumentParser, files: Any, directories: Any) -> None:
    """Options and positionals that take a path complete file names (DIR: directories)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _complete_paths(child, files, directories)
        elif action.type is Path or action.metavar in ("FILE", "DIR", "PATH", "OUT"):
            action.complete = directories if action.metavar == "DIR" else files  # type: ignore[attr-defined]
