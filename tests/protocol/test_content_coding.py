from __future__ import annotations

import base64
import gzip
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

import brotli
import pytest
from backports import zstd

from netbench.model import Headers
from netbench.protocol.content_coding import (
    DECODED_LIMIT,
    CodingStep,
    DecodedContent,
    undo_content_coding,
)

JSON = b'{"a":1,"a":2,"n":1e2,"s":"caf\\u00e9"}' * 40
ROOT = Path(__file__).resolve().parents[2]


def coded(*values: str) -> Headers:
    return tuple((b"Content-Encoding", value.encode()) for value in values)


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def zstd_frame(data: bytes, window_log: int | None = None) -> bytes:
    if window_log is None:
        return zstd.compress(data)
    return zstd.compress(data, options={zstd.CompressionParameter.window_log: window_log})


@pytest.mark.parametrize(
    ("headers", "body", "steps"),
    [
        pytest.param(coded("gzip"), gzip.compress(JSON), ["gzip"], id="gzip"),
        pytest.param(coded("x-gzip"), gzip.compress(JSON), ["x-gzip"], id="x-gzip"),
        pytest.param(coded(" GZip "), gzip.compress(JSON), ["gzip"], id="any-case"),
        pytest.param(coded("deflate"), zlib.compress(JSON), ["deflate"], id="deflate-zlib"),
        pytest.param(coded("br"), brotli.compress(JSON), ["br"], id="br"),
        pytest.param(coded("zstd"), zstd_frame(JSON), ["zstd"], id="zstd"),
        pytest.param(
            coded("gzip, br"), brotli.compress(gzip.compress(JSON)), ["br", "gzip"], id="gzip-br"
        ),
        pytest.param(
            coded("deflate", "zstd"),
            zstd_frame(zlib.compress(JSON)),
            ["zstd", "deflate"],
            id="two-fields",
        ),
        pytest.param(coded("identity, gzip"), gzip.compress(JSON), ["gzip"], id="identity-skipped"),
    ],
)
def test_codings_are_undone_last_applied_first(
    headers: Headers, body: bytes, steps: list[str]
) -> None:
    decoded = undo_content_coding(headers, body)
    assert decoded.body == JSON
    assert [step.coding for step in decoded.steps] == steps
    assert decoded.steps[0].size_in == len(body)
    assert decoded.steps[-1].size_out == len(JSON)
    assert decoded.error is None
    assert not decoded.cut


def test_step_says_sizes_before_and_after() -> None:
    decoded = undo_content_coding(coded("gzip"), gzip.compress(JSON))
    assert decoded.steps[0].describe() == f"gzip: {len(gzip.compress(JSON)):,} B -> 1,480 B"


@pytest.mark.parametrize("header", [None, "identity", "", " , "])
def test_nothing_to_undo(header: str | None) -> None:
    headers = () if header is None else coded(header)
    assert undo_content_coding(headers, JSON) == DecodedContent(JSON)


def test_raw_deflate_is_read_and_named() -> None:
    decoded = undo_content_coding(coded("deflate"), raw_deflate(JSON))
    assert decoded.body == JSON
    assert decoded.steps[0].notes == ("raw deflate, without the zlib wrapper",)


def test_raw_deflate_that_looks_like_zlib() -> None:
    # A stored block of 29 bytes whose ignored padding bits are set: its first
    # two bytes, 08 1d, pass zlib's header check (method 8, a multiple of 31).
    head = JSON[:29]
    body = b"\x08\x1d\x00\xe2\xff" + head + raw_deflate(JSON[29:])
    assert zlib.decompressobj(wbits=-zlib.MAX_WBITS).decompress(body) == JSON
    decoded = undo_content_coding(coded("deflate"), body)
    assert decoded.body == JSON
    assert decoded.steps[0].notes == ("raw deflate, without the zlib wrapper",)


@pytest.mark.parametrize(
    ("coding", "bomb"),
    [
        ("gzip", lambda data: gzip.compress(data, 9)),
        ("deflate", lambda data: zlib.compress(data, 9)),
        ("br", brotli.compress),
        ("zstd", zstd.compress),
    ],
)
def test_bombs_are_cut_at_the_limit(coding: str, bomb: object) -> None:
    body = bomb(b"\0" * (8 * 1024 * 1024))  # type: ignore[operator]
    decoded = undo_content_coding(coded(coding), body, limit=1024 * 1024)
    assert decoded.body == b"\0" * (1024 * 1024)
    assert decoded.cut
    assert decoded.steps[0].describe() == f"{coding}: {len(body):,} B -> 1,048,576 B; cut at 1 MiB"


def test_default_limit_is_ten_mib() -> None:
    body = brotli.compress(b"\0" * (64 * 1024 * 1024))  # 64 MiB in well under 1 KiB
    assert len(body) < 1024
    decoded = undo_content_coding(coded("br"), body)
    assert len(decoded.body) == DECODED_LIMIT == 10 * 1024 * 1024
    assert decoded.steps[0].notes == ("cut at 10 MiB",)


def test_each_stacked_coding_is_limited() -> None:
    inner = gzip.compress(b"\0" * (4 * 1024 * 1024), 9)
    decoded = undo_content_coding(coded("gzip, br"), brotli.compress(inner), limit=1024 * 1024)
    assert len(decoded.body) == 1024 * 1024
    assert decoded.cut
    assert [step.notes for step in decoded.steps] == [(), ("cut at 1 MiB",)]


# Brotli emits nothing until a whole meta-block is decoded: a cut stream
# yields bytes only once it holds one, so its body is larger and less regular.
LONG_TEXT = base64.b64encode(random.Random(7).randbytes(300_000))


@pytest.mark.parametrize(
    ("coding", "plain", "body"),
    [
        ("gzip", JSON, gzip.compress(JSON)),
        ("deflate", JSON, zlib.compress(JSON)),
        ("br", LONG_TEXT, brotli.compress(LONG_TEXT)),
        ("zstd", LONG_TEXT, zstd_frame(LONG_TEXT)),
    ],
)
def test_a_cut_recording_yields_what_it_held(coding: str, plain: bytes, body: bytes) -> None:
    # The HTTP parser keeps the first 1 MiB of a body: the stream stops mid-way.
    decoded = undo_content_coding(coded(coding), body[: len(body) * 2 // 3])
    assert decoded.body and plain.startswith(decoded.body)
    assert decoded.steps[0].notes == ("the data ends mid-stream",)
    assert decoded.error is None


@pytest.mark.parametrize(
    ("coding", "body", "error"),
    [
        ("br", brotli.compress(JSON), "br: not brotli data, or cut before anything decodes"),
        ("zstd", zstd_frame(JSON), "zstd: cut before anything decodes"),
        ("gzip", gzip.compress(JSON), "gzip: cut before anything decodes"),
    ],
)
def test_a_stream_cut_before_anything_decodes_is_shown_as_sent(
    coding: str, body: bytes, error: str
) -> None:
    # An empty decoded body would hide the bytes that were sent.
    cut = body[:10]  # a gzip header is 10 bytes
    assert undo_content_coding(coded(coding), cut) == DecodedContent(
        cut, error=f"{error}; shown as sent"
    )


def test_gzip_members_and_trailing_bytes() -> None:
    two = gzip.compress(JSON) + gzip.compress(b"more")
    assert undo_content_coding(coded("gzip"), two).body == JSON + b"more"
    decoded = undo_content_coding(coded("gzip"), gzip.compress(JSON) + b"\r\n")
    assert decoded.body == JSON
    assert decoded.steps[0].notes == ("2 B after the end of the gzip data ignored",)


def test_zstd_frames_and_trailing_bytes() -> None:
    two = zstd_frame(JSON) + zstd_frame(b"more")
    assert undo_content_coding(coded("zstd"), two).body == JSON + b"more"
    decoded = undo_content_coding(coded("zstd"), zstd_frame(JSON) + b"junkjunk")
    assert decoded.body == JSON
    assert decoded.steps[0].notes[0].startswith("invalid data after ")


def test_zstd_window_over_8_mib_is_refused() -> None:
    # RFC 9659: a zstd content coding uses a window of at most 8 MiB.
    body = zstd_frame(os.urandom(9 * 1024 * 1024), window_log=24)
    decoded = undo_content_coding(coded("zstd"), body)
    assert decoded.body == body
    assert decoded.error == (
        "zstd: not zstd data (its window is over the 8 MiB that HTTP allows (RFC 9659));"
        " shown as sent"
    )
    assert undo_content_coding(coded("zstd"), zstd_frame(JSON, window_log=23)).body == JSON


@pytest.mark.parametrize(
    ("headers", "body", "error"),
    [
        (coded("gzip"), JSON, "gzip: not gzip data (incorrect header check); shown as sent"),
        (coded("deflate"), JSON, "deflate: neither zlib nor raw deflate data; shown as sent"),
        (coded("br"), b"\xff" * 40, "br: not brotli data; shown as sent"),
        (coded("zstd"), JSON, "zstd: not zstd data (Unknown frame descriptor); shown as sent"),
        # Brotli has no magic number. A gzip header with mtime 0 is refused at
        # once; one with this mtime parses as a brotli prefix that yields nothing.
        (coded("gzip, br"), gzip.compress(JSON, mtime=0), "br: not brotli data; shown as sent"),
        (
            coded("gzip, br"),
            gzip.compress(JSON, mtime=139999987),
            "br: not brotli data, or cut before anything decodes; shown as sent",
        ),
        (coded("compress"), JSON, "compress: compress (LZW) is not supported; shown as sent"),
        (coded("snappy"), JSON, "snappy: unknown content coding; shown as sent"),
        (
            coded("gzip, gzip, gzip, gzip, gzip"),
            JSON,
            "5 content codings: more than 4, not undone",
        ),
    ],
)
def test_undecodable_bodies_stay_as_sent_and_say_why(
    headers: Headers, body: bytes, error: str
) -> None:
    assert undo_content_coding(headers, body) == DecodedContent(body, error=error)


def test_step_description() -> None:
    step = CodingStep("br", 1234, 5678, ("the data ends mid-stream",))
    assert step.describe() == "br: 1,234 B -> 5,678 B; the data ends mid-stream"


def test_without_the_packages_br_and_zstd_say_what_to_install(tmp_path: Path) -> None:
    """A real interpreter without site-packages: no brotli, no backports.zstd."""
    code = (
        "from netbench.protocol.content_coding import undo_content_coding as undo\n"
        "for coding in ('br', 'zstd'):\n"
        "    print(undo(((b'Content-Encoding', coding.encode()),), b'x').error)\n"
        "print(undo(((b'Content-Encoding', b'gzip'),), __import__('gzip').compress(b'ok')).body)\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert result.stdout.splitlines() == [
        "br: needs the brotli package (pip install 'brotli>=1.2'); shown as sent",
        "zstd: needs the backports.zstd package (pip install backports.zstd); shown as sent",
        "b'ok'",
    ]


def test_decoders_are_imported_only_when_needed() -> None:
    code = (
        "import sys\n"
        "import netbench.protocol.content_coding\n"
        "print(sorted({'brotli', 'backports.zstd'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"
