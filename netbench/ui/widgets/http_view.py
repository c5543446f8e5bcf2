"""The HTTP tab: the parser's reading of an exchange, beside the raw bytes.

It overlays the Bytes tab, it never replaces it: what the parser made of the
bytes can be wrong (that is often the bug being hunted), so the document says
where the raw bytes are. Every string from the wire goes through `textsafe`
and into a rich `Text` as plain text: nothing here is ever parsed as markup.

It reads one exchange by its id, or a connection's first `EXCHANGES_LISTED`
exchanges and their count (store/windows.py): a connection of a million
exchanges opens as fast as one of ten. It follows the store by being told
(ui/follow.py): on each notification it re-reads the one exchange shown (a
lookup by id) and rebuilds only if it changed; for a connection, only the
listed exchanges from the first unfinished one on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from netbench.model import Headers, HttpRequest, HttpResponse, Role
from netbench.protocol.copy_as import FORMATS, Format
from netbench.protocol.textsafe import visible_latin1, visible_text
from netbench.protocol.wire_request import WireRequest
from netbench.store import ConnectionRow, ExchangeRow, SessionReader, StoreError
from netbench.store.windows import connection, exchange, exchange_count, exchange_window
from netbench.ui.copy_request import export_exchange, read_wire
from netbench.ui.follow import SessionServices, session_services
from netbench.ui.messages import Selection
from netbench.ui.proxy_legs import OtherLeg, legs_document, other_leg
from netbench.ui.widgets.http_body import RAW_HINT, body_document, quick

EXCHANGES_LISTED = 500
DECODING = "Decoding the bodies…"


def _without_bodies(row: ExchangeRow | None) -> ExchangeRow | None:
    """The row as `exchange(..., include_bodies=False)` reads it."""
    if row is None:
        return None
    request, response = row.request, row.response
    return dataclasses.replace(
        row,
        request=None if request is None else request._replace(body=b""),
        response=None if response is None else response._replace(body=b""),
    )


def _quick(exchange: ExchangeRow) -> bool:
    messages = [m for m in (exchange.request, exchange.response) if m is not None]
    return all(quick(message.headers, message.body) for message in messages)


def clock(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def ms(start: float | None, end: float | None) -> str:
    return "-" if start is None or end is None else f"{(end - start) * 1000:.3f} ms"


def status_style(status: int | None) -> str:
    if status is None:
        return "bold red"
    return {2: "bold green", 3: "bold cyan", 4: "bold yellow", 5: "bold red"}.get(
        status // 100, "bold magenta"
    )


def _headers(doc: Text, headers: Headers) -> None:
    for name, value in headers:
        doc.append(visible_latin1(name), "bold")
        doc.append(": " + visible_latin1(value) + "\n")


def _error(doc: Text, what: str, error: str | None) -> None:
    if error:
        # An app's error is a line, then its traceback: the line in the banner.
        summary, _, details = error.partition("\n")
        doc.append(f" ⚠ {what}: {visible_text(summary)} \n", "bold white on dark_red")
        for line in details.splitlines():
            doc.append(visible_text(line) + "\n", "red")


def request_document(doc: Text, request: HttpRequest, received: bool) -> None:
    version = f" HTTP/{visible_text(request.version)}" if request.version else ""
    doc.append("\nRequest" + (" (received)" if received else " (sent)") + "\n", "bold underline")
    doc.append(visible_latin1(request.method), "bold magenta")
    doc.append(" " + visible_latin1(request.target), "bold")
    doc.append(version + "\n")
    _headers(doc, request.headers)
    body_document(doc, request.headers, request.body, request.body_len, request.body_truncated)


def response_document(
    doc: Text, response: HttpResponse, received: bool, *, coded: bool = True
) -> None:
    doc.append("\nResponse" + (" (received)" if received else " (sent)") + "\n", "bold underline")
    if response.status is None:
        doc.append("(no parseable status line)\n", "bold red")
    else:
        version = f"HTTP/{visible_text(response.version)} " if response.version else ""
        line = f"{version}{response.status} {visible_latin1(response.reason)}"
        doc.append(line.rstrip() + "\n", status_style(response.status))
    _headers(doc, response.headers)
    body_document(
        doc,
        response.headers,
        response.body,
        response.body_len,
        response.body_truncated,
        coded=coded,
    )


def exchange_document(
    conn: ConnectionRow | None,
    ex: ExchangeRow,
    *,
    imported: bool = False,
    leg: OtherLeg | None = None,
) -> Text:
    """Request, response and timings of one exchange, parse errors first.

    `imported`: from a HAR, whose response bodies a browser saved decoded.
    `leg`: the proxy's other leg, when the exchange went through `serve proxy`.
    """
    doc = Text()
    where = f" · {conn.peer} -> {conn.local}" if conn is not None else ""
    doc.append(f"Exchange #{ex.id} on connection #{ex.conn_id}{visible_text(where)}\n", "bold")
    doc.append(RAW_HINT + "\n", "dim italic")
    _error(doc, "request parse error", ex.request.error if ex.request else None)
    server = conn is None or conn.role is Role.SERVER
    unanswered = ex.unanswered
    what = "unanswered" if unanswered else "response error" if server else "response parse error"
    _error(doc, what, ex.response.error if ex.response else None)
    if ex.request is not None:
        request_document(doc, ex.request, received=server)
    else:
        doc.append("\nNo request recorded on this exchange.\n", "yellow")
    if unanswered:
        doc.append("\nNo response was " + ("sent" if server else "received") + ".\n", "yellow")
    elif ex.response is not None:
        response_document(doc, ex.response, received=not server, coded=not imported)
    else:
        doc.append("\nNo response recorded (yet).\n", "yellow")
    doc.append("\nTimings\n", "bold underline")
    doc.append(f"  started   {clock(ex.t_request_start)}\n")
    rows = [
        ("request", ms(ex.t_request_start, ex.t_request_end), "first to last request byte"),
        ("waiting", ms(ex.t_request_end, ex.t_response_start), "to the first response byte"),
        ("response", ms(ex.t_response_start, ex.t_response_end), "first to last response byte"),
        ("total", ms(ex.t_request_start, ex.t_response_end), "first request byte to the last"),
    ]
    if unanswered:
        rows[1:] = [("waited", ms(ex.t_request_end, ex.t_response_end), "until it was given up")]
    for name, value, meaning in rows:
        doc.append(f"  {name:<9} {value:>14}  ")
        doc.append(meaning + "\n", "dim")
    if leg is not None:
        legs_document(doc, ex, leg)
    return doc


def connection_document(
    conn: ConnectionRow, exchanges: list[ExchangeRow], total: int | None = None
) -> Text:
    """Who, when, how it ended, how many bytes, and its exchanges (the first of `total`)."""
    total = len(exchanges) if total is None else max(total, len(exchanges))
    doc = Text()
    doc.append(f"Connection #{conn.id} · {conn.role.value} · {conn.transport.value}\n", "bold")
    doc.append(RAW_HINT + "\n", "dim italic")
    closed = (
        "open"
        if conn.closed is None
        else f"{clock(conn.closed)} (after {ms(conn.opened, conn.closed)})"
    )
    if conn.ended_uncleanly:
        closed = "ended uncleanly: the recording stopped before it closed"
    end = conn.end_reason.value if conn.end_reason else "-"
    if conn.detail:
        end += f": {conn.detail}"
    rows = [
        ("peer", str(conn.peer)),
        ("local", str(conn.local)),
        ("opened", clock(conn.opened)),
        ("closed", closed),
        ("end", end),
        ("bytes", f"in {conn.bytes_in} B · out {conn.bytes_out} B"),
    ]
    for name, value in rows:
        doc.append(f"  {name:<8}", "bold")
        doc.append(visible_text(value) + "\n")
    doc.append(f"\nExchanges ({total})\n", "bold underline")
    if not exchanges:
        doc.append("  none: no HTTP parsed on this connection\n", "dim")
    for ex in exchanges[:EXCHANGES_LISTED]:
        request, response = ex.request, ex.response
        what = "?" if request is None else f"{visible_latin1(request.method)} "
        what += "" if request is None else visible_latin1(request.target)
        status = response.status if response is not None else None
        doc.append(f"  #{ex.id:<6} {what} -> ")
        doc.append("…" if response is None else str(status or "?"), status_style(status))
        doc.append(f"  {ms(ex.t_request_start, ex.t_response_end)}\n", "dim")
    if total > EXCHANGES_LISTED:
        doc.append(f"  … {total - EXCHANGES_LISTED} more\n", "dim")
    return doc


class HttpView(VerticalScroll, can_focus=True):
    """The selected exchange as HTTP: request, response, decoded bodies, timings."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "copy_as", "Copy as…", id="http.copy_as"),
        Binding("e", "edit_request", "Edit & resend", id="http.edit_request"),
    ]

    DEFAULT_CSS = """
    HttpView {
        height: 1fr;
        padding: 0 1;
        background: $surface;
    }
    HttpView > #http-document {
        width: 1fr;
        height: auto;
    }
    """

    selection: reactive[Selection | None] = reactive(None, always_update=True, init=False)
    """An exchange, or a connection (`exchange_id` None), or nothing."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.document = Text("Select a request in the traffic list (Enter).", style="dim")
        """What is shown, as plain text with styles (tests read `document.plain`)."""
        self.exchange: ExchangeRow | None = None
        self.connection: ConnectionRow | None = None
        self._seen: ExchangeRow | None = None
        """The shown exchange as last read, without bodies (what a change is told by)."""
        self._listed: list[ExchangeRow] = []
        """A connection's exchanges in its document, and how many it has."""
        self._total = 0
        self._generation = 0
        """Counts reloads: a document built in a thread is shown only if still current."""

    @property
    def services(self) -> SessionServices:
        return session_services(self)

    def compose(self) -> ComposeResult:
        yield Static(self.document, id="http-document", markup=False)

    def on_mount(self) -> None:
        self.services.follower.subscribe(self._follow)

    def on_unmount(self) -> None:
        self.services.follower.unsubscribe(self._follow)

    def show(self, selection: Selection | None) -> None:
        """Show an exchange, or a summary of a connection."""
        self.selection = selection

    def watch_selection(self) -> None:
        self._reload()

    def _reload(self) -> None:
        self._generation += 1
        selection = self.selection
        self.exchange = self.connection = self._seen = None
        self._listed, self._total = [], 0
        reader = self.services.reader()
        found = False
        if selection is None:
            doc = Text("Select a request in the traffic list (Enter).", style="dim")
        elif reader is None:
            doc = Text("No session file: nothing was recorded.", style="dim")
        else:
            try:
                self.connection = conn = connection(reader, selection.conn_id)
                if selection.exchange_id is not None:
                    shown = exchange(reader, selection.exchange_id)
                    if shown is not None and shown.conn_id != selection.conn_id:
                        shown = None
                    found = shown is not None
                    self._seen = _without_bodies(shown)
                    leg = other_leg(reader, conn, shown) if shown else None
                    if shown is not None and not _quick(shown):
                        self._build_in_thread(conn, shown, leg)
                        return
                    self.exchange = shown
                    imported = self.services.imported is not None
                    doc = (
                        exchange_document(conn, shown, imported=imported, leg=leg)
                        if shown
                        else Text()
                    )
                elif conn is not None:
                    found = True
                    window = exchange_window(reader, conn.id, 0, EXCHANGES_LISTED)
                    self._listed, self._total = window.exchanges, window.total
                    doc = connection_document(conn, window.exchanges, window.total)
            except StoreError as error:
                doc = Text(f"Cannot read the session: {error}", style="bold red")
                found = True
            if not found:
                # The store is up to ~100 ms behind the engine: the follower
                # says when it has more (`_follow`).
                doc = Text("Not recorded yet…", style="dim")
        self._show_document(doc)

    def _follow(self) -> None:
        """The store has new rows: rebuild only if what is shown has changed."""
        selection, reader = self.selection, self.services.reader()
        if selection is None or reader is None:
            return
        try:
            if selection.exchange_id is not None:
                now = exchange(reader, selection.exchange_id, include_bodies=False)
                if now != self._seen:
                    self._reload()
                return
            conn = connection(reader, selection.conn_id)
            total = exchange_count(reader, selection.conn_id)
            if conn is None or self.connection is None:
                if conn is not None:
                    self._reload()
                return
            if (conn, total) != (self.connection, self._total):
                self._follow_connection(reader, conn, total)
        except StoreError:
            return  # the next reload says what is wrong

    def _follow_connection(self, reader: SessionReader, conn: ConnectionRow, total: int) -> None:
        """Re-read the listed exchanges from the first unfinished one (or the end) on."""
        listed = self._listed
        start = next(
            (i for i, e in enumerate(listed) if e.response is None or e.t_response_end is None),
            len(listed),
        )
        if start < EXCHANGES_LISTED:
            window = exchange_window(reader, conn.id, start, EXCHANGES_LISTED - start)
            listed = listed[:start] + window.exchanges
        self.connection, self._listed, self._total = conn, listed, total
        self._show_document(connection_document(conn, listed, total))

    def _show_document(self, doc: Text) -> None:
        self.document = doc
        self.query_one("#http-document", Static).update(doc)

    def _build_in_thread(
        self, conn: ConnectionRow | None, exchange: ExchangeRow, leg: OtherLeg | None
    ) -> None:
        """Undo codings and decode big bodies off the loop: a 10 MiB gzip body takes ~0.1 s."""
        self.run_worker(
            self._build(self._generation, conn, exchange, leg),
            name="http-document",
            group="http-document",
            exclusive=True,
            exit_on_error=False,
        )

    async def _build(
        self,
        generation: int,
        conn: ConnectionRow | None,
        exchange: ExchangeRow,
        leg: OtherLeg | None,
    ) -> None:
        # The document shown stays until this one is ready, unless that takes long.
        slow = self.set_timer(0.1, lambda: self._show_document(Text(DECODING, style="dim")))
        try:
            imported = self.services.imported is not None
            doc = await asyncio.to_thread(
                exchange_document, conn, exchange, imported=imported, leg=leg
            )
        finally:
            slow.stop()
        if generation == self._generation:
            self.exchange = exchange
            self._show_document(doc)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A bug must not take the app down: say so in the view instead.
        if event.worker.group == "http-document" and event.state is WorkerState.ERROR:
            error = f"Cannot show this exchange: internal error {event.worker.error!r}"
            self._show_document(Text(error, style="bold red"))

    class EditRequested(Message):
        """The user asked to load the selected request into the HTTP client."""

        def __init__(self, wire: WireRequest, server: str) -> None:
            super().__init__()
            self.wire = wire
            self.server = server

    def _picked(self) -> tuple[int, Path] | None:
        ex, path = self.exchange, self.services.session_path
        if ex is None or ex.request is None or path is None:
            self.notify("Select an HTTP request first", severity="warning", timeout=3)
            return None
        return ex.id, path

    def action_copy_as(self) -> None:
        """Copy the request as curl, HTTPie, Python or the raw nc form (a menu)."""
        from netbench.ui.screens.copy_as import CopyAsMenu

        picked = self._picked()
        if picked is not None:

            def chosen(kind: Format | None) -> None:
                if kind is not None:
                    self.run_worker(self._copy(kind, *picked), group="copy-as", exit_on_error=False)

            self.app.push_screen(CopyAsMenu(), callback=chosen)

    async def _copy(self, kind: Format, exchange_id: int, path: Path) -> None:
        try:
            export, body_file = await asyncio.to_thread(export_exchange, kind, path, exchange_id)
        except (StoreError, OSError) as error:
            self.notify(f"Cannot copy: {error}", severity="error", markup=False)
            return
        self.app.copy_to_clipboard(export.text)
        lines = [f"Copied as {FORMATS[kind][0]}"]
        if body_file is not None:
            lines.append(f"the body is read from {body_file}")
        lines += export.caveats
        self.notify(
            "\n".join(visible_text(line) for line in lines),
            severity="warning" if export.caveats else "information",
            markup=False,
        )

    def action_edit_request(self) -> None:
        """Load the request into the HTTP client, to change it and send it again."""
        picked = self._picked()
        if picked is None:
            return
        if self.services.engine is None:
            self.notify(
                "Read-only session: `netbench session replay PATH EXCHANGE` sends it again",
                severity="warning",
                markup=False,
            )
            return
        self.run_worker(self._edit(*picked), group="edit-request", exit_on_error=False)

    async def _edit(self, exchange_id: int, path: Path) -> None:
        try:
            wire, server = await asyncio.to_thread(read_wire, path, exchange_id)
        except StoreError as error:
            self.notify(f"Cannot load the request: {error}", severity="error", markup=False)
            return
        self.post_message(self.EditRequested(wire, server))
