"""The `pages` of a HAR export: per browser page where the traffic tells one.

Rules:
- an exchange is a page's document when its request says so
  (`Sec-Fetch-Dest: document`, which browsers send) or, without that
  header, when it accepts HTML and its response is HTML (not curl's
  `Accept: */*`); the page's title is the document's URL;
- an exchange whose Referer is the URL of a document loaded before it
  belongs to that document's page, whichever connection carried it;
- every other exchange belongs to its connection's page, `connection_N`;
- a page starts when its earliest exchange did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netbench.model import Endpoint, HttpRequest, HttpResponse, Role
from netbench.protocol import har_fields as har
from netbench.store.reader import ConnectionRow, ExchangeRow, SessionReader

Json = dict[str, Any]
NOT_MEASURED = -1
_HTML = ("text/html", "application/xhtml+xml")


def page_plan(
    reader: SessionReader, selected: Callable[[ExchangeRow], bool]
) -> tuple[list[Json], dict[int, str]]:
    """The pages, and which page each exchange belongs to (absent: its connection's)."""
    documents: dict[str, list[tuple[float, str]]] = {}
    seen: list[tuple[int, int, float, str | None]] = []
    """(exchange id, connection id, start, the Referer's URL)."""
    titles: dict[int, str] = {}
    conn: ConnectionRow | None = None
    pages: dict[str, Json] = {}
    for exchange in reader.exchanges(include_bodies=False):
        if conn is None or conn.id != exchange.conn_id:
            conn = reader.connection(exchange.conn_id)
        if conn is None or not selected(exchange):
            continue
        start = exchange_start(exchange, conn)
        request = exchange.request
        referer = None if request is None else request.header(b"referer")
        referred = None if referer is None else har.wire_text(referer).partition("#")[0]
        client, server = (
            (conn.peer, conn.local) if conn.role is Role.SERVER else (conn.local, conn.peer)
        )
        titles[conn.id] = f"connection {conn.id}: {client} -> {server}"
        seen.append((exchange.id, conn.id, start, referred))
        if request is not None and _is_document(request, exchange.response):
            url = har.request_url(request, server_of(conn))
            page_id = f"page_{exchange.id}"
            documents.setdefault(url, []).append((start, page_id))
            pages[page_id] = _page(page_id, start, url)
    page_of: dict[int, str] = {}
    for exchange_id, conn_id, start, referred in seen:
        page_id = f"page_{exchange_id}"
        if page_id not in pages:
            page_id = _referred(documents, referred, start) or f"connection_{conn_id}"
        page_of[exchange_id] = page_id
        page = pages.setdefault(page_id, _page(page_id, start, titles[conn_id]))
        page["startedDateTime"] = min(page["startedDateTime"], har.iso_time(start))
    return sorted(pages.values(), key=lambda page: page["startedDateTime"]), page_of


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


def _referred(
    documents: dict[str, list[tuple[float, str]]], referer: str | None, t: float
) -> str | None:
    """The page of the latest document at the Referer's URL loaded before `t`."""
    if referer is None:
        return None
    candidates = documents.get(referer, [])
    earlier = [page for start, page in candidates if start <= t]
    return earlier[-1] if earlier else (candidates[0][1] if candidates else None)


def _page(page_id: str, start: float, title: str) -> Json:
    return {
        "startedDateTime": har.iso_time(start),
        "id": page_id,
        "title": title,
        "pageTimings": {"onContentLoad": NOT_MEASURED, "onLoad": NOT_MEASURED},
    }
