from __future__ import annotations

import importlib.resources
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netbench.protocol.images import ImageInfo, describe_image, is_complete_jpeg

ASSET = (importlib.resources.files("netbench") / "assets" / "test.jpg").read_bytes()

# Real 3x2 files written by Pillow (the WebP-with-alpha one is a VP8X container).
PNG_3X2 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000030000000208020000001216f14d0000001549444154789c"
    "633c2127c7c0c0c0c0c0c0c4000300132e01086ac065610000000049454e44ae426082"
)
GIF_3X2 = bytes.fromhex(
    "47494638376103000200810000c81e1e0000000000000000002c00000000030002000008060001081c1810003b"
)
WEBP_LOSSY_3X2 = bytes.fromhex(
    "524946463a00000057454250565038202e000000b001009d012a0300020001402625a00274ba00043000"
    "00fef1dc8ff80dd7c5b4cbffbd82ffdd82ffdd82ff5b0000"
)
WEBP_LOSSLESS_3X2 = bytes.fromhex(
    "524946461e000000574542505650384c110000002f0240000007508f22d7a3ff8188e87f0000"
)
WEBP_EXTENDED_3X2 = bytes.fromhex(
    "524946465c00000057454250565038580a00000010000000020000010000414c5048070000000080808080"
    "808000565038202e000000b001009d012a0300020001402625a00274ba0004300000fef1dc8ff80dd7c5"
    "b4cbffbd82ffdd82ffdd82ff5b0000"
)
BMP_3X2 = bytes.fromhex(
    "424d4e0000000000000036000000280000000300000002000000010018000000000018000000c40e0000c4"
    "0e000000000000000000001e1ec81e1ec81e1ec80000001e1ec81e1ec81e1ec8000000"
)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def sof(width: int, height: int, marker: int = 0xC0) -> bytes:
    components = b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return segment(marker, b"\x08" + struct.pack(">HH", height, width) + b"\x03" + components)


SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
APP0 = segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
SOS = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\x12\x34\xff\x00\x56"
# An Exif-style APP1 that carries a whole thumbnail JPEG, frame and all.
THUMBNAIL = SOI + sof(16, 8) + EOI
APP1_THUMB = segment(0xE1, b"Exif\x00\x00" + THUMBNAIL)


def bmp(header_size: int, dims: bytes) -> bytes:
    return b"BM" + b"\x00" * 12 + struct.pack("<I", header_size) + dims + b"\x00" * 40


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(ASSET, ("image/jpeg", 320, 200), id="asset"),
        pytest.param(PNG_3X2, ("image/png", 3, 2), id="png"),
        pytest.param(GIF_3X2, ("image/gif", 3, 2), id="gif87a"),
        pytest.param(b"GIF89a\x40\x01\xc8\x00", ("image/gif", 320, 200), id="gif89a"),
        pytest.param(WEBP_LOSSY_3X2, ("image/webp", 3, 2), id="webp-vp8"),
        pytest.param(WEBP_LOSSLESS_3X2, ("image/webp", 3, 2), id="webp-vp8l"),
        pytest.param(WEBP_EXTENDED_3X2, ("image/webp", 3, 2), id="webp-vp8x"),
        pytest.param(BMP_3X2, ("image/bmp", 3, 2), id="bmp"),
        pytest.param(
            bmp(40, struct.pack("<ii", 640, -480)), ("image/bmp", 640, 480), id="bmp-top-down"
        ),
        pytest.param(bmp(12, struct.pack("<HH", 64, 32)), ("image/bmp", 64, 32), id="bmp-core"),
        pytest.param(
            b"BM" + b"\x00" * 12 + struct.pack("<I", 124) + b"\x80\x02",
            ("image/bmp", None, None),
            id="bmp-truncated",
        ),
        pytest.param(
            SOI + APP0 + sof(640, 480) + SOS + EOI, ("image/jpeg", 640, 480), id="jpeg-baseline"
        ),
        pytest.param(
            SOI + sof(1024, 768, 0xC2) + SOS + EOI, ("image/jpeg", 1024, 768), id="progressive"
        ),
        pytest.param(
            SOI + APP1_THUMB + sof(320, 200) + EOI, ("image/jpeg", 320, 200), id="exif-thumbnail"
        ),
        pytest.param(
            SOI + b"\xff\xff\xff" + APP0 + b"\xff\xff" + sof(5, 6),
            ("image/jpeg", 5, 6),
            id="fill-bytes",
        ),
        pytest.param(
            SOI + b"\xff\x01\xff\xd0\xff\xd7" + sof(7, 9), ("image/jpeg", 7, 9), id="standalone"
        ),
        pytest.param(
            SOI + APP0 + b"junk" + sof(7, 9), ("image/jpeg", 7, 9), id="garbage-between-segments"
        ),
        pytest.param(
            SOI + segment(0xC4, b"\x00" * 17) + sof(8, 4), ("image/jpeg", 8, 4), id="dht-not-sof"
        ),
        pytest.param(SOI + sof(300, 0), ("image/jpeg", 300, None), id="height-by-dnl"),
        pytest.param(SOI + APP0 + SOS + sof(1, 1), ("image/jpeg", None, None), id="sos-first"),
        pytest.param(SOI + APP0 + EOI + sof(1, 1), ("image/jpeg", None, None), id="eoi-first"),
        pytest.param(SOI + b"\xff\xe0\x00\x01" + sof(1, 1), ("image/jpeg", None, None), id="len<2"),
        pytest.param(SOI + b"\xff", ("image/jpeg", None, None), id="soi-only"),
        pytest.param(b"\x89PNG\r\n\x1a\n", ("image/png", None, None), id="png-signature-only"),
        pytest.param(b"GIF89a\x01", ("image/gif", None, None), id="gif-truncated"),
        pytest.param(b"RIFF\x00\x00\x00\x00WEBP", ("image/webp", None, None), id="webp-bare"),
        pytest.param(
            b"RIFF\x00\x00\x00\x00WEBPVP8 \x10\x00\x00\x00\x00\x00\x00nope!!!!",
            ("image/webp", None, None),
            id="webp-bad-start-code",
        ),
    ],
)
def test_describe_image(data: bytes, expected: tuple[str, int | None, int | None]) -> None:
    info = describe_image(data)
    assert info is not None
    assert (info.mime, info.width, info.height) == expected
    assert info.size == len(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",
        b"hello, world",
        b"BMW is a car brand, not a bitmap",
        b"BM" + b"\x00" * 12 + struct.pack("<I", 41) + b"\x00" * 30,
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"\x89PNG",
        b"GIF90a\x01\x00\x01\x00",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"II*\x00\x08\x00\x00\x00",
    ],
)
def test_not_an_image(data: bytes) -> None:
    assert describe_image(data) is None


def test_jpeg_fed_one_byte_at_a_time() -> None:
    """Every prefix of the asset is a JPEG; the size appears once the SOF is whole."""
    frame_end = ASSET.index(b"\xff\xc0") + 2 + 7
    for cut in range(3, len(ASSET) + 1):
        info = describe_image(ASSET[:cut])
        assert info is not None
        assert info.mime == "image/jpeg"
        if cut < frame_end:
            assert (info.width, info.height) == (None, None), cut
        else:
            assert (info.width, info.height) == (320, 200), cut


def test_trailing_data_is_ignored() -> None:
    info = describe_image(ASSET + b"trailing garbage")
    assert info == ImageInfo("image/jpeg", 320, 200, len(ASSET) + 16)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (ImageInfo("image/jpeg", 320, 200, 23_962), "JPEG image, 320×200, 23.4 KB"),
        (ImageInfo("image/png", 3, 2, 78), "PNG image, 3×2, 78 bytes"),
        (ImageInfo("image/gif", None, None, 1), "GIF image, 1 byte"),
        (ImageInfo("image/webp", 1, 1, 1024), "WebP image, 1×1, 1.0 KB"),
        (ImageInfo("image/bmp", 4000, 3000, 36_000_054), "BMP image, 4000×3000, 34.3 MB"),
        (ImageInfo("image/jpeg", 300, None, 0), "JPEG image, 300×?, 0 bytes"),
        (ImageInfo("image/x-icon", 16, 16, 318), "image/x-icon image, 16×16, 318 bytes"),
    ],
)
def test_describe(info: ImageInfo, expected: str) -> None:
    assert info.describe() == expected


def test_image_info_is_frozen() -> None:
    info = ImageInfo("image/png", 1, 1, 10)
    with pytest.raises(AttributeError):
        info.width = 2  # type: ignore[misc]
    assert not hasattr(info, "__dict__")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(ASSET, True, id="asset"),
        pytest.param(SOI + APP0 + sof(640, 480) + SOS + EOI, True, id="built"),
        pytest.param(ASSET[:-1], False, id="truncated-by-one"),
        pytest.param(ASSET[: len(ASSET) // 2], False, id="half"),
        pytest.param(ASSET + b"\x00", False, id="trailing-byte"),
        pytest.param(SOI + EOI, False, id="no-frame"),
        pytest.param(SOI + APP0 + SOS + EOI, False, id="scan-without-frame"),
        pytest.param(ASSET[1:], False, id="no-soi"),
        pytest.param(PNG_3X2, False, id="png"),
        pytest.param(b"", False, id="empty"),
    ],
)
def test_is_complete_jpeg(data: bytes, expected: bool) -> None:
    assert is_complete_jpeg(data) is expected


SIGNATURES = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\0\0\0\0WEBP", b"BM"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_raise(data: bytes) -> None:
    info = describe_image(data)
    if info is not None:
        assert info.size == len(data)
    is_complete_jpeg(data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SIGNATURES), st.binary(max_size=256))
def test_signature_then_garbage_never_raises(signature: bytes, rest: bytes) -> None:
    info = describe_image(signature + rest)
    if info is not None:
        assert info.width is None or info.width >= 0
        assert info.height is None or info.height >= 0
    is_complete_jpeg(signature + rest)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(ASSET)), st.integers(0, len(ASSET)))
def test_truncations_of_the_asset_never_raise(start: int, stop: int) -> None:
    piece = ASSET[start:stop]
    describe_image(piece)
    assert is_complete_jpeg(piece) is (piece == ASSET)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(ASSET) - 1), st.integers(0, 255)), max_size=8))
def test_corrupted_asset_never_raises(flips: list[tuple[int, int]]) -> None:
    data = bytearray(ASSET)
    for index, value in flips:
        data[index] = value
    info = describe_image(bytes(data))
    assert info is None or info.size == len(data)
    is_complete_jpeg(bytes(data))
