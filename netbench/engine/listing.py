"""Directory listings of the static server, built off the event loop.

Rules:
- a directory is read, sorted and its page rendered in a thread (`_LISTERS`),
  never on the event loop: a 50,000-entry listing built on the loop held it
  ~0.4 s, and ten at once stalled every client of every server for seconds.
  The loop only sends the finished page;
- requests for a directory that arrive while it is being read share that read
  (ten clients listing one big directory cost one read, not ten); a request
  after it ends reads again, so no listing is older than its request by more
  than one read;
- no single C call runs long, since C holds the GIL and a thread holding it
  stalls the loop as surely as running on it: names are sorted case-blind
  (ties by the exact name) in runs of `_SORT_RUN` merged in Python (one
  list.sort of 50,000 names held it ~50 ms), and a directory is kept as
  plain strings (freeing 50,000 DirEntry objects and tuples at once held it
  30 to 80 ms);
- a page shows at most `LISTING_PAGE` entries and links to the pages before
  and after it (`?page=N`), so it stays ~50 KB however big the directory;
  a page number that does not exist gets a 404 naming the pages that do;
- links leading out of the root are left out unless followed (they would
  only answer 403);
- every name and path in the page goes through `page_text`; links are
  percent-encoded from the name's bytes (any name, even not UTF-8).
"""

from __future__ import annotations

import asyncio
import heapq
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote

from netbench.protocol.responses import Reply, build_response, error_page
from netbench.protocol.textsafe import page_text

LISTING_PAGE = 1000
"""Entries on one listing page; `?page=N` shows the others."""

_LISTERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="netbench-listing")
"""The threads that build listings, shared by every static server. Two, not
more: a flood of listings waits its turn here, and the loop competes for the
GIL with two threads at most."""

_SORT_RUN = 2000
"""Names sorted by one C call (~1 ms of GIL); heapq.merge joins the runs in Python."""


@dataclass(frozen=True, slots=True)
class _Directory:
    """A directory as read: plain strings only, quick to free wherever the
    last reference goes (on the loop, maybe)."""

    names: list[str]
    """Sorted case-blind, ties by the exact name."""
    subdirectories: frozenset[str]


class Lister:
    """The listings of one static server's directories."""

    def __init__(self, root: Path, *, follow_symlinks: bool) -> None:
        self.root = root
        self.follow_symlinks = follow_symlinks
        self._reads: dict[Path, asyncio.Future[_Directory]] = {}
        """Reads under way, by directory: a request for one of these waits for it."""

    async def page(
        self,
        directory: Path,
        shown: str,
        query: bytes,
        keep_alive: bool,
        head_only: bool,
        date: bytes,
    ) -> Reply:
        """The page of `directory` that `query` asks for (`shown`: its path in the URL)."""
        loop = asyncio.get_running_loop()
        read = self._reads.get(directory)
        if read is None:
            read = self._reads[directory] = loop.run_in_executor(_LISTERS, self._read, directory)
            read.add_done_callback(lambda done: self._read_done(directory, done))
        try:
            # Shielded: a client that leaves must not cancel the read the others wait for.
            listed = await asyncio.shield(read)
        except OSError as error:
            return error_page(
                403,
                f"Cannot list this directory: {error.strerror}",
                keep_alive=keep_alive,
                head_only=head_only,
                date=date,
                source="static",
            )
        return await loop.run_in_executor(
            _LISTERS, _render, listed, shown, query, keep_alive, head_only, date
        )

    def _read_done(self, directory: Path, read: asyncio.Future[_Directory]) -> None:
        if self._reads.get(directory) is read:
            del self._reads[directory]
        if not read.cancelled():
            read.exception()  # seen here, even if every client left before it ended

    def _read(self, directory: Path) -> _Directory:
        """What a client may open in `directory` (runs in a thread).

        scandir's entries know their type without a stat; only links cost
        one (where they lead).
        """
        names: list[str] = []
        subdirectories: set[str] = set()
        with os.scandir(directory) as scan:
            for entry in scan:
                if entry.is_symlink() and not self.follow_symlinks and not self._inside(entry.path):
                    continue
                names.append(entry.name)
                if _is_dir(entry):
                    subdirectories.add(entry.name)
        runs = [
            sorted(names[at : at + _SORT_RUN], key=_case_blind)
            for at in range(0, len(names), _SORT_RUN)
        ]
        return _Directory(list(heapq.merge(*runs, key=_case_blind)), frozenset(subdirectories))

    def _inside(self, path: str) -> bool:
        return Path(os.path.realpath(path)).is_relative_to(self.root)


def _case_blind(name: str) -> tuple[str, str]:
    return name.lower(), name


def _render(
    listed: _Directory, shown: str, query: bytes, keep_alive: bool, head_only: bool, date: bytes
) -> Reply:
    """One page of a listing (runs in a thread)."""
    total = len(listed.names)
    pages = max(1, -(-total // LISTING_PAGE))
    asked = dict(parse_qsl(query.decode("latin-1"))).get("page", "1")
    page = int(asked) if asked.isdecimal() and len(asked) < 10 else 0
    if not 1 <= page <= pages:
        return error_page(
            404,
            f"No page {asked} in this listing: its pages are 1 to {pages}.",
            keep_alive=keep_alive,
            head_only=head_only,
            date=date,
            source="static",
        )
    start = (page - 1) * LISTING_PAGE
    rows = []
    for name in listed.names[start : start + LISTING_PAGE]:
        label = os.fsencode(name) + (b"/" if name in listed.subdirectories else b"")
        rows.append(f'<li><a href="{quote(label)}">{page_text(label)}</a></li>')
    title = page_text(f"Directory listing for {shown}")
    where = _page_links(page, pages, start, total)
    body = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{where}<hr>\n<ul>\n"
        + "\n".join(rows)
        + f"\n</ul>\n<hr>\n{where}</body></html>\n"
    ).encode()
    return build_response(
        200, body, keep_alive=keep_alive, head_only=head_only, date=date, source="static"
    )


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a link whose target vanished or cannot be read
        return False


def _page_links(page: int, pages: int, start: int, total: int) -> str:
    """Where this page is in a long listing, and links to its neighbours ("" for one page)."""
    if pages == 1:
        return ""
    shown_to = min(start + LISTING_PAGE, total)
    parts = [f"<p>Entries {start + 1:,} to {shown_to:,} of {total:,} (page {page} of {pages})."]
    if page > 1:
        parts.append(f' <a href="?page={page - 1}">Previous page</a>.')
    if page < pages:
        parts.append(
            f' {total - shown_to:,} more entries: <a href="?page={page + 1}">next page</a>.'
        )
    return "".join(parts) + "</p>\n"
