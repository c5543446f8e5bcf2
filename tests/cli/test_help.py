"""`-h` answers for every command: each option says what it does."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from netbench.cli import build_parser


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
        for parser in parsers(build_parser())
        for action in parser._actions
        if action.option_strings and not action.help
    ]
    assert missing == []


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
