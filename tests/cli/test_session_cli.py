from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from netbench.cli import session
from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    HttpRequestRecorded,
    HttpResponseRecorded,
    ServerStarted,
    SocketEventRecorded,
)
from netbench.model import (
    Direction,
    Endpoint,
    EndReason,
    HttpRequest,
    HttpResponse,
    Role,
    SocketEventKind,
    Transport,
)
from netbench.store import SessionWriter

# Bytes a hostile peer could send to take over a terminal that prints them raw:
# clear screen, set the window title (OSC 0), write the clipboard (OSC 52), a
# C1 CSI in UTF-8, and a bidi override that reorders what follows.
EVIL = b"\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\xc2\x9b31m\xe2\x80\xaeevil"
REQUEST = b"GET /\x1b[2J HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Evil: \x1b]0;t\x07\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 \x1b[31mOK\r\nContent-Length: 30\r\n\r\n" + EVIL

SERVER = Endpoint("127.0.0.1", 8000)
PEER = Endpoint("127.0.0.1", 50123)


def build_session(path: Path) -> None:
    t0 = time.monotonic()
    request = HttpRequest(
        b"GET", b"/\x1b[2J", "1.1", ((b"Host", b"x"), (b"X-Evil", b"\x1b]0;t\x07")), b"", 0
    )
    response = HttpResponse(200, b"\x1b[31mOK", "1.1", ((b"Content-Length", b"30"),), EVIL, 30)
    events: list[Event] = [
        ServerStarted(1, "http", Transport.TCP, SERVER, t0),
        ConnectionOpened(1, 1, Role.SERVER, Transport.TCP, SERVER, PEER, t0 + 0.010),
        SocketEventRecorded(1, SocketEventKind.ACCEPT, t0 + 0.010),
        ChunkRecorded(1, 0, Direction.IN, 0, REQUEST, t0 + 0.011),
        HttpRequestRecorded(1, 1, 0, request, 0, 0, t0 + 0.011, t0 + 0.011),
        ChunkRecorded(1, 1, Direction.OUT, 0, RESPONSE, t0 + 0.0125),
        HttpResponseRecorded(1, 1, response, 1, 1, t0 + 0.0125, t0 + 0.0125),
        SocketEventRecorded(1, SocketEventKind.PEER_FIN, t0 + 0.020, "\x1b]0;detail\x07"),
        ConnectionClosed(1, EndReason.FIN_PEER, t0 + 0.021, len(REQUEST), len(RESPONSE)),
        ConnectionOpened(2, None, Role.CLIENT, Transport.TCP, PEER, SERVER, t0 + 0.030),
        ConnectionOpened(3, None, Role.CLIENT, Transport.TCP, PEER, SERVER, t0 + 0.040),
        ChunkRecorded(3, 0, Direction.IN, 0, bytes(range(256)), t0 + 0.041),
    ]
    write_session(path, events, ["netbench", "serve", "http"])


def write_session(path: Path, events: list[Event], argv: list[str]) -> None:
    writer = SessionWriter(path, argv=argv)
    writer.open()
    for event in events:
        writer(event)
    writer.close()


@pytest.fixture
def session_file(tmp_path: Path) -> Path:
    path = tmp_path / "sessions" / "demo.netbench.sqlite"
    build_session(path)
    return path


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="netbench")
    session.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def run_in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = session.run(parse(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def shown_connections(
    path: Path, events: list[Event], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, list[str]]:
    """`session show` of a session of `events`: exit code, stderr, the connections table."""
    write_session(path, events, ["netbench"])
    code, out, err = run_in_process(["session", "show", str(path)], capsys)
    return code, err, out.split("connections\n", 1)[1].splitlines()


def assert_inert(text: str) -> None:
    """No control or format character may reach the terminal, except newlines."""
    bad = {char for char in text if char != "\n" and unicodedata.category(char) in ("Cc", "Cf")}
    assert not bad, f"raw control characters in output: {sorted(map(hex, map(ord, bad)))}"


def test_show_lists_servers_and_connections(
    session_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_in_process(["session", "show", str(session_file)], capsys)
    assert (code, err) == (0, "")
    assert_inert(out)
    assert "command   netbench serve http" in out
    assert "#1  http  tcp  127.0.0.1:8000" in out
    [header] = [line for line in out.splitlines() if "PEER -> LOCAL" in line]
    assert header.split() == [
        "ID", "ROLE", "PEER", "->", "LOCAL", "OPENED", "DURATION", "IN", "OUT", "END", "HTTP"
    ]  # fmt: skip
    [first] = [line for line in out.splitlines() if line.strip().startswith("1 ")]
    assert "server  127.0.0.1:50123 -> 127.0.0.1:8000" in first
    assert "11.000 ms" in first
    assert f"{len(REQUEST)} B" in first
    assert "fin-peer" in first
    assert "GET /␛[2J HTTP/1.1 -> 200 ␛[31mOK" in first
    [second] = [line for line in out.splitlines() if line.strip().startswith("2 ")]
    assert "client" in second
    assert "open" in second


def test_show_conn_prints_chunks_escaped(
    session_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_in_process(["session", "show", str(session_file), "--conn", "1"], capsys)
    assert (code, err) == (0, "")
    assert_inert(out)
    lines = out.splitlines()
    assert lines[0] == "connection 1  server tcp  127.0.0.1:50123 -> 127.0.0.1:8000  (server #1)"
    assert f"#0  +1.000 ms  <- in  {len(REQUEST)} bytes  offset 0" in lines
    assert f"#1  +2.500 ms  -> out  {len(RESPONSE)} bytes  offset 0" in lines
    dump = "    00000000  47 45 54 20 2f 1b 5b 32  4a 20 48 54 54 50 2f 31  GET /␛[2J HTTP/1"
    assert dump in lines
    assert "    | GET /␛[2J HTTP/1.1␍␊" in lines
    assert "    | ␛[2J␛]0;pwned␇␛]52;c;ZXZpbA==␇\\u{009B}31m\\u{202E}evil" in lines
    assert "   +0.000 ms  socket: accept" in lines
    assert "   +10.000 ms  socket: peer-fin  ␛]0;detail␇" in lines
    # The exchange is announced after the chunk that completed it.
    exchange = lines.index("   == exchange #1: GET /␛[2J HTTP/1.1 -> 200 ␛[31mOK")
    assert lines.index(f"#1  +2.500 ms  -> out  {len(RESPONSE)} bytes  offset 0") < exchange
    # Order: accept, chunk 0, chunk 1, exchange, peer-fin.
    order = [
        lines.index("   +0.000 ms  socket: accept"),
        lines.index(f"#0  +1.000 ms  <- in  {len(REQUEST)} bytes  offset 0"),
        exchange,
        lines.index("   +10.000 ms  socket: peer-fin  ␛]0;detail␇"),
    ]
    assert order == sorted(order)


def test_show_conn_of_a_connection_without_chunks(
    session_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_in_process(["session", "show", str(session_file), "--conn", "2"], capsys)
    assert code == 0
    assert "still open" in out


def test_show_conn_leaves_out_the_text_of_binary_chunks(
    session_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_in_process(["session", "show", str(session_file), "--conn", "3"], capsys)
    assert code == 0
    assert_inert(out)
    lines = out.splitlines()
    first = "    00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  ␀␁␂␃␄␅␆␇␈␉␊␋␌␍␎␏"
    assert first in lines
    assert lines[-1] == "    | (binary: text view left out, see the hex dump)"


def test_list_prints_one_line_per_session(
    session_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = session_file.with_name("empty.netbench.sqlite")
    writer = SessionWriter(other)
    writer.open()
    writer.close()
    (session_file.parent / "junk.txt").write_text("x")

    code, out, err = run_in_process(["session", "list", str(session_file.parent)], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(str(session_file))
    assert lines[0].endswith("3 connections  1 exchange")
    assert lines[1].startswith(str(other))
    assert lines[1].endswith("0 connections  0 exchanges")
    assert re.search(r"  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ", lines[0])

    # Without DIR: the default directory, moved by NETBENCH_DATA_DIR.
    monkeypatch.setenv("NETBENCH_DATA_DIR", str(tmp_path))
    code, out, _ = run_in_process(["session", "list"], capsys)
    assert code == 0
    assert len(out.splitlines()) == 2

    monkeypatch.setenv("NETBENCH_DATA_DIR", str(tmp_path / "nothing-here"))
    code, out, err = run_in_process(["session", "list"], capsys)
    assert (code, out) == (0, "")
    assert err.startswith("netbench: no sessions in ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["session", "show", "{tmp}/missing.sqlite"], "no such session file: {tmp}/missing.sqlite"),
        (["session", "show", "{tmp}/notes.txt"], "{tmp}/notes.txt is not a netbench session"),
        (["session", "show", "{tmp}/\x1b]0;x\x07.sqlite"], "no such session file: {tmp}/␛]0;x␇"),
        (["session", "show", "{session}", "--conn", "42"], "no connection 42 in {session}"),
        (["session", "list", "{tmp}/notes.txt"], "not a directory: {tmp}/notes.txt"),
    ],
    ids=["missing", "not-a-session", "escaped-name", "unknown-conn", "list-not-a-dir"],
)
def test_errors_are_one_line_and_exit_1(
    session_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    (tmp_path / "notes.txt").write_text("plain text, not SQLite\n" * 50)
    values = {"tmp": str(tmp_path), "session": str(session_file)}
    code, out, err = run_in_process([arg.format(**values) for arg in argv], capsys)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("netbench: error: " + message.format(**values))
    assert_inert(err)


def test_missing_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["session"])
    assert exited.value.code == 2
    assert "usage:" in capsys.readouterr().err


def _run(module: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def _has_main_entry_point() -> bool:
    spec = importlib.util.find_spec("netbench.cli")
    if spec is None or spec.origin is None:  # a namespace package: no __init__.py yet
        return False
    return "def main" in Path(spec.origin).read_text()


MODULES = [
    pytest.param(["netbench.cli.session"], id="session-module"),
    pytest.param(
        ["netbench", "session"],
        id="netbench",
        marks=pytest.mark.skipif(
            not _has_main_entry_point(), reason="netbench.cli.main not written yet"
        ),
    ),
]


@pytest.mark.parametrize("command", MODULES)
def test_subprocess_output_is_escaped(session_file: Path, command: list[str]) -> None:
    result = _run(*command, "show", str(session_file), "--conn", "1")
    assert result.returncode == 0, result.stderr
    assert b"\x1b" not in result.stdout
    assert b"\x07" not in result.stdout
    assert b"\xc2\x9b" not in result.stdout
    text = result.stdout.decode("utf-8")
    assert_inert(text)
    assert "␛]0;pwned␇" in text


@pytest.mark.parametrize("command", MODULES)
def test_subprocess_error_has_no_traceback(tmp_path: Path, command: list[str]) -> None:
    result = _run(*command, "show", str(tmp_path / "missing.sqlite"))
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.decode().splitlines() == [
        f"netbench: error: no such session file: {tmp_path / 'missing.sqlite'}"
    ]


def test_show_summarises_each_connection_by_its_first_exchange_and_aligns_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The table is measured in one pass and printed in a second, holding no
    # connection or exchange list: its lines must still line up, and each
    # connection's HTTP cell must name its first exchange by position on the
    # connection (not by id), with how many more it carried.
    t0 = time.monotonic()
    events: list[Event] = [ServerStarted(1, "http", Transport.TCP, SERVER, t0)]

    def request(target: bytes) -> HttpRequest:
        return HttpRequest(b"GET", target, "1.1", ((b"Host", b"x"),), b"", 0)

    for conn_id in (1, 2, 3, 123456):
        peer = Endpoint("127.0.0.1", 50000 + conn_id % 1000)
        events.append(ConnectionOpened(conn_id, 1, Role.SERVER, Transport.TCP, SERVER, peer, t0))
    # Connection 1: three requests, recorded out of their order on the wire.
    for exchange_id, index, target in ((10, 2, b"/third"), (11, 0, b"/first"), (12, 1, b"/2nd")):
        events.append(HttpRequestRecorded(exchange_id, 1, index, request(target), 0, 0, t0, t0))
    events.append(HttpRequestRecorded(13, 123456, 0, request(b"/only"), 0, 0, t0, t0))
    code, err, lines = shown_connections(tmp_path / "many.netbench.sqlite", events, capsys)
    assert (code, err) == (0, "")
    assert [line.split()[0] for line in lines] == ["ID", "1", "2", "3", "123456"]
    by_id = {line.split()[0]: line for line in lines}
    assert by_id["1"].endswith("GET /first HTTP/1.1 (+2 more)")
    assert by_id["123456"].endswith("GET /only HTTP/1.1")
    assert by_id["2"].rstrip().endswith("-") and "GET" not in by_id["2"]
    # Every column starts where its title does, on every line.
    for title in ("ROLE", "PEER -> LOCAL", "OPENED", "HTTP"):
        column = lines[0].index(title)
        for line in lines[1:]:
            if title == "HTTP" and "GET" not in line:
                continue
            assert line[column - 2 : column] == "  " and line[column] != " ", (title, line)


def test_show_says_no_response_where_no_byte_came_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `serve` prints it: `???` read as bytes that were not a response."""
    t0 = time.monotonic()
    silent = HttpResponse(None, b"", "", (), b"", 0, error="the upstream reset the connection")
    garbled = HttpResponse(None, b"", "", (), b"", 0, error="invalid response head")
    request = HttpRequest(b"GET", b"/", "1.1", ((b"Host", b"x"),), b"", 0)
    events: list[Event] = [ServerStarted(1, "http", Transport.TCP, SERVER, t0)]
    for conn_id, response, first in ((1, silent, -1), (2, garbled, 1)):
        events += [
            ConnectionOpened(conn_id, 1, Role.SERVER, Transport.TCP, SERVER, PEER, t0),
            HttpRequestRecorded(conn_id, conn_id, 0, request, 0, 0, t0, t0),
            HttpResponseRecorded(conn_id, conn_id, response, first, first, t0, t0),
        ]
    code, _err, lines = shown_connections(tmp_path / "r.netbench.sqlite", events, capsys)
    rows = {line.split()[0]: line for line in lines}
    assert code == 0
    assert rows["1"].endswith("GET / HTTP/1.1 -> no response [the upstream reset the connection]")
    assert rows["2"].endswith("GET / HTTP/1.1 -> ??? [invalid response head]")
