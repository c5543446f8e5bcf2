"""Copy as curl (and the other shell forms): inert text, and a shell hands the exact bytes over.

The round-trip tests run the command with `sh -c` (and bash, zsh) and
stand-ins for `curl`, `http` and `nc` that record their arguments and
stdin, so they check what the shell really passes. tests/cli/test_copy_as_cli.py
runs the real tools against a real server.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netbench.protocol.curl import curl_export
from netbench.protocol.httpie import httpie_export
from netbench.protocol.nc import nc_export
from netbench.protocol.textsafe import visible_text
from netbench.protocol.wire_request import BODY_INLINE_LIMIT, split_request

SERVER = "127.0.0.1:8000"
BASE = f"http://{SERVER}"
H = b"Host: 127.0.0.1:8000\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"


def curl(raw: bytes, body_file: str = "/tmp/b.body") -> str:
    return curl_export(split_request(raw), SERVER, body_file).text


@pytest.mark.parametrize(
    ("raw", "command"),
    [
        (
            b"GET / HTTP/1.1\r\n" + H + b"\r\n",
            "curl -H 'Host: 127.0.0.1:8000'"
            " -H 'User-Agent: curl/7.88.1' -H 'Accept: */*' http://127.0.0.1:8000/",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 13\r\n\r\nfirstname=Ann",
            "curl -H 'Host: h' -H 'Content-Type: application/x-www-form-urlencoded'"
            " -H 'Content-Length: 13' -H User-Agent: -H Accept: --data-binary firstname=Ann"
            " http://127.0.0.1:8000/",
        ),
        (
            b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
            "curl --head -H 'Host: h' -H User-Agent: -H Accept: http://127.0.0.1:8000/",
        ),
        (
            b"DELETE /x HTTP/1.1\r\n\r\n",
            "curl -X DELETE -H Host: -H User-Agent: -H Accept: http://127.0.0.1:8000/x",
        ),
        (
            b"GET / HTTP/1.0\r\n\r\n",
            "curl --http1.0 -H Host: -H User-Agent: -H Accept: http://127.0.0.1:8000/",
        ),
        (
            b"GET /a/../b HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nx-Sp:  a  \r\nX-No:v\r\n\r\n",
            "curl --path-as-is -H 'Host: h' -H 'X-Empty;' -H 'x-Sp:  a  ' -H X-No:v"
            " -H User-Agent: -H Accept: http://127.0.0.1:8000/a/../b",
        ),
        (
            b"GET /[x]{y} HTTP/1.1\r\nHost: h\r\n\r\n",
            "curl --globoff -H 'Host: h' -H User-Agent: -H Accept: 'http://127.0.0.1:8000/[x]{y}'",
        ),
        (
            b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            "curl --request-target '*' -X OPTIONS"
            " -H 'Host: h' -H User-Agent: -H Accept: http://127.0.0.1:8000/",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n@f",
            "printf @f | curl -H 'Host: h' -H 'Content-Length: 2' -H User-Agent: -H Accept:"
            " -H Content-Type: --data-binary @- http://127.0.0.1:8000/",
        ),
        (
            b"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "curl --request-target http://example.com/x -H 'Host: example.com' -H User-Agent:"
            " -H Accept: http://127.0.0.1:8000/",
        ),
    ],
)
def test_command(raw: bytes, command: str) -> None:
    assert curl(raw) == command


def test_content_length_stays_where_it_stood_and_curl_adds_nothing() -> None:
    # Issue 15: curl's own Content-Length came after Content-Type; now the
    # recorded one is passed in place and curl sends no other.
    raw = b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Type: a/b\r\n\r\nabc"
    command = curl(raw)
    assert command.index("Content-Length: 3") < command.index("Content-Type: a/b")


def test_a_long_body_is_read_from_the_body_file() -> None:
    body = b"x" * (BODY_INLINE_LIMIT + 1)
    raw = b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 4097\r\n\r\n" + body
    export = curl_export(split_request(raw), SERVER, "/tmp/bodies/exchange 1.body")
    assert export.text.endswith(
        "--data-binary '@/tmp/bodies/exchange 1.body' http://127.0.0.1:8000/"
    )
    assert export.body == body
    assert len(export.text) < 300


@pytest.mark.parametrize(
    ("raw", "caveat"),
    [
        (b"GET / HTTP/1.1\nHost: h\n\n", "bare LF"),
        (b"GET / HTTP/1.1\r\nX-A: b\r\nhost: h\r\n\r\n", "first and spelled `Host`"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX-E:  \r\n\r\n", "without its whitespace"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX-Nul: 1\x002\r\n\r\n", "NUL bytes in the header X-Nul"),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "own chunk sizes",
        ),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", "said 2.0"),
    ],
)
def test_what_curl_cannot_send_is_said(raw: bytes, caveat: str) -> None:
    caveats = curl_export(split_request(raw), SERVER, "/tmp/b").caveats
    assert any(caveat in line for line in caveats), caveats
    clean = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    assert curl_export(split_request(clean), SERVER, "/tmp/b").caveats == ()


def test_a_chunked_body_is_given_to_curl_unframed() -> None:
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    assert "--data-binary abc" in curl(raw)


@pytest.fixture
def stand_ins(tmp_path: Path) -> Path:
    """`curl`, `http` and `nc` on PATH that write their argv (hex) and stdin (hex) as JSON."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("curl", "http", "nc"):
        script = bin_dir / name
        script.write_text(
            f"#!{sys.executable}\n"
            "import json, os, sys\n"
            "reads = '@-' in sys.argv or sys.argv[0].endswith('nc') or not sys.stdin.isatty()\n"
            "stdin = sys.stdin.buffer.read() if reads else b''\n"
            "args = [os.fsencode(a).hex() for a in sys.argv[1:]]\n"
            "with open(os.environ['TOOL_OUT'], 'w') as f:\n"
            "    json.dump({'args': args, 'stdin': stdin.hex()}, f)\n"
        )
        script.chmod(0o755)
    return tmp_path


def run_in_shell(command: str, where: Path, shell: str = "sh") -> tuple[list[bytes], bytes]:
    out = where / "out.json"
    env = {
        **os.environ,
        "PATH": f"{where / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "TOOL_OUT": str(out),
    }
    subprocess.run(
        [shell, "-c", command], env=env, check=True, timeout=10, stdin=subprocess.DEVNULL, cwd=where
    )
    result = json.loads(out.read_text())
    return [bytes.fromhex(arg) for arg in result["args"]], bytes.fromhex(result["stdin"])


HOSTILE = [
    b"PUT /p?q='$(touch pwned)'&r=`id` HTTP/1.1\r\nHost: h\r\n"
    b"X-Evil: \x1b]0;pwned\x07 $HOME \"'\\ %s `touch pwned`\r\nX-Bin: \xe9\x80\xff\r\n"
    b"Content-Length: 21\r\n\r\n-n \x00\xfe\n%d\\' $(id) \r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\n"
    b"line one\r\nline two\n",
    b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n@/etc/passwd",
    b"GET / HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n b $(touch pwned) `touch pwned`\r\n\r\n",
]

SHELLS = [shell for shell in ("sh", "bash", "zsh") if shutil.which(shell)]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("raw", HOSTILE)
def test_the_shell_passes_the_exact_bytes_to_curl(raw: bytes, shell: str, stand_ins: Path) -> None:
    wire = split_request(raw)
    command = curl(raw)
    assert visible_text(command) == command
    args, stdin = run_in_shell(command, stand_ins, shell)
    headers = [args[i + 1] for i, arg in enumerate(args) if arg == b"-H"]
    expected = [name + (b":" + value if value.strip() else b";") for name, value in wire.headers]
    assert headers[: len(wire.headers)] == expected
    if wire.target.startswith(b"/") and wire.target.isascii():
        assert args[-1] == BASE.encode() + wire.target
    else:
        assert args[args.index(b"--request-target") + 1] == wire.target
    if wire.body:
        data = args[args.index(b"--data-binary") + 1]
        assert (stdin if data == b"@-" else data) == wire.body
    assert not (stand_ins / "pwned").exists()


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("raw", HOSTILE)
def test_the_shell_passes_the_exact_bytes_to_nc(raw: bytes, shell: str, stand_ins: Path) -> None:
    command = nc_export(split_request(raw), SERVER, "/tmp/b").text
    assert visible_text(command) == command
    args, stdin = run_in_shell(command, stand_ins, shell)
    assert args == [b"127.0.0.1", b"8000"]
    assert stdin == raw
    assert not (stand_ins / "pwned").exists()


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("raw", HOSTILE)
def test_the_shell_passes_the_fields_to_httpie(raw: bytes, shell: str, stand_ins: Path) -> None:
    wire = split_request(raw)
    export = httpie_export(wire, SERVER, str(stand_ins / "b.body"))
    assert visible_text(export.text) == export.text
    if export.body is not None:
        (stand_ins / "b.body").write_bytes(export.body)
    args, stdin = run_in_shell(export.text, stand_ins, shell)
    for name, value in wire.headers:
        stripped = value.strip()
        item = name + (
            b":" + (b"\\" if stripped[:1] in (b"=", b"@") else b"") + stripped if stripped else b";"
        )
        assert item.replace(b"\0", b"") in args
    body = args[args.index(b"--raw") + 1] if b"--raw" in args else stdin
    assert body == wire.body
    assert not (stand_ins / "pwned").exists()


# A field value never holds CR or LF (the parser ends the line there).
_header_bytes = st.binary(min_size=1, max_size=20).filter(
    lambda b: not set(b) & {0, 10, 13} and b.strip(b" \t") != b""
)


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_header_bytes, body=st.binary(min_size=1, max_size=40))
def test_any_bytes_round_trip(value: bytes, body: bytes, stand_ins: Path) -> None:
    raw = (
        b"POST / HTTP/1.1\r\nHost: h\r\nX-Any:" + value + b"\r\nContent-Type: x/y\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    command = curl(raw)
    assert visible_text(command) == command
    args, stdin = run_in_shell(command, stand_ins)
    assert args[args.index(b"-H") + 3] == b"X-Any:" + value
    data = args[args.index(b"--data-binary") + 1]
    assert (stdin if data == b"@-" else data) == body
    args, stdin = run_in_shell(nc_export(split_request(raw), SERVER, "/x").text, stand_ins)
    assert stdin == raw


def test_a_recorded_word_is_never_an_option_of_httpie(tmp_path: Path) -> None:
    """A method `-o FILE` made the HTTPie line write the response over FILE;
    a header named `-oPWN` wrote ./PWN: each is now a word of the request."""
    victim = tmp_path / "victim.txt"
    victim.write_text("ORIGINAL")
    raw = b"-o" + bytes(victim) + b" / HTTP/1.1\r\nHost: h\r\n-oPWN: y\r\n\r\n"
    export = httpie_export(split_request(raw), SERVER, str(tmp_path / "b.body"))
    assert any(c.startswith("HTTPie sends only methods of letters: GET") for c in export.caveats)
    real = f"{shlex.quote(sys.executable)} -m httpie --offline"  # prints, sends nothing
    command = export.text.replace("http ", real + " ", 1)
    shown = subprocess.run(
        ["sh", "-c", command], cwd=tmp_path, capture_output=True, timeout=30, check=True
    ).stdout
    assert victim.read_text() == "ORIGINAL"
    assert not list(tmp_path.glob("PWN*"))
    assert shown.startswith(b"GET / HTTP/1.1")
    assert b"-oPWN: y" in shown
