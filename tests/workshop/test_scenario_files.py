"""Scenario files: the format a teacher writes, and the one-line errors for bad ones."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from netbench.workshop import builtin_scenarios
from netbench.workshop.scenario import ScenarioError, parse_scenario

GOOD = """\
name = "mine"
title = "My lesson"
summary = "A listener and a client."
takeaway = "connect() needs a listener."

[[step]]
do = "listen"
socket = "listener"
backlog = 2
explain = "It listens."
expect = { state = { listener = "LISTEN" } }

[[step]]
do = "connect"
socket = "client"
to = "listener"
explain = "It connects in {elapsed_ms} ms."
expect = { state = { client = "ESTABLISHED" }, accept_queue = { listener = 1 } }
"""

BAD = [
    # (what is changed, the line the message must name, words it must say)
    (GOOD.replace('do = "connect"', 'do = "jump"'), 14, "unknown action 'jump'"),
    (
        GOOD.replace('to = "listener"', 'to = "listener"\nbacklog = 3'),
        17,
        "`connect` takes no `backlog`",
    ),
    (GOOD.replace('socket = "client"', 'socket = "Client!"'), 15, "`socket` must name"),
    (GOOD.replace('explain = "It listens."\n', ""), 6, "`explain` must say"),
    (GOOD.replace("accept_queue =", "accept_queu ="), 18, "unknown check `accept_queu`"),
    (GOOD.replace('title = "My lesson"', 'title = " "'), 2, "`title` must be a non-empty string"),
    (GOOD.replace('name = "mine"', 'name = "My Lesson"'), 1, "`name` must be lower-case"),
    (GOOD.replace("backlog = 2", "backlog = 2 2"), 9, "line 9"),
    (
        GOOD.replace('socket = "listener"\nbacklog', 'socket = "other"\nbacklog'),
        16,
        "'listener' is used before",
    ),
]


def test_a_good_file_parses_with_its_steps() -> None:
    scenario = parse_scenario(GOOD, "mine.toml")
    assert [s.do for s in scenario.steps] == ["listen", "connect"]
    assert scenario.steps[1].side == "client"
    assert scenario.steps[0].side == "server"
    assert scenario.steps[1].title == "client: client.connect()"


@pytest.mark.parametrize(("text", "line", "words"), BAD, ids=[b[2] for b in BAD])
def test_a_bad_file_names_the_line_and_the_problem(text: str, line: int, words: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "lesson.toml")
    message = str(caught.value)
    assert words in message
    assert "\n" not in message
    if words != "line 9":
        assert message.startswith(f"lesson.toml:{line}:"), message


@pytest.mark.parametrize("key", ["name", "title", "summary", "takeaway"])
def test_a_missing_top_key_is_said_missing_with_no_line(key: str) -> None:
    """An absent `summary` was reported at `lesson.toml:1:`, a line that says nothing of it."""
    text = "\n".join(line for line in GOOD.splitlines() if not line.startswith(f"{key} ="))
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "lesson.toml")
    assert str(caught.value) == f"lesson.toml: `{key}` is missing (a non-empty string)"


def test_the_builtins_are_written_in_the_documented_format() -> None:
    # They parse (builtin_scenarios would raise otherwise) and each file is in the docs' list.
    docs = (Path(__file__).resolve().parents[2] / "docs" / "workshop.md").read_text()
    for scenario in builtin_scenarios():
        assert f"`{scenario.name}`" in docs


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netbench", "workshop", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd,
    )  # fmt: skip


def test_the_cli_runs_a_teachers_file_and_rejects_a_bad_one(tmp_path: Path) -> None:
    lesson = tmp_path / "lesson.toml"
    lesson.write_text(GOOD)
    ran = _cli("run", "--file", str(lesson), "--json", "--auto", "0", "--no-capture")
    assert ran.returncode == 0, ran.stderr
    steps = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [s["action"] for s in steps] == ["listen", "connect"]
    assert steps[1]["explanation"].startswith("It connects in ")
    assert steps[1]["takeaway"] == "connect() needs a listener."
    lesson.write_text(BAD[0][0])
    bad = _cli("run", "--file", str(lesson), "--json", "--auto", "0")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.strip() == (
        f"netbench: error: {lesson}:14: step 2: unknown action 'jump' (one of: "
        + bad.stderr.split("(one of: ")[1].strip()
    )
    assert len(bad.stderr.strip().splitlines()) == 1


def test_workshop_list_prints_name_then_title() -> None:
    listed = _cli("list")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [s.name for s in builtin_scenarios()]
    assert lines[0].split(None, 1)[1] == builtin_scenarios()[0].title


@pytest.mark.parametrize("name", ["handshake", "refused", "timeout"])
def test_workshop_run_json_prints_one_object_per_step(name: str) -> None:
    ran = _cli("run", name, "--json", "--auto", "0", "--no-capture")
    assert ran.returncode == 0, ran.stderr
    steps = [json.loads(line) for line in ran.stdout.splitlines()]
    scenario = next(s for s in builtin_scenarios() if s.name == name)
    assert len(steps) == len(scenario.steps)
    for number, step in enumerate(steps, 1):
        assert step["step"] == number
        assert {"action", "packets", "sockets", "explanation", "checks"} <= step.keys()
        assert step["ok"] is True
        for packet in step["packets"]:
            assert packet["source"] == "inferred"
            assert {"flags", "seq", "ack"} <= packet.keys()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "handshake", "--auto", "-1"], "argument --auto: seconds between steps must be"),
        (["run", "handshake", "--auto", "nan"], "argument --auto: seconds between steps must be"),
        (["--json"], "--json is an option of `run`"),
        (["list", "--json"], "--json is an option of `run`"),
        (["handshake", "--auto", "2"], "--auto is an option of `run`"),
        (["run", "handshake", "--projector"], "--projector is for the lesson's screen"),
        (["list", "--projector"], "--projector is for the lesson's screen"),
    ],
)
def test_options_run_cannot_take_or_that_run_does_not_take_are_usage_errors(
    args: list[str], words: str
) -> None:
    """`--auto -1` slept no time and `--json` without `run` was ignored, silently."""
    ran = _cli(*args, "--no-capture")
    assert ran.returncode == 2
    assert ran.stdout == ""
    usage, error = ran.stderr.splitlines()  # argparse's form: the usage line, then the error
    assert usage.startswith("usage: netbench workshop")
    assert error.startswith("netbench workshop: error: ") and words in error, error


def test_an_unknown_lesson_is_one_line_and_exit_2() -> None:
    ran = _cli("run", "no-such-lesson", "--json")
    assert ran.returncode == 2
    assert ran.stderr.startswith("netbench: error: no built-in scenario named 'no-such-lesson'")
    assert len(ran.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("backlog = 2", 'backlog = "two"'), "`backlog` must be a whole number"),
        (("backlog = 2", "backlog = true"), "`backlog` must be a whole number"),
        (('to = "listener"', 'to = "listener"\nwait = 1'), "`wait` must be a true or false"),
    ],
)
def test_arguments_of_the_wrong_type_are_refused_when_read(
    change: tuple[str, str], words: str
) -> None:
    with pytest.raises(ScenarioError, match=words):
        parse_scenario(GOOD.replace(*change), "lesson.toml")


def _then(lines: str) -> str:
    """GOOD and one more step of the client's."""
    return GOOD + f'\n[[step]]\nsocket = "client"\nexplain = "x"\n{lines}\n'


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # Each passed the reading and raised in the socket call: a traceback.
        (GOOD.replace("backlog = 2", "backlog = 2\nport = 65536"), "`port` must be between 0 and 65535"),
        (GOOD.replace("backlog = 2", "backlog = 99999999999999999"), "`backlog` must be between 0 and 4096"),
        (_then('do = "recv"\nsize = 99999999999999999'), "`size` must be between 1 and 16777216"),
        (
            _then('do = "send"\ndata = "0123456789"\nrepeat = 10000000'),
            "`data` times `repeat` must be at most 16777216 bytes",
        ),
        # A recv after it waited for ever.
        (_then('do = "settimeout"\nseconds = 1e300'), "`seconds` must be between 0 and 30"),
    ],
)  # fmt: skip
def test_numbers_a_socket_call_cannot_take_are_refused_when_read(text: str, words: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(words)):
        parse_scenario(text, "lesson.toml")


def test_tables_nested_thousands_deep_are_one_line() -> None:
    nested = "expect = " + "{ a = " * 2000 + "1" + " }" * 2000
    with pytest.raises(ScenarioError, match="nested too deep"):
        parse_scenario(GOOD.replace('expect = { state = { listener = "LISTEN" } }', nested), "x")


def test_a_lessons_words_reach_the_terminal_inert(tmp_path: Path) -> None:
    """`workshop run --file` printed a title's OSC 52 (a clipboard write) raw."""
    hostile = "\\u001b]52;c;SGVsbG8=\\u0007\\u001b[31mRED\\u009b31m\\u202eEVIL"
    lesson = tmp_path / "lesson.toml"
    lesson.write_text(
        GOOD.replace('title = "My lesson"', f'title = "{hostile}"')
        .replace('explain = "It listens."', f'explain = "{hostile}"')
        .replace('takeaway = "connect() needs a listener."', f'takeaway = "{hostile}"')
    )
    for mode in ([], ["--json"]):
        ran = _cli("run", "--file", str(lesson), *mode, "--auto", "0", "--no-capture")
        assert ran.returncode == 0, ran.stderr
        assert not set(ran.stdout) & {"\x1b", "\x07", "\x9b", "\u202e"}, mode
    assert "RED" in ran.stdout


def test_a_server_the_engine_refuses_is_the_steps_error_not_a_traceback(tmp_path: Path) -> None:
    lesson = tmp_path / "asgi.toml"
    lesson.write_text(
        'name = "asgi"\ntitle = "t"\nsummary = "s"\ntakeaway = "k"\n\n[[step]]\n'
        'do = "start_server"\nsocket = "server"\nkind = "asgi"\nexplain = "x"\n'
    )
    ran = _cli("run", "--file", str(lesson), "--auto", "0", "--no-capture")
    assert ran.returncode == 1
    assert "raised: EngineError: cannot load" in ran.stdout
    assert "Traceback" not in ran.stderr
    assert ran.stderr.startswith("netbench: error: 1 step(s) did not go as the scenario says")


def test_a_list_of_http_statuses_is_read_and_printed_as_a_sequence(tmp_path: Path) -> None:
    """`[200, 404]` means 200, then 404; it printed "200 or 404", "kernel says"."""
    source = resources.files("netbench.workshop") / "scenarios" / "07-pipelining.toml"
    lesson = tmp_path / "statuses.toml"
    text = source.read_text(encoding="utf-8")
    assert "status = [200, 200]" in text
    lesson.write_text(text.replace("status = [200, 200]", "status = [200, 404]"), "utf-8")
    command = ["workshop", "run", "--file", str(lesson), "--auto", "0", "--no-capture"]
    done = subprocess.run(
        [sys.executable, "-m", "netbench", *command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    [line] = [line for line in done.stdout.splitlines() if "HTTP status" in line]
    assert line.strip() == (
        "[DIFFERENT] HTTP status: expected 200, then 404, server answered 200, then 200"
    )
