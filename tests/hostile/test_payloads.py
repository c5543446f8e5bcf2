"""Non-UTF-8 bytes, escape sequences and markup are answered, recorded and printed inertly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
from payloads import CLOSE, HOST, PAYLOADS, carrying, in_a_header
from rawclient import only_response, talk


@pytest.mark.parametrize("path", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_a_hostile_path_header_and_body_are_answered(http_server, path: bytes) -> None:
    reply = talk(http_server.port, carrying(path))
    response = only_response(reply)
    assert response.status in (400, 404), response
    assert b"\x1b" not in reply.data and b"\xc2\x9b" not in reply.data  # nothing reflected raw


@pytest.mark.timeout(30)
def test_the_human_cli_output_shows_them_as_symbols(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`netbench serve http -v` prints every chunk: the terminal gets no control byte."""
    process = subprocess.Popen(
        [sys.executable, "-m", "netbench", "serve", "http", "--port", "0", "--no-capture",
         "-v", "--session", str(tmp_path / "cli.netbench.sqlite")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        port = int(re.search(rb"http://127\.0\.0\.1:(\d+)/", first).group(1))  # type: ignore[union-attr]
        for path in PAYLOADS.values():
            only_response(talk(port, b"GET " + path + b" HTTP/1.1\r\n" + HOST + CLOSE))
            talk(port, in_a_header(path))
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    printed = first + output
    assert "␛]0;pwned".encode() in printed and "␛[2J".encode() in printed
    assert b"[bold]x[/][@click=app.quit]" in printed
    for raw in (b"\x1b", b"\x07", b"\xc2\x9b", b"\x00", b"\x7f"):
        assert raw not in printed, raw
