"""`netbench serve` runs on uvloop by default and on asyncio's own loop with `--loop asyncio`."""

from __future__ import annotations

import http.client

import pytest

IO_TIMEOUT = 5.0


def _get(address: tuple[str, int]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*address, timeout=IO_TIMEOUT)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("options", "loop"),
    [((), "uvloop"), (("--loop", "uvloop"), "uvloop"), (("--loop", "asyncio"), "asyncio")],
)
def test_the_listening_line_names_the_loop_that_serves(
    start_serve, options: tuple[str, ...], loop: str
) -> None:
    server = start_serve("http", "--no-capture", *options)
    assert server.listening["loop"] == loop
    status, body = _get(server.address)
    assert status == 200
    assert b"<title>" in body
    exchange = server.wait_for(lambda e: e["event"] == "exchange")
    assert exchange is not None
    assert exchange["status"] == 200
    assert server.stop() == 0


def test_an_unknown_loop_is_a_usage_error(run_netbench) -> None:
    result = run_netbench("serve", "http", "--loop", "trio")
    assert result.returncode == 2
    assert "--loop" in result.stderr


def test_without_uvloop_serve_falls_back_to_asyncio(
    start_serve, run_netbench, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A uvloop that cannot be imported, ahead of the installed one on sys.path.
    broken = tmp_path / "no-uvloop" / "uvloop"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('not on this machine')\n")
    monkeypatch.setenv("PYTHONPATH", str(broken.parent))
    server = start_serve("http", "--no-capture", "--no-record")
    assert server.listening["loop"] == "asyncio"
    assert _get(server.address)[0] == 200
    assert server.stop() == 0
    asked = run_netbench("serve", "http", "--port", "0", "--no-capture", "--loop", "uvloop")
    assert asked.returncode == 1
    assert asked.stderr.splitlines() == [
        "netbench: error: --loop uvloop: uvloop cannot be imported (not on this machine);"
        " install it, or use --loop asyncio"
    ]
    assert not list((tmp_path / "netbench-data").rglob("*.sqlite"))  # no empty session left
