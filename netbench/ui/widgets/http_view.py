"""The HTTP tab: the parser's reading of an exchange, beside the raw bytes.

It overlays the Bytes tab, it never replaces it: what the parser made of the
bytes can be wrong (that is often the bug being hunted), so the document says
where the raw bytes are. Every string from the wire goes through `textsafe`
and into a rich `Text` as plain text: nothing here is ever parsed as markup.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    HttpRequestRecorded,
    HttpResponseRecorded,
)
from netbench.model import Headers, HttpRequest, HttpResponse, Role
from netbench.protocol.copy_as import FORMATS, Format
from netbench.protocol.textsafe import visible_latin1, visible_text
from netbench.protocol.wire_request import WireRequest
from netbench.store import ConnectionRow, ExchangeRow, StoreError
from netbench.ui.copy_request import export_exchange, read_wire
from netbench.ui.messages import EventsArrived, Selection
from netbench.ui.proxy_legs import OtherLeg, legs_document, other_leg
from netbench.ui.widgets.http_body import RAW_HINT, body_document, quick

if TYPE_CHECKING:
    from netbench.ui.app import NetbenchApp

EXCHANGES_LISTED = 500
DECODING = "Decoding the bodies…"
_LIVE_EVENTS = (ChunkRecorded, ConnectionClosed, HttpRequestRecorded, HttpResponseRecorded)


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
    what = "response error" if server else "response parse error"
    _error(doc, what, ex.response.error if ex.response else None)
    if ex.request is not None:
        request_document(doc, ex.request, received=server)
    else:
        doc.append("\nNo request recorded on this exchange.\n", "yellow")
    if ex.response is not None:
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
    for name, value, meaning in rows:
        doc.append(f"  {name:<9} {value:>14}  ")
        doc.append(meaning + "\n", "dim")
    if leg is not None:
        legs_document(doc, ex, leg)
    return doc


def connection_document(conn: ConnectionRow, exchanges: list[ExchangeRow]) -> Text:
    """Who, when, how it ended, how many bytes, and its exchanges."""
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
    doc.append(f"\nExchanges ({len(exchanges)})\n", "bold underline")
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
    if len(exchanges) > EXCHANGES_LISTED:
        doc.append(f"  … {len(exchanges) - EXCHANGES_LISTED} more\n", "dim")
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
        self._timer: Timer | None = None
        self._retries = 0
        self._generation = 0
        """Counts reloads: a document built in a thread is shown only if still current."""

    @property
    def _netbench(self) -> NetbenchApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(self.document, id="http-document", markup=False)

    def on_mount(self) -> None:
        self._netbench.hub.register(self)

    def on_unmount(self) -> None:
        self._netbench.hub.unregister(self)

    def show(self, selection: Selection | None) -> None:
        """Show an exchange, or a summary of a connection."""
        self._retries = 2
        self.selection = selection

    def watch_selection(self) -> None:
        self._reload()

    def _reload(self) -> None:
        self._timer = None
        self._generation += 1
        selection = self.selection
        self.exchange = self.connection = None
        reader = self._netbench.reader()
        found = False
        if selection is None:
            doc = Text("Select a request in the traffic list (Enter).", style="dim")
        elif reader is None:
            doc = Text("No session file: nothing was recorded.", style="dim")
        else:
            try:
                self.connection = conn = reader.connection(selection.conn_id)
                if selection.exchange_id is not None:
                    exchange = next(
                        (
                            e
                            for e in reader.exchanges(selection.conn_id)
                            if e.id == selection.exchange_id
                        ),
                        None,
                    )
                    found = exchange is not None
                    leg = other_leg(reader, conn, exchange) if exchange else None
                    if exchange is not None and not _quick(exchange):
                        self._build_in_thread(conn, exchange, leg)
                        return
                    self.exchange = exchange
                    imported = getattr(self._netbench, "imported", None) is not None
                    doc = (
                        exchange_document(conn, exchange, imported=imported, leg=leg)
                        if exchange
                        else Text()
                    )
                elif conn is not None:
                    found = True
                    exchanges = list(reader.exchanges(conn.id, include_bodies=False))
                    doc = connection_document(conn, exchanges)
            except StoreError as error:
                doc = Text(f"Cannot read the session: {error}", style="bold red")
                found = True
            if not found:
                doc = Text("Not recorded yet…", style="dim")
        if not found and selection is not None and self._retries > 0:
            self._retries -= 1  # the store is up to ~100 ms behind the engine
            self._timer = self.set_timer(0.15, self._reload)
        self._show_document(doc)

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
            imported = getattr(self._netbench, "imported", None) is not None
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

    def on_events_arrived(self, message: EventsArrived) -> None:
        if self.selection is None or self._timer is not None:
            return
        conn_id, exchange_id = self.selection.conn_id, self.selection.exchange_id
        for event in message.batch.of_conn(conn_id):
            if not isinstance(event, _LIVE_EVENTS):
                continue
            # An exchange changes only by its own events (a busy keep-alive
            # connection must not reload it ten times a second).
            if exchange_id is None or getattr(event, "exchange_id", None) == exchange_id:
                self._timer = self.set_timer(0.15, self._reload)
                return

    class EditRequested(Message):
        """The user asked to load the selected request into the HTTP client."""

        def __init__(self, wire: WireRequest, server: str) -> None:
            super().__init__()
            self.wire = wire
            self.server = server

    def _picked(self) -> tuple[int, Path] | None:
        ex, path = self.exchange, self._netbench.session_path
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
        if self._netbench.engine is None:
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
