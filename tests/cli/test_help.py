"""`-h` answers for every command: each option says what it does."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from netbench.cli import SUBCOMMANDS, build_parser


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every subcommand's parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from parsers(child)


def test_every_option_of_every_command_has_help() -> None:
    missing = [
        f"{parser.prog} {action.option_strings[-1]}"
        for parser in parsers(build_parser(load_all=True))
        for action in parser._actions
        if action.option_strings and not action.help
    ]
    assert missing == []


def test_netbench_help_lists_every_command_with_the_line_its_module_gives(run_netbench) -> None:
    # The list comes from SUBCOMMANDS, without importing the modules; each
    # module's own `add_parser` must say the same.
    result = run_netbench("--help")
    assert result.returncode == 0
    shown = " ".join(result.stdout.split())
    for name, (module, line) in SUBCOMMANDS.items():
        own = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).add_parser(own)
        (choice,) = own._choices_actions
        assert (choice.dest, choice.help) == (name, line)
        assert f" {name} {line} " in shown


LOADED = """
import sys
from netbench.cli import build_parser
build_parser().parse_args(sys.argv[1:])
print(" ".join(sorted(sys.modules)))
"""
"""Parses a command line as `netbench` does, and prints the modules loaded."""


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        ([], None),
        (["--port", "9000", "--max-body", "10"], None),
        (["send", "tcp", "127.0.0.1:9", "hi"], "netbench.cli.send"),
        (["session", "list"], "netbench.cli.session"),
    ],
)
def test_a_command_line_loads_only_the_chosen_command(argv: list[str], command: str | None) -> None:
    # `netbench` alone (the terminal UI) starts without the other commands,
    # the server kinds, SQLite, Textual or scapy: they load when used.
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", LOADED, *argv],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
    )
    commands = {module for module, _line in SUBCOMMANDS.values()}
    assert loaded & commands == ({command} if command else set())
    assert not loaded & {"textual", "scapy", "netbench.engine.registry"}
    if command != "netbench.cli.session":
        assert "sqlite3" not in loaded


def test_session_help_names_all_its_commands(run_netbench) -> None:
    result = run_netbench("--help")
    assert result.returncode == 0
    (line,) = (line for line in result.stdout.splitlines() if line.strip().startswith("session"))
    assert "export" in line
    result = run_netbench("session", "--help")
    assert "list" in result.stdout and "show" in result.stdout and "export" in result.stdout


def test_session_show_conn_ends_with_a_newline(start_serve, run_netbench, tmp_path) -> None:
    # Issue 15 saw the output end mid-line; the reply ("Yes") itself has no line end.
    server = start_serve("reply")
    session = tmp_path / "client.netbench.sqlite"
    sent = run_netbench("send", "tcp", f"127.0.0.1:{server.port}", "hi", "--session", str(session))
    assert sent.returncode == 0, sent.stderr
    result = run_netbench("session", "show", str(session), "--conn", "1")
    assert result.returncode == 0, result.stderr
    assert "    | Yes\n" in result.stdout
    assert result.stdout.endswith("close\n")
