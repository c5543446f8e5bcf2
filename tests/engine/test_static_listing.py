"""Static directory listings: built off the event loop, paged, and without links that 403."""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from netbench.engine.config import default_config
from netbench.engine.engine import Engine
from netbench.engine.listing import LISTING_PAGE

BIG = 50_000
"""Entries in the big directory (issue 19: one such listing held the loop ~0.4 s)."""


def _get(port: int, path: str, timeout: float) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _timed_get(port: int, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = _get(port, path, timeout=10)[0]
    return status, time.monotonic() - started


@pytest.fixture(scope="module")
def big_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """root/big/ with 50,000 empty files (bare os calls: ~1 s), root/small.txt."""
    root = tmp_path_factory.mktemp("listing") / "root"
    big = root / "big"
    big.mkdir(parents=True)
    (root / "small.txt").write_bytes(b"small\n")
    for n in range(BIG):
        os.close(os.open(f"{big}/f{n:05d}.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    yield root
    shutil.rmtree(big)  # pytest keeps the last runs' temp dirs: not 50,000 files each


async def test_big_listings_do_not_stall_other_clients(engine: Engine, big_root: Path) -> None:
    static = await engine.start_server(default_config("static", root=big_root))
    other = await engine.start_server(default_config("http"))
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=12) as pool:
        listings = [
            loop.run_in_executor(pool, _get, static.address.port, "/big/", 12.0) for _ in range(10)
        ]
        probes: list[tuple[str, int, float]] = []
        async with asyncio.timeout(15):
            while not all(listing.done() for listing in listings) or len(probes) < 4:
                for server, path in ((static, "/small.txt"), (other, "/")):
                    status, seconds = await loop.run_in_executor(
                        pool, _timed_get, server.address.port, path
                    )
                    probes.append((f"{server.config.kind} {path}", status, seconds))
            pages = await asyncio.gather(*listings)
    assert all(status == 200 for _what, status, _seconds in probes)
    slowest = max(probes, key=lambda probe: probe[2])
    # The acceptance bound: a listing flood stalled every client for seconds.
    assert slowest[2] < 0.1, f"{slowest[0]} took {slowest[2] * 1000:.0f} ms: {probes}"
    for status, _headers, body in pages:
        assert status == 200
        assert body.count(b"<li>") == LISTING_PAGE
        assert b"f00000.txt" in body and f"f{LISTING_PAGE:05d}.txt".encode() not in body
        assert f"{BIG - LISTING_PAGE:,} more entries".encode() in body
        assert b'href="?page=2"' in body


async def test_later_pages_and_pages_past_the_end(engine: Engine, big_root: Path) -> None:
    static = await engine.start_server(default_config("static", root=big_root))
    port = static.address.port
    last = -(-BIG // LISTING_PAGE)
    status, _headers, body = await asyncio.to_thread(_get, port, f"/big/?page={last}", 10.0)
    assert status == 200
    assert f"f{BIG - 1:05d}.txt".encode() in body and b"more entries" not in body
    assert f'href="?page={last - 1}"'.encode() in body
    names = re.findall(rb"<li><a href=\"([^\"]+)\">", body)
    assert names == sorted(names) and len(names) == BIG - (last - 1) * LISTING_PAGE
    for bad in (f"?page={last + 1}", "?page=0", "?page=x"):
        status, _headers, body = await asyncio.to_thread(_get, port, "/big/" + bad, 10.0)
        assert status == 404 and f"1 to {last}".encode() in body, bad


async def test_a_directory_redirect_keeps_the_query(engine: Engine, big_root: Path) -> None:
    static = await engine.start_server(default_config("static", root=big_root))
    status, headers, _body = await asyncio.to_thread(
        _get, static.address.port, "/big?page=2&x=%20y", 10.0
    )
    assert (status, headers["Location"]) == (301, "/big/?page=2&x=%20y")


@pytest.fixture
def linked_root(tmp_path: Path) -> Path:
    """root/ with a link inside it and two leading out of it (a file and a directory)."""
    root = tmp_path / "root"
    (root / "inner").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello\n")
    (tmp_path / "outside.txt").write_bytes(b"outside\n")
    (root / "inside-link.txt").symlink_to(root / "hello.txt")
    (root / "out-link.txt").symlink_to(tmp_path / "outside.txt")
    (root / "out-dir").symlink_to(tmp_path)
    return root


@pytest.mark.parametrize("follow", [False, True], ids=["default", "follow-symlinks"])
async def test_links_leading_out_are_listed_only_when_followed(
    engine: Engine, linked_root: Path, follow: bool
) -> None:
    static = await engine.start_server(
        default_config("static", root=linked_root, follow_symlinks=follow)
    )
    port = static.address.port
    status, _headers, body = await asyncio.to_thread(_get, port, "/", 10.0)
    assert status == 200
    assert b"hello.txt" in body and b"inside-link.txt" in body and b"inner/" in body
    assert (b"out-link.txt" in body) is follow
    assert (b"out-dir/" in body) is follow
    # What is listed is served; what is not listed is refused.
    expected = 200 if follow else 403
    assert (await asyncio.to_thread(_get, port, "/out-link.txt", 10.0))[0] == expected
