"""A real browser against `netbench serve http`: the seed page and its picture.

Headless Chromium loads the page, which makes it fetch /test.jpg; the session
must then hold both exchanges, and the picture as recorded must be a whole,
valid JPEG (what the browser got is what the file says it got).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from netbench.engine.engine import load_test_jpeg
from netbench.model import Direction
from netbench.protocol.images import describe_image, is_complete_jpeg
from netbench.protocol.responses import split_head
from netbench.store import SessionReader

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium or chromium-browser binary on PATH"),
]

BROWSER_TIMEOUT = 60.0


def run_chromium(url: str, profile: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            f"--user-data-dir={profile}",
            *mode,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def is_image_exchange(event: dict[str, object]) -> bool:
    return event["event"] == "exchange" and event["path"] == "/test.jpg"


def test_chromium_renders_the_page_and_the_session_holds_the_whole_picture(
    start_serve, tmp_path: Path
) -> None:
    server = start_serve("http")

    dump = run_chromium(server.url, tmp_path / "profile-dump", "--dump-dom")
    assert dump.returncode == 0, dump.stderr[-2000:]
    assert "Wow, Python Server" in dump.stdout

    # --dump-dom may print before the picture is fetched; a screenshot needs it drawn.
    if server.wait_for(is_image_exchange, timeout=5.0) is None:
        shot = tmp_path / "shot.png"
        rendered = run_chromium(
            server.url,
            tmp_path / "profile-shot",
            f"--screenshot={shot}",
            "--window-size=400,300",
        )
        assert rendered.returncode == 0, rendered.stderr[-2000:]
        assert shot.is_file()
        server.events(is_image_exchange, timeout=10.0)

    assert server.stop() == 0
    assert server.session is not None
    with SessionReader(server.session) as reader:
        exchanges = [
            e for e in reader.exchanges() if e.request is not None and e.response is not None
        ]
        served = {
            (e.request.method, e.request.target): e for e in exchanges if e.request is not None
        }
        assert (b"GET", b"/") in served
        assert (b"GET", b"/test.jpg") in served
        page, picture = served[(b"GET", b"/")], served[(b"GET", b"/test.jpg")]
        assert page.response is not None
        assert picture.response is not None
        assert (page.response.status, picture.response.status) == (200, 200)
        assert picture.response.header(b"content-type") == b"image/jpeg"
        assert picture.resp_first_chunk is not None
        assert picture.resp_last_chunk is not None
        wire = b"".join(
            chunk.data
            for chunk in reader.chunks(picture.conn_id)
            if chunk.direction is Direction.OUT
            and picture.resp_first_chunk <= chunk.seq <= picture.resp_last_chunk
        )

    body = picture.response.body
    assert not picture.response.body_truncated
    assert is_complete_jpeg(body)
    info = describe_image(body)
    assert info is not None
    assert info.mime == "image/jpeg"
    assert info.width is not None and info.width > 0
    assert info.height is not None and info.height > 0
    assert body == load_test_jpeg()
    # The bytes that went out on the socket carry that same picture after the head.
    _head, separator, wire_body = split_head(wire)
    assert separator == b"\r\n\r\n"
    assert wire_body == body


def test_chromium_loads_the_seed_page_through_the_reverse_proxy_and_both_legs_are_recorded(
    start_serve, tmp_path: Path
) -> None:
    """Seed 004's picture: the page server behind `serve proxy`, a browser in front."""
    page = start_serve("http", "--no-record")
    proxy = start_serve("proxy", "--upstream", f"127.0.0.1:{page.port}")
    shot = tmp_path / "shot.png"
    rendered = run_chromium(
        proxy.url, tmp_path / "profile", f"--screenshot={shot}", "--window-size=400,300"
    )
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    proxy.events(is_image_exchange, timeout=10.0)
    assert proxy.stop() == 0
    assert proxy.session is not None
    with SessionReader(proxy.session) as reader:
        connections = {conn.id: conn for conn in reader.connections()}
        answered = [e for e in reader.exchanges() if e.request and e.response]
        for target in (b"/", b"/test.jpg"):
            legs = [e for e in answered if e.request and e.request.target == target]
            client = [e for e in legs if connections[e.conn_id].via_conn_id is None]
            upstream = [e for e in legs if connections[e.conn_id].via_conn_id is not None]
            assert client and upstream, f"{target!r}: {len(client)} client, {len(upstream)} up"
            assert all(e.response and e.response.status == 200 for e in legs)
            assert {connections[e.conn_id].via_conn_id for e in upstream} <= {
                e.conn_id for e in client
            }
        picture = next(
            e for e in answered if e.request and e.request.target == b"/test.jpg"
        ).response
    assert picture is not None and picture.body == load_test_jpeg()
