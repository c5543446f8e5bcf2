"""Undo a body's Content-Encoding (gzip, deflate, br, zstd) so it can be read.

Rules:
- pure: bytes in, bytes out. The raw body is never changed: the Bytes tab
  and the session keep what the wire carried; this only feeds what is shown;
- bounded: no coding yields more than ``limit`` bytes, whatever its input (a
  150-byte br body can spell 100 MB). Past it the output is cut and the step
  says so. A zstd frame that asks for a window over 8 MiB is refused, the
  limit RFC 9659 sets for the zstd content coding (libzstd would allocate
  whatever window a frame asks for up to 128 MiB), and at most
  `MAX_CODINGS` codings are undone;
- codings are undone last applied first (``Content-Encoding: gzip, br`` is
  br of gzip); ``identity`` is skipped; several Content-Encoding fields are
  one list, in order. Names are case-insensitive; ``x-gzip`` is gzip;
- ``deflate`` is zlib-wrapped (RFC 9110), but some servers send raw deflate:
  data without a valid zlib header, or that fails as zlib, is read as raw
  deflate, and the step says so;
- gzip and zstd bodies may hold several members or frames, one after the
  other; bytes after the last are ignored, and the step says how many;
- data that stops before its stream ends (a recording cut at the body limit)
  yields what it held, and the step says it ended early. Data that is not
  the coding at all, an unknown coding or a missing decoder leave the whole
  body as it was, with the reason in `DecodedContent.error`;
- br needs the ``brotli`` package (1.2 or later: its output limit), zstd the
  standard library's ``compression.zstd`` (3.14) or ``backports.zstd``. They
  are imported when a body needs them, so a missing one costs only its coding.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from netbench.model import Headers

__all__ = [
    "DECODED_LIMIT",
    "MAX_CODINGS",
    "CodingStep",
    "DecodedContent",
    "content_codings",
    "undo_content_coding",
]

DECODED_LIMIT = 10 * 1024 * 1024
"""Bytes a body is decoded to at most, at each coding."""
MAX_CODINGS = 4
"""Codings undone at most: each may be a 10 MiB bomb of the next."""
ZSTD_WINDOW_LOG_MAX = 23
"""8 MiB: the largest window a zstd content coding may use (RFC 9659)."""
_BROTLI_PIECE = 256 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class CodingStep:
    """One coding undone."""

    coding: str
    """As the header names it, in lower case (``gzip``, ``x-gzip``, ``br``)."""
    size_in: int
    size_out: int
    notes: tuple[str, ...] = ()
    """What else is worth knowing: raw deflate, cut at the limit, ended early."""

    def describe(self) -> str:
        """``gzip: 1,234 B -> 5,678 B``, then the notes."""
        line = f"{self.coding}: {self.size_in:,} B -> {self.size_out:,} B"
        return "; ".join((line, *self.notes))


@dataclass(frozen=True, slots=True)
class DecodedContent:
    """A body with its content codings undone, or as it was and why."""

    body: bytes
    """The decoded body; the body as sent when there was nothing to undo or it failed."""
    steps: tuple[CodingStep, ...] = ()
    """The codings undone, in the order they were undone."""
    error: str | None = None
    """Why the codings were not undone (the body is then as sent)."""
    cut: bool = False
    """The decoded body stopped at the limit."""


class _Undecodable(Exception):
    """The data is not in the coding it claims, or no decoder is at hand."""


@dataclass(slots=True)
class _Output:
    data: bytes
    notes: list[str]
    cut: bool = False
    unfinished: bool = False  # the input ended before the coded stream did


_MID_STREAM = "the data ends mid-stream"


def content_codings(headers: Headers) -> list[str]:
    """The codings named by every Content-Encoding field, in order, lower case."""
    values = [value for name, value in headers if name.lower() == b"content-encoding"]
    names = b",".join(values).decode("latin-1").split(",")
    return [name.strip().lower() for name in names if name.strip()]


def undo_content_coding(
    headers: Headers, body: bytes, *, limit: int = DECODED_LIMIT
) -> DecodedContent:
    """`body` with the codings its headers name undone, each to at most `limit` bytes."""
    codings = [name for name in content_codings(headers) if name != "identity"]
    if not body or not codings:
        return DecodedContent(body)
    if len(codings) > MAX_CODINGS:
        return DecodedContent(
            body, error=f"{len(codings)} content codings: more than {MAX_CODINGS}, not undone"
        )
    steps: list[CodingStep] = []
    data = body
    cut = False
    for coding in reversed(codings):
        decoder = _DECODERS.get(coding)
        if decoder is None:
            why = _UNSUPPORTED.get(coding, "unknown content coding")
            return DecodedContent(body, error=f"{coding}: {why}; shown as sent")
        try:
            output = decoder(data, limit)
        except _Undecodable as exc:
            return DecodedContent(body, error=f"{coding}: {exc}; shown as sent")
        if output.unfinished and not output.data:
            # An empty body would hide every byte that was sent. Brotli has no
            # magic number: about one arbitrary prefix in ten (a gzip header
            # among them) parses as the start of a stream and yields nothing.
            maybe = "not brotli data, or " if coding == "br" else ""
            return DecodedContent(
                body, error=f"{coding}: {maybe}cut before anything decodes; shown as sent"
            )
        if output.cut:
            output.notes.append(f"cut at {_size(limit)}")
            cut = True
        steps.append(CodingStep(coding, len(data), len(output.data), tuple(output.notes)))
        data = output.data
    return DecodedContent(data, tuple(steps), cut=cut)


def _size(count: int) -> str:
    mib = count / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{count:,} B"


def _zlib_reason(exc: zlib.error) -> str:
    # "Error -3 while decompressing data: incorrect header check" -> the end.
    return str(exc).rpartition(": ")[2] or str(exc)


def _gunzip(data: bytes, limit: int) -> _Output:
    return _members(data, limit, zlib.MAX_WBITS | 16, "gzip")


def _inflate(data: bytes, limit: int) -> _Output:
    if _zlib_header(data):
        try:
            return _members(data, limit, zlib.MAX_WBITS, "deflate", once=True)
        except _Undecodable:
            pass  # raw deflate whose first two bytes happen to look like zlib's
    try:
        output = _members(data, limit, -zlib.MAX_WBITS, "deflate", once=True)
    except _Undecodable:
        raise _Undecodable("neither zlib nor raw deflate data") from None
    output.notes.insert(0, "raw deflate, without the zlib wrapper")
    return output


def _zlib_header(data: bytes) -> bool:
    # RFC 1950: method 8 (deflate), a window of at most 32 KiB, and a check
    # making the first two bytes a multiple of 31.
    return (
        len(data) >= 2
        and data[0] & 0x0F == 8
        and data[0] >> 4 <= 7
        and (data[0] << 8 | data[1]) % 31 == 0
    )


def _members(data: bytes, limit: int, wbits: int, name: str, *, once: bool = False) -> _Output:
    """Inflate `data` member after member (gzip may hold several), to at most `limit` bytes."""
    out = bytearray()
    notes: list[str] = []
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits)
        try:
            out += inflater.decompress(rest, limit - len(out) + 1)
        except zlib.error as exc:
            if not out and rest is data:
                raise _Undecodable(f"not {name} data ({_zlib_reason(exc)})") from None
            notes.append(
                f"invalid data after {len(data) - len(rest):,} B ignored ({_zlib_reason(exc)})"
            )
            break
        if len(out) > limit:
            return _Output(bytes(out[:limit]), notes, cut=True)
        if not inflater.eof:
            notes.append(_MID_STREAM)
            return _Output(bytes(out), notes, unfinished=True)
        rest = inflater.unused_data
        if rest and (once or not rest.startswith(_GZIP_MAGIC)):
            notes.append(f"{len(rest):,} B after the end of the {name} data ignored")
            break
    return _Output(bytes(out), notes)


def _unbrotli(data: bytes, limit: int) -> _Output:
    try:
        import brotli
    except ImportError:
        raise _Undecodable("needs the brotli package (pip install 'brotli>=1.2')") from None
    decompressor = brotli.Decompressor()
    out = bytearray()
    try:
        # All input is given at once; the limit bounds each piece of output,
        # and the rest is asked for with empty input until none comes.
        piece = decompressor.process(data, output_buffer_limit=_BROTLI_PIECE)
        out += piece
        while piece and len(out) <= limit and not decompressor.is_finished():
            piece = decompressor.process(b"", output_buffer_limit=_BROTLI_PIECE)
            out += piece
    except TypeError:  # brotli before 1.2 has no output limit: refuse, a bomb would not stop
        raise _Undecodable("needs brotli 1.2 or later (pip install 'brotli>=1.2')") from None
    except brotli.error:
        if not out:
            raise _Undecodable("not brotli data") from None
        return _Output(bytes(out), [f"invalid data after the first {len(out):,} B decoded"])
    if len(out) > limit:
        return _Output(bytes(out[:limit]), [], cut=True)
    if decompressor.is_finished():
        return _Output(bytes(out), [])
    return _Output(bytes(out), [_MID_STREAM], unfinished=True)


def _zstd_module() -> ModuleType | None:
    try:
        if sys.version_info >= (3, 14):
            from compression import zstd
        else:
            from backports import zstd
    except ImportError:
        return None
    return zstd


def _unzstd(data: bytes, limit: int) -> _Output:
    zstd = _zstd_module()
    if zstd is None:
        raise _Undecodable("needs the backports.zstd package (pip install backports.zstd)")
    options = {zstd.DecompressionParameter.window_log_max: ZSTD_WINDOW_LOG_MAX}
    out = bytearray()
    notes: list[str] = []
    rest = data
    while rest:
        decompressor = zstd.ZstdDecompressor(options=options)
        try:
            out += decompressor.decompress(rest, limit - len(out) + 1)
        except zstd.ZstdError as exc:
            reason = str(exc).rpartition(": ")[2] or str(exc)
            if "too much memory" in reason:
                reason = "its window is over the 8 MiB that HTTP allows (RFC 9659)"
            if not out and rest is data:
                raise _Undecodable(f"not zstd data ({reason})") from None
            notes.append(f"invalid data after {len(data) - len(rest):,} B ignored ({reason})")
            break
        if len(out) > limit:
            return _Output(bytes(out[:limit]), notes, cut=True)
        if not decompressor.eof:
            notes.append(_MID_STREAM)
            return _Output(bytes(out), notes, unfinished=True)
        rest = decompressor.unused_data
    return _Output(bytes(out), notes)


_DECODERS: dict[str, Callable[[bytes, int], _Output]] = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _inflate,
    "br": _unbrotli,
    "zstd": _unzstd,
}
_UNSUPPORTED = {
    "compress": "compress (LZW) is not supported",
    "x-compress": "compress (LZW) is not supported",
}
