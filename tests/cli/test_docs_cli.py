"""docs/cli.md's commands as a reader pastes them: valid shell, and each example coherent.

The runnable parts of the examples are run by the tests of each command; here
the text itself is checked, since a reader copies it, not the tests.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
COMMAND = re.compile(r"^(?:\$ )?((?:netbench|curl|echo) .*)$")
"""A line of a code block that a reader runs: `netbench ...`, `$ netbench ...`, `curl ...`."""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _code_blocks() -> list[list[str]]:
    """The lines of each code block that is not a file's contents (toml)."""
    text = DOCS.read_text(encoding="utf-8")
    return [block.splitlines() for block in re.findall(r"^```\n(.*?)^```", text, re.M | re.S)]


def _commands() -> list[str]:
    return [m.group(1) for block in _code_blocks() for line in block if (m := COMMAND.match(line))]


def _bash_syntax_error(line: str) -> str:
    checked = subprocess.run(
        ["bash", "-n", "-c", line], capture_output=True, text=True, timeout=10, check=False
    )
    return checked.stderr if checked.returncode else ""


def test_every_command_in_the_docs_is_valid_shell() -> None:
    commands = _commands()
    assert len(commands) >= 8, "the examples were not found"
    errors = {line: error for line in commands if (error := _bash_syntax_error(line))}
    assert errors == {}


def test_the_app_spec_hint_pastes_into_a_shell(run_netbench) -> None:
    """The example the error gives is typed next: it must survive the shell."""
    result = run_netbench("serve", "wsgi", "not a spec", "--port", "0", "--no-record")
    assert result.returncode == 2, result
    hint = result.stderr.rsplit("(for example ", 1)[1].rstrip(")\n")
    for example in hint.split(" or "):
        line = f"netbench serve wsgi {example}"
        assert _bash_syntax_error(line) == "", line
        assert shlex.split(line)[3] in ("myapp:app", "pkg.web:create_app()")
