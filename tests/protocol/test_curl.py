"""Copy as curl: the command is inert text, and a shell hands curl the exact bytes.

The round-trip tests run the command with `sh -c` and a stand-in `curl` that
records its arguments and stdin, so they check what the shell really passes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netbench.model import HttpRequest
from netbench.protocol.curl import curl_caveats, curl_command
from netbench.protocol.textsafe import visible_text

BASE = "http://127.0.0.1:8000"


def request(
    method: bytes = b"GET",
    target: bytes = b"/",
    headers: tuple[tuple[bytes, bytes], ...] = ((b"Host", b"127.0.0.1:8000"),),
    body: bytes = b"",
    version: str = "1.1",
) -> HttpRequest:
    return HttpRequest(method, target, version, headers, body, len(body))


@pytest.mark.parametrize(
    ("req", "command"),
    [
        (request(), "curl -H 'Host: 127.0.0.1:8000' http://127.0.0.1:8000/"),
        (
            request(
                b"POST",
                headers=((b"Content-Type", b"application/x-www-form-urlencoded"),),
                body=b"firstname=Ann",
            ),
            "curl -H 'Content-Type: application/x-www-form-urlencoded'"
            " --data-binary firstname=Ann http://127.0.0.1:8000/",
        ),
        (request(b"HEAD", headers=()), "curl --head http://127.0.0.1:8000/"),
        (request(b"DELETE", b"/x", headers=()), "curl -X DELETE http://127.0.0.1:8000/x"),
        (request(version="1.0", headers=()), "curl --http1.0 http://127.0.0.1:8000/"),
        (
            request(target=b"/a/../b", headers=((b"X-Empty", b""),)),
            "curl --path-as-is -H 'X-Empty;' http://127.0.0.1:8000/a/../b",
        ),
        (
            request(target=b"/[bold]x[/]", headers=()),
            "curl --globoff 'http://127.0.0.1:8000/[bold]x[/]'",
        ),
        (
            request(b"OPTIONS", b"*", headers=()),
            "curl --request-target '*' -X OPTIONS http://127.0.0.1:8000/",
        ),
        (
            request(b"POST", headers=((b"Content-Length", b"2"),), body=b"@f"),
            "printf @f | curl -H Content-Type: --data-binary @- http://127.0.0.1:8000/",
        ),
        (
            request(target=b"http://example.com/x", headers=()),
            "curl http://example.com/x",
        ),
    ],
)
def test_command(req: HttpRequest, command: str) -> None:
    assert curl_command(req, BASE) == command


def test_what_argv_cannot_carry_is_said() -> None:
    req = request(target=b"/a\x00b", headers=((b"X-Nul", b"1\x002"),), body=b"abc")
    req = req._replace(body_len=10, body_truncated=True)
    assert "-H 'X-Nul: 12'" in curl_command(req, BASE)
    assert curl_caveats(req) == [
        "NUL bytes in the target are left out (a command line cannot hold them)",
        "NUL bytes in the header X-Nul are left out (a command line cannot hold them)",
        "the body was cut in the recording: 3 of 10 bytes are sent",
    ]
    assert curl_caveats(request()) == []


def test_control_bytes_are_escaped_not_pasted() -> None:
    req = request(
        target=b"/\x1b]0;pwned\x07",
        headers=((b"X-Evil", b"\x1b[2J\r\nInjected: yes"), (b"X-Bidi", "a\u202eb".encode())),
        body=b"\x00\xff\r\n",
    )
    command = curl_command(req, BASE)
    assert visible_text(command) == command
    assert "\\033]0;pwned\\007" in command


@pytest.fixture
def fake_curl(tmp_path: Path) -> Path:
    """A `curl` on PATH that writes its argv (hex) and stdin (hex) as JSON."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "curl"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "stdin = sys.stdin.buffer.read() if '@-' in sys.argv else b''\n"
        "args = [os.fsencode(a).hex() for a in sys.argv[1:]]\n"
        "with open(os.environ['CURL_OUT'], 'w') as f:\n"
        "    json.dump({'args': args, 'stdin': stdin.hex()}, f)\n"
    )
    script.chmod(0o755)
    return tmp_path


def run_in_shell(command: str, where: Path, shell: str = "sh") -> tuple[list[bytes], bytes]:
    out = where / "out.json"
    env = {
        **os.environ,
        "PATH": f"{where / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "CURL_OUT": str(out),
    }
    subprocess.run(
        [shell, "-c", command], env=env, check=True, timeout=10, stdin=subprocess.DEVNULL
    )
    result = json.loads(out.read_text())
    return [bytes.fromhex(arg) for arg in result["args"]], bytes.fromhex(result["stdin"])


def expected_header(name: bytes, value: bytes) -> bytes:
    return name + (b": " + value if value else b";")


HOSTILE = [
    request(
        b"PUT",
        b"/p?q='$(touch pwned)'&r=`id`",
        ((b"X-Evil", b"\x1b]0;pwned\x07 $HOME \"'\\ %s"), (b"X-Bin", b"\xe9\x80\xff")),
        b"-n \x00\xfe\n%d\\' $(id)",
    ),
    request(b"POST", b"/", ((b"Content-Type", b"text/plain"),), b"line one\r\nline two\n"),
    request(b"GET", b"/caf\xc3\xa9", ((b"X-Empty", b""),), b"@/etc/passwd"),
]


SHELLS = [shell for shell in ("sh", "bash", "zsh") if shutil.which(shell)]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("req", HOSTILE)
def test_the_shell_passes_the_exact_bytes(req: HttpRequest, shell: str, fake_curl: Path) -> None:
    args, stdin = run_in_shell(curl_command(req, BASE), fake_curl, shell)
    headers = [args[i + 1] for i, arg in enumerate(args) if arg == b"-H"]
    assert headers[: len(req.headers)] == [expected_header(n, v) for n, v in req.headers]
    assert args[-1] == BASE.encode() + req.target
    data = args[args.index(b"--data-binary") + 1]
    assert (stdin if data == b"@-" else data) == req.body
    assert not (fake_curl / "pwned").exists()


# A field value never holds CR or LF (the parser ends the line there).
_header_bytes = st.binary(min_size=1, max_size=20).filter(lambda b: not set(b) & {0, 10, 13})


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_header_bytes, body=st.binary(min_size=1, max_size=40))
def test_any_bytes_round_trip(value: bytes, body: bytes, fake_curl: Path) -> None:
    req = request(b"POST", b"/", ((b"X-Any", value), (b"Content-Type", b"x/y")), body)
    command = curl_command(req, BASE)
    assert visible_text(command) == command
    args, stdin = run_in_shell(command, fake_curl)
    assert args[args.index(b"-H") + 1] == b"X-Any: " + value
    data = args[args.index(b"--data-binary") + 1]
    assert (stdin if data == b"@-" else data) == body
