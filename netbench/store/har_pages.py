"""The `pages` of a HAR export: per browser page where the traffic tells one.

Rules:
- an exchange is a page's document when its request says so
  (`Sec-Fetch-Dest: document`, which browsers send) or, without that
  header, when it accepts HTML and its response is HTML (not curl's
  `Accept: */*`); the page's title is the document's URL;
- an exchange whose Referer is the URL of a document loaded before it (the
  latest such) belongs to that document's page, whichever connection
  carried it;
- every other exchange belongs to its connection's page, `connection_N`;
- a page starts when its earliest exchange did;
- memory grows with the pages, not the exchanges: the plan reads the
  exchanges' heads twice (the documents first, then where each exchange
  goes) and `page_of` works out an exchange's page again when asked, so a
  session of a million exchanges costs no per-exchange table.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import Any

from netbench.model import Endpoint, HttpRequest, HttpResponse, Role
from netbench.protocol import har_fields as har
from netbench.store.reader import ConnectionRow, ExchangeRow, SessionReader

Json = dict[str, Any]
NOT_MEASURED = -1
_HTML = ("text/html", "application/xhtml+xml")


class PagePlan:
    """The pages of the selected exchanges, and which one each belongs to."""

    def __init__(self, reader: SessionReader, selected: Callable[[ExchangeRow], bool]) -> None:
        self._documents: dict[str, list[tuple[float, str]]] = {}
        """Document URL -> (start, page id) of each load, in time order."""
        pages: dict[str, Json] = {}
        for exchange, conn in _heads(reader, selected):
            url = _document_url(exchange, conn)
            if url is not None:
                start = exchange_start(exchange, conn)
                page_id = f"page_{exchange.id}"
                self._documents.setdefault(url, []).append((start, page_id))
                pages[page_id] = _page(page_id, start, url)
        for loads in self._documents.values():
            loads.sort()
        for exchange, conn in _heads(reader, selected):
            start = exchange_start(exchange, conn)
            page_id = self.page_of(exchange, conn)
            page = pages.get(page_id)
            if page is None:
                page = pages[page_id] = _page(page_id, start, _connection_title(conn))
            page["startedDateTime"] = min(page["startedDateTime"], har.iso_time(start))
        self.pages = sorted(pages.values(), key=lambda page: page["startedDateTime"])

    def page_of(self, exchange: ExchangeRow, conn: ConnectionRow) -> str:
        """The id of the page `exchange` belongs to."""
        request = exchange.request
        if _document_url(exchange, conn) is not None:
            return f"page_{exchange.id}"
        referer = None if request is None else request.header(b"referer")
        if referer is not None:
            loads = self._documents.get(har.wire_text(referer).partition("#")[0], [])
            before = bisect_right(loads, (exchange_start(exchange, conn), "\uffff"))
            if before:
                return loads[before - 1][1]
        return f"connection_{conn.id}"


def _heads(
    reader: SessionReader, selected: Callable[[ExchangeRow], bool]
) -> Iterator[tuple[ExchangeRow, ConnectionRow]]:
    conn: ConnectionRow | None = None
    for exchange in reader.exchanges(include_bodies=False):
        if conn is None or conn.id != exchange.conn_id:
            conn = reader.connection(exchange.conn_id)
        if conn is not None and selected(exchange):
            yield exchange, conn


def _document_url(exchange: ExchangeRow, conn: ConnectionRow) -> str | None:
    """The URL of the page this exchange loaded, when it is a document."""
    request = exchange.request
    if request is None or not _is_document(request, exchange.response):
        return None
    return har.request_url(request, server_of(conn))


def _connection_title(conn: ConnectionRow) -> str:
    client, server = (
        (conn.peer, conn.local) if conn.role is Role.SERVER else (conn.local, conn.peer)
    )
    return f"connection {conn.id}: {client} -> {server}"


def server_of(conn: ConnectionRow) -> Endpoint:
    return conn.local if conn.role is Role.SERVER else conn.peer


def exchange_start(exchange: ExchangeRow, conn: ConnectionRow) -> float:
    for t in (exchange.t_request_start, exchange.t_response_start):
        if t is not None:
            return t
    return conn.opened


def _is_document(request: HttpRequest, response: HttpResponse | None) -> bool:
    dest = request.header(b"sec-fetch-dest")
    if dest is not None:
        return dest.strip().lower() == b"document"
    # An older browser: a navigation asks for HTML and gets it.
    accept = (request.header(b"accept") or b"").lower()
    if response is None or b"text/html" not in accept:
        return False
    kind = (response.header(b"content-type") or b"").split(b";")[0].strip().lower()
    return kind.decode("latin-1") in _HTML


def _page(page_id: str, start: float, title: str) -> Json:
    return {
        "startedDateTime": har.iso_time(start),
        "id": page_id,
        "title": title,
        "pageTimings": {"onContentLoad": NOT_MEASURED, "onLoad": NOT_MEASURED},
    }
