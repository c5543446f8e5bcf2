"""README's first section holds exactly the two commands, and CI runs the second."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _first_section_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_section = re.split(r"^## ", text, maxsplit=1, flags=re.M)[0]
    blocks = re.findall(r"```sh\n(.*?)```", first_section, flags=re.S)
    return [line for block in blocks for line in block.strip().splitlines()]


def test_readme_first_section_has_exactly_two_commands() -> None:
    commands = _first_section_commands()
    assert len(commands) == 2, commands
    install_and_run, install_and_test = commands
    assert install_and_run.endswith("netbench")
    assert "pytest" in install_and_test and "[test]" in install_and_test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _first_section_commands()[1] in ci.splitlines()
