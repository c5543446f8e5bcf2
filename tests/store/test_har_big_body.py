"""A 100 MB body goes into a HAR file in pieces, never held whole.

curl PUTs 100 MB to `netbench serve http`; the session keeps every byte in
its chunks and a parsed copy of the first 1 MiB. The export reads the body
again from the chunks and writes it as base64 as it goes: the memory it
allocates (tracemalloc's peak) stays a small fraction of the body, and the
body in the file is the one sent, byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import mmap
import shutil
import subprocess
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from netbench.store import SessionReader
from netbench.store.har import HarExport

CURL = shutil.which("curl")
SIZE = 100_000_000
PEAK_LIMIT = 16 * 1024 * 1024
"""Bytes the export may allocate at its peak: a few chunks and base64 pieces."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CURL is None, reason="curl is not installed"),
]


def write_body(path: Path) -> str:
    """100 MB of varied bytes (a repeating pattern would hide a misplaced piece); its SHA-256."""
    digest = hashlib.sha256()
    block = bytes(range(256)) * 4096
    with path.open("wb") as file:
        for index in range(SIZE // len(block) + 1):
            piece = (index.to_bytes(8, "big") + block)[: min(len(block), SIZE - file.tell())]
            file.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def base64_text_after(data: mmap.mmap, anchor: bytes) -> tuple[int, int]:
    """(start, end) of the JSON string value of the first `"text"` after `anchor`."""
    start = data.find(b'"text": "', data.find(anchor)) + len(b'"text": "')
    return start, data.find(b'"', start)


def test_a_100_mb_put_is_exported_in_pieces(start_serve: Any, tmp_path: Path) -> None:
    assert CURL is not None
    body = tmp_path / "body.bin"
    sent_digest = write_body(body)
    session = tmp_path / "big.netbench.sqlite"
    server = start_serve("http", "--session", str(session))
    upload = subprocess.run(
        [
            CURL,
            "--silent",
            "--max-time",
            "120",
            "-o",
            "/dev/null",
            "-T",
            str(body),
            f"{server.url}big",
        ],
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert upload.returncode == 0, upload.stderr
    assert server.stop() == 0
    body.unlink()

    out = tmp_path / "big.har"
    with SessionReader(session) as reader:
        tracemalloc.start()
        started = time.monotonic()
        export = HarExport(reader)
        export.save(out)
        took = time.monotonic() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert export.entries == 1 and export.streamed == 1
    assert peak < PEAK_LIMIT, f"the export allocated {peak:,} bytes at its peak"
    assert took < 120, f"the export took {took:.1f} s"

    with out.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start, end = base64_text_after(data, b'"postData"')
        assert end - start == (SIZE + 2) // 3 * 4
        digest = hashlib.sha256()
        step = 4 * 1024 * 1024  # a multiple of 4: base64 decodes piece by piece
        for at in range(start, end, step):
            digest.update(base64.b64decode(data[at : min(end, at + step)]))
        assert digest.hexdigest() == sent_digest
        note_at = data.find(b'"_bodyFromChunks"', end)
        assert data[note_at : note_at + 80].startswith(
            b'"_bodyFromChunks": {"bytes": 100000000, "complete": true}'
        )
