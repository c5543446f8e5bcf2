"""`netbench completion SHELL`: a script the shell runs, with no Python per Tab."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def complete_in_bash(script: Path, line: str) -> list[str]:
    """What bash offers for Tab at the end of `line`, through the script's function."""
    words = line.split(" ")
    program = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(repr(word) for word in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}\n"
        "_shtab_netbench\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_kinds_and_options(run_netbench, tmp_path: Path) -> None:
    result = run_netbench("completion", "bash")
    assert result.returncode == 0, result.stderr
    script = tmp_path / "netbench.bash"
    script.write_text(result.stdout)
    assert "session" in complete_in_bash(script, "netbench ")
    assert "udp-echo" in complete_in_bash(script, "netbench serve ")
    assert complete_in_bash(script, "netbench session ") == ["list", "show", "export", "replay"]
    assert "--json" in complete_in_bash(script, "netbench send tcp --")


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_script_parses(run_netbench, tmp_path: Path) -> None:
    result = run_netbench("completion", "zsh")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("#compdef netbench")
    script = tmp_path / "_netbench"
    script.write_text(result.stdout)
    subprocess.run(["zsh", "-n", str(script)], timeout=10, check=True)


def test_an_unknown_shell_is_a_usage_error(run_netbench) -> None:
    result = run_netbench("completion", "fish")
    assert result.returncode == 2
    assert "invalid choice: 'fish'" in result.stderr


def test_help_does_not_import_shtab() -> None:
    # The completion library stays off every other path: `--help` and the TUI start.
    code = (
        "import sys\n"
        "from netbench.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('shtab' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=True
    )
    assert result.stderr.strip() == "False"
