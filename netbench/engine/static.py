"""The static file server of seed 001 (SimpleHTTPServer), without its holes.

Rules:
- a request resolves to a real path inside the root, or it is refused:
  `..` (also percent-encoded), NUL, backslashes and symlinks leading out of
  the root (unless `follow_symlinks`) never reach the file system;
- a directory without its trailing slash is redirected to the same path with
  one, and the Location is always a single-slash local path (no open
  redirect through `//host` or `/\\host`);
- the redirect keeps the query (`/sub?x=1` -> `/sub/?x=1`), re-encoded so
  that only URL characters reach the Location header;
- a directory listing is built off the event loop, one page at a time
  (engine/listing.py); `respond` then returns a coroutine of the reply;
- files over `STREAM_OVER` bytes are streamed in slices, never loaded whole.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Awaitable
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

from netbench.engine.listing import Lister
from netbench.model import HttpRequest
from netbench.protocol.pages import request_path, request_query
from netbench.protocol.responses import (
    FileSlice,
    Reply,
    build_response,
    error_page,
)

STREAM_OVER = 1 << 20

_QUERY_SAFE = "/?:@!$&'()*+,;=%"
"""What a query may hold as is (RFC 3986); anything else is percent-encoded."""


class StaticSite:
    def __init__(self, root: Path, *, follow_symlinks: bool = False) -> None:
        self.root = Path(os.path.realpath(root))
        self.follow_symlinks = follow_symlinks
        self.lister = Lister(self.root, follow_symlinks=follow_symlinks)

    def respond(
        self, request: HttpRequest, *, keep_alive: bool, date: bytes
    ) -> Reply | Awaitable[Reply]:
        """The reply; for a directory listing, a coroutine of it (built off the loop)."""
        head_only = request.method == b"HEAD"

        def refuse(
            status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()
        ) -> Reply:
            return error_page(
                status,
                message,
                keep_alive=keep_alive,
                head_only=head_only,
                date=date,
                source="static",
                headers=headers,
            )

        if request.method not in (b"GET", b"HEAD"):
            return refuse(
                405, "The static server only answers GET and HEAD.", ((b"Allow", b"GET, HEAD"),)
            )
        path = request_path(request.target)
        if "\x00" in path or "\\" in path:
            return refuse(400, "Paths with NUL bytes or backslashes are refused.")
        parts = [part for part in path.split("/") if part not in ("", ".")]
        if ".." in parts:
            return refuse(403, "Paths leaving the served directory are refused.")
        target = self.root.joinpath(*parts)
        resolved = Path(os.path.realpath(target))
        if not self.follow_symlinks and not resolved.is_relative_to(self.root):
            return refuse(403, "This link points outside the served directory.")
        try:
            info = os.stat(resolved)
        except OSError:
            return refuse(404, f"No file or directory at {path}.")
        if stat.S_ISDIR(info.st_mode):
            query = request_query(request.target)
            if not path.endswith("/"):
                location = quote("/" + "/".join(parts) + "/")
                if query:
                    location += "?" + quote(query, safe=_QUERY_SAFE)
                return build_response(
                    301,
                    b"",
                    headers=((b"Location", location.encode()),),
                    keep_alive=keep_alive,
                    head_only=head_only,
                    date=date,
                    source="static",
                )
            for index in ("index.html", "index.htm"):
                candidate = resolved / index
                if candidate.is_file():
                    return self._file(candidate, keep_alive, head_only, date)
            return self.lister.page(resolved, path, query, keep_alive, head_only, date)
        if not stat.S_ISREG(info.st_mode):
            return refuse(403, "Only regular files are served.")
        return self._file(resolved, keep_alive, head_only, date)

    def _file(self, path: Path, keep_alive: bool, head_only: bool, date: bytes) -> Reply:
        try:
            size = path.stat().st_size
            modified = formatdate(path.stat().st_mtime, usegmt=True).encode()
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            headers = ((b"Last-Modified", modified),)
            if size <= STREAM_OVER or head_only:
                body = b"" if head_only else path.read_bytes()
                return build_response(
                    200,
                    body,
                    content_type=content_type.encode(),
                    headers=headers,
                    keep_alive=keep_alive,
                    head_only=head_only,
                    date=date,
                    source="static",
                    content_length=size,
                )
        except OSError as error:
            return error_page(
                403,
                f"Cannot read {path.name}: {error.strerror}",
                keep_alive=keep_alive,
                head_only=head_only,
                date=date,
                source="static",
            )
        # Large file: the head now, the body streamed from disk in slices.
        head = build_response(
            200,
            b"",
            content_type=content_type.encode(),
            headers=headers,
            keep_alive=keep_alive,
            head_only=True,
            date=date,
            source="static",
            content_length=size,
        )
        assert head.simple is not None
        return Reply(
            (head.simple, FileSlice(str(path), 0, size)), head.response, keep_alive, "static"
        )
