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


def _port(url: str) -> int:
    return int(re.match(r"https?://[^/:]+:(\d+)", url).group(1))  # type: ignore[union-attr]


def test_each_example_talks_to_the_servers_it_starts() -> None:
    """A block that starts servers and curls them: each curl reaches one of them, a
    `curl -x` names a forward proxy the block started, and every server but the
    last runs in the background (`&`), or the lines after it never run."""
    from netbench.engine import registry

    checked = 0
    for block in _code_blocks():
        lines = [
            m.group(1).split("#", 1)[0].strip() for line in block if (m := COMMAND.match(line))
        ]
        if not any(line.startswith("curl ") for line in lines):
            continue  # a list of alternatives (serve wsgi ...), not a session to follow
        servers: dict[int, bool] = {}  # port -> is a forward proxy
        for number, line in enumerate(lines):
            words = shlex.split(line)
            if words[:2] == ["netbench", "serve"]:
                kind = words[2]
                # --port 0 is a port no curl line can name: it stays 0.
                given = words[words.index("--port") + 1] if "--port" in words else None
                port = int(given) if given is not None else registry.get(kind).port
                servers[port] = kind == "proxy" and ("--upstream" not in words)
                if number < len(lines) - 1:
                    assert line.endswith("&"), f"{line!r} would block the lines after it"
            elif words[0] == "curl" and servers:
                checked += 1
                proxy = words.pop(words.index("-x") + 1) if "-x" in words else None
                target = next(word for word in words[1:] if word.startswith("http"))
                if proxy is not None:
                    port = _port(proxy)
                    assert servers.get(port) is True, f"{line!r}: no forward proxy on {port}"
                assert _port(target) in servers, f"{line!r}: nothing listens on its port"
    assert checked >= 2, "the proxy example was not found"


def test_the_docs_name_the_kinds_that_take_keep_alive_and_the_limits(run_netbench) -> None:
    """docs/cli.md, `serve -h` and the kinds themselves (the registry) agree."""
    from netbench.engine import registry

    text = DOCS.read_text(encoding="utf-8")
    keep_alive = re.search(r"`--keep-alive` / `--close` \(([^)]*)\)", text)
    limits = re.search(r"^Limits \(([^;]*);", text, re.M)
    assert keep_alive is not None and limits is not None
    takers = {
        "keep_alive": registry.kinds_taking("keep_alive"),
        "max_body": registry.kinds_taking("max_body"),
    }
    assert re.split(r", | and ", keep_alive.group(1)) == list(takers["keep_alive"] or ())
    assert re.split(r", | and ", limits.group(1)) == list(takers["max_body"] or ())
    shown = run_netbench("serve", "-h").stdout
    assert f"{', '.join(takers['keep_alive'] or ())}: keep the connection" in " ".join(
        shown.split()
    )
    assert f"limits ({', '.join(takers['max_body'] or ())};" in shown
