"""Recognise an image by its first bytes and read its dimensions.

Rules:
- pure: bytes in, facts out; no I/O and nothing outside the standard library;
- never raises, whatever the bytes: a truncated or corrupt header yields an
  `ImageInfo` without dimensions (the format is still known), bytes that match
  no signature yield `None`;
- only the header is read: nothing is decoded, so a file that sniffs as a PNG
  may still be a broken PNG (`is_complete_jpeg` is the one stronger check);
- JPEG is walked segment by segment from SOI, using each segment's length, so a
  thumbnail embedded in an APP1 (Exif) segment is never mistaken for the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ImageInfo", "describe_image", "is_complete_jpeg"]

_LABELS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WebP",
    "image/bmp": "BMP",
}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header of an image says about it."""

    mime: str
    """The media type the bytes are, whatever the Content-Type header claimed."""
    width: int | None
    """Pixels; `None` when the header is truncated or does not say."""
    height: int | None
    """Pixels; `None` when the header is truncated or does not say."""
    size: int
    """Length of the whole image in bytes."""

    def describe(self) -> str:
        """One line for people, e.g. ``JPEG image, 320×200, 23.4 KB``."""
        parts = [f"{_LABELS.get(self.mime, self.mime)} image"]
        if self.width is not None or self.height is not None:
            width = "?" if self.width is None else str(self.width)
            height = "?" if self.height is None else str(self.height)
            parts.append(f"{width}×{height}")
        parts.append(_human_size(self.size))
        return ", ".join(parts)


def _human_size(size: int) -> str:
    if size == 1:
        return "1 byte"
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def describe_image(data: bytes) -> ImageInfo | None:
    """Sniff JPEG, PNG, GIF, WebP or BMP; `None` if `data` is none of them."""
    if data.startswith(b"\xff\xd8\xff"):
        frame = _jpeg_frame(data)
        width, height = frame if frame is not None else (None, None)
        return ImageInfo("image/jpeg", width, height, len(data))
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(data)
    if data.startswith((b"GIF87a", b"GIF89a")):
        return _gif(data)
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp(data)
    if data.startswith(b"BM"):
        return _bmp(data)
    return None


def is_complete_jpeg(data: bytes) -> bool:
    """SOI first, EOI last and a frame header in between (a whole JPEG was sent)."""
    return (
        data.startswith(b"\xff\xd8")
        and data.endswith(b"\xff\xd9")
        and _jpeg_frame(data) is not None
    )


# JPEG markers (ITU T.81 table B.1). SOF0..SOF15 carry the frame header, except
# the three codes in that range that mean something else.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # minus DHT, JPG, DAC
# Markers that stand alone, with no length field: TEM, RST0..RST7, SOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})
_EOI = 0xD9
_SOS = 0xDA


def _jpeg_frame(data: bytes) -> tuple[int | None, int | None] | None:
    """(width, height) from the first SOFn segment, `None` if there is none.

    A height of 0 means "given later by a DNL segment"; it is reported as
    `None` rather than chased through the scan data.
    """
    pos = 2
    end = len(data)
    while pos < end:
        if data[pos] != 0xFF:
            # Not at a marker: the stream is corrupt. Resynchronise on the next
            # 0xFF the way lenient decoders do rather than give up.
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return None
        # Any number of 0xFF fill bytes may precede the marker code.
        while pos < end and data[pos] == 0xFF:
            pos += 1
        if pos >= end:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0x00 or marker in _STANDALONE:
            continue
        if marker in (_EOI, _SOS):
            # The frame header always precedes the first scan; past SOS there
            # is only entropy-coded data, which is not walked.
            return None
        if pos + 2 > end:
            return None
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            return None
        if marker in _SOF:
            # length(2) precision(1) height(2) width(2)
            if length < 7 or pos + 7 > end:
                return None
            height = int.from_bytes(data[pos + 3 : pos + 5], "big")
            width = int.from_bytes(data[pos + 5 : pos + 7], "big")
            return width, (height or None)
        pos += length
    return None


def _png(data: bytes) -> ImageInfo:
    # The first chunk must be IHDR: length(4) "IHDR" width(4) height(4).
    if len(data) >= 24 and data[12:16] == b"IHDR":
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        return ImageInfo("image/png", width, height, len(data))
    return ImageInfo("image/png", None, None, len(data))


def _gif(data: bytes) -> ImageInfo:
    # The logical screen descriptor follows the six-byte signature.
    if len(data) >= 10:
        width = int.from_bytes(data[6:8], "little")
        height = int.from_bytes(data[8:10], "little")
        return ImageInfo("image/gif", width, height, len(data))
    return ImageInfo("image/gif", None, None, len(data))


def _webp(data: bytes) -> ImageInfo:
    # RIFF header (12 bytes), then the first chunk: fourcc(4) size(4) payload.
    chunk = data[12:16]
    payload = data[20:]
    width: int | None = None
    height: int | None = None
    if chunk == b"VP8 " and len(payload) >= 10 and payload[3:6] == b"\x9d\x01\x2a":
        # Lossy: 3-byte frame tag, start code, then 14-bit width and height
        # (the top two bits of each are the upscaling factor).
        width = int.from_bytes(payload[6:8], "little") & 0x3FFF
        height = int.from_bytes(payload[8:10], "little") & 0x3FFF
    elif chunk == b"VP8L" and len(payload) >= 5 and payload[0] == 0x2F:
        # Lossless: signature byte, then width-1 and height-1 as 14-bit fields.
        bits = int.from_bytes(payload[1:5], "little")
        width = (bits & 0x3FFF) + 1
        height = ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8X" and len(payload) >= 10:
        # Extended: flags(1) reserved(3), then canvas width-1 and height-1 as
        # 24-bit fields.
        width = int.from_bytes(payload[4:7], "little") + 1
        height = int.from_bytes(payload[7:10], "little") + 1
    return ImageInfo("image/webp", width, height, len(data))


# Sizes of the DIB headers that exist in the wild. "BM" alone is too weak a
# signature (it starts ordinary text), so the header size must be one of these.
_BMP_CORE = 12
_BMP_HEADERS = frozenset({_BMP_CORE, 16, 40, 52, 56, 64, 108, 124})


def _bmp(data: bytes) -> ImageInfo | None:
    # 14-byte file header, then the DIB header, which starts with its own size.
    if len(data) < 18:
        return None
    header = int.from_bytes(data[14:18], "little")
    if header not in _BMP_HEADERS:
        return None
    width: int | None = None
    height: int | None = None
    if header == _BMP_CORE:
        if len(data) >= 22:
            width = int.from_bytes(data[18:20], "little")
            height = int.from_bytes(data[20:22], "little")
    elif len(data) >= 26:
        width = abs(int.from_bytes(data[18:22], "little", signed=True))
        # A negative height means the rows are stored top-down.
        height = abs(int.from_bytes(data[22:26], "little", signed=True))
    return ImageInfo("image/bmp", width, height, len(data))
