"""`netbench session ...` on damaged files: one line saying so, exit 1, never a traceback."""

from __future__ import annotations

import contextlib
import io
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from damagekit import (
    DAMAGE_SETTINGS,
    DAMAGES,
    Cut,
    Damage,
    Flip,
    damage,
    damage_sql,
    record_traffic,
)
from hypothesis import event, given
from hypothesis import strategies as st

from netbench.cli import main


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_traffic(tmp_path_factory.mktemp("recorded") / "real.netbench.sqlite")


@pytest.fixture
def copy(recorded: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(recorded, tmp_path / "damaged.netbench.sqlite"))


def commands(path: Path, out: Path, conn_id: int = 1) -> list[list[str]]:
    """Every `session` command that reads a file."""
    return [
        ["session", "show", str(path)],
        ["session", "show", str(path), "--conn", str(conn_id)],
        ["session", "export", str(path), "--curl"],
        ["session", "export", str(path), "--pcap", str(out)],
    ]


def run(argv: list[str]) -> tuple[int, str, str]:
    """`netbench ARGV` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_said_damaged(err: str, path: Path) -> str:
    """The one error line on stderr (after any curl caveats), naming the file and its damage."""
    lines = err.splitlines()
    caveats = [line for line in lines if line.startswith("# exchange ")]
    [line] = [line for line in lines if line not in caveats]
    assert line == lines[-1]
    assert line.startswith(f"netbench: error: cannot read {path} (the file is damaged: ")
    assert line.endswith(")")
    return line


def test_invalid_utf8_in_a_text_column_reads_with_replacement(copy: Path) -> None:
    damage_sql(
        copy,
        "UPDATE exchanges SET target = CAST(X'2FFF' AS TEXT)",
        "UPDATE servers SET error = CAST(X'6F6F7073FF' AS TEXT)",
        "UPDATE connections SET detail = CAST(X'FF' AS TEXT) WHERE id = 1",
    )
    code, out, err = run(["session", "show", str(copy)])
    assert (code, err) == (0, "")
    assert "error: oops\ufffd" in out
    assert "GET /? HTTP/1.1 -> 404 Not Found" in out
    code, out, err = run(["session", "show", str(copy), "--conn", "1"])
    assert (code, err) == (0, "")
    assert "detail \ufffd" in out
    code, out, _ = run(["session", "export", str(copy), "--curl"])
    assert code == 0
    assert out.count("curl ") == 4
    # curl commands are made from the recorded bytes, which the damage to the
    # parsed target column does not touch: the first request's own target.
    assert "/caf\\351?q=" in out


@pytest.mark.parametrize(
    "argv",
    [["show"], ["show", "--conn", "1"], ["export", "--curl"], ["export", "--pcap", "OUT"]],
    ids=["show", "show-conn", "curl", "pcap"],
)
def test_a_corrupt_page_is_one_line_and_exit_1(copy: Path, tmp_path: Path, argv: list[str]) -> None:
    data = bytearray(copy.read_bytes())
    for page in range(1, len(data) // 4096):  # every page but the first: the schema reads
        data[page * 4096 : page * 4096 + 64] = b"\xa5" * 64
    copy.write_bytes(bytes(data))
    args = [arg.replace("OUT", str(tmp_path / "out.pcap")) for arg in argv]
    code, _out, err = run(["session", args[0], str(copy), *args[1:]])
    assert code == 1
    assert assert_said_damaged(err, copy).endswith(
        "(the file is damaged: database disk image is malformed)"
    )
    assert not (tmp_path / "out.pcap").exists()


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("linktype", "-1", "packets.linktype holds the number -1, not a u32"),
        ("t", "5e9", "packets.t holds the number 5e+09, not a time"),
    ],
)
def test_a_packet_that_pcap_cannot_hold_is_damage(
    copy: Path, tmp_path: Path, column: str, value: str, what: str
) -> None:
    damage_sql(copy, f"UPDATE packets SET {column} = {value} WHERE id = 2")
    out = tmp_path / "out.pcap"
    code, _out, err = run(["session", "export", str(copy), "--pcap", str(out)])
    assert code == 1
    assert assert_said_damaged(err, copy).endswith(f"(the file is damaged: {what})")
    assert sorted(path.name for path in tmp_path.iterdir()) == [copy.name]  # no half file


def test_list_marks_the_damaged_file_and_lists_the_others(recorded: Path, tmp_path: Path) -> None:
    good = Path(shutil.copy(recorded, tmp_path / "a.netbench.sqlite"))
    bad = Path(shutil.copy(recorded, tmp_path / "b.netbench.sqlite"))
    damage(bad, [Cut(0.1)])
    code, out, err = run(["session", "list", str(tmp_path)])
    assert (code, err) == (0, "")
    first, second = out.splitlines()
    assert first.startswith(str(good))
    assert first.endswith("8 connections  4 exchanges")
    assert second.startswith(str(bad))
    assert second.endswith("damaged:       database disk image is malformed")


@DAMAGE_SETTINGS
@given(damages=DAMAGES, conn_id=st.integers(1, 8))
def test_every_command_reads_any_damaged_file_or_says_it_is_damaged(
    recorded: Path, tmp_path: Path, damages: list[Damage], conn_id: int
) -> None:
    path = Path(shutil.copy(recorded, tmp_path / "damaged.netbench.sqlite"))
    damage(path, damages)
    healthy = Path(shutil.copy(recorded, tmp_path / "healthy.netbench.sqlite"))
    out = tmp_path / "out.pcap"
    outcomes = []
    for argv in commands(path, out, conn_id):
        out.unlink(missing_ok=True)
        code, _stdout, err = run(argv)
        assert code in (0, 1), (argv, err)
        if code == 1:
            assert_said_damaged(err, path)
            assert not out.exists()  # nor a half-written export
            assert not out.with_name(f".{out.name}.partial").exists()
        outcomes.append(code)
    event(f"exit codes {outcomes}")

    code, listed, err = run(["session", "list", str(tmp_path)])
    assert (code, err) == (0, "")
    by_file = {line.split()[0]: line for line in listed.splitlines()}
    assert set(by_file) == {str(path), str(healthy)}
    assert by_file[str(healthy)].endswith("8 connections  4 exchanges")


@pytest.mark.parametrize(
    "damages",
    [
        [Flip(0.3, 0xFF), Flip(0.5, 0xFF), Flip(0.7, 0xFF), Cut(0.6)],
        [Cut(0.001)],
    ],
    ids=["flipped-and-cut", "cut-in-header"],
)
def test_a_real_process_says_it_in_one_line(copy: Path, damages: list[Damage]) -> None:
    damage(copy, damages)
    result = subprocess.run(
        [sys.executable, "-m", "netbench", "session", "show", str(copy), "--conn", "3"],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 1
    [line] = result.stderr.decode().splitlines()
    assert line.startswith(f"netbench: error: cannot read {copy} (the file is damaged: ")


@pytest.mark.parametrize("name", ["servers", "Connections", "exchanges", "recordings"])
def test_a_view_in_place_of_a_table_is_damage_not_a_hang(copy: Path, name: str) -> None:
    """A recursive view named like a table ran in every query: `session list`
    spun past Ctrl-C."""
    damage_sql(
        copy,
        f"ALTER TABLE {name.lower()} RENAME TO moved",
        f"CREATE VIEW {name} AS WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r)"
        " SELECT moved.* FROM moved, r WHERE x < 0",
    )
    for argv in commands(copy, copy.with_suffix(".pcap")):
        code, _out, err = run(argv)
        assert code == 1
        line = assert_said_damaged(err, copy)
        assert line.endswith(f"{name} is a view, not a table)")
    code, out, _err = run(["session", "list", str(copy.parent)])
    assert code == 0 and "damaged:" in out


def test_a_pid_no_process_can_have_is_not_running(copy: Path) -> None:
    """os.kill raised OverflowError: a traceback for `session show`."""
    damage_sql(
        copy,
        f"UPDATE recordings SET pid = 99999999999999, ended = NULL, hostname = '{platform.node()}'",
    )
    code, out, err = run(["session", "show", str(copy)])
    assert (code, err) == (0, "")
    assert "connections" in out
