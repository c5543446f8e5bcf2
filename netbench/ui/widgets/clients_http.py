"""The HTTP client: method, URL, headers and body in; the raw and parsed response out.

Rules of this module:
- the request is composed by `protocol.http_compose` and sent by the engine's
  `http_exchange`, so both ends are recorded when the server is netbench's own;
- the raw view shows the bytes the server sent, one line per line of the head
  with its ␍␊ visible, then the body as text, or one line describing it when it
  is binary; every string shown goes through `textsafe` (`Log` takes no markup);
- a bad URL, header or connection is one clear line, never an exception.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, cast
from urllib.parse import quote

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Button, Input, Log, Select, Static, TabbedContent, TabPane, TextArea
from textual.worker import Worker, WorkerState

from netbench.engine.clients import ConnectError, HttpResult, http_exchange
from netbench.model import HttpResponse
from netbench.protocol.bodies import decode_body
from netbench.protocol.hexdump import looks_binary
from netbench.protocol.http_compose import (
    Target,
    UrlError,
    compose_request,
    parse_header,
    parse_url,
)
from netbench.protocol.images import describe_image
from netbench.protocol.responses import split_head
from netbench.protocol.textsafe import visible, visible_latin1, visible_text
from netbench.protocol.wire_request import WireRequest
from netbench.ui.widgets.traffic import human_bytes

if TYPE_CHECKING:
    from netbench.ui.app import NetbenchApp

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SHOWN_BODY = 256 * 1024
"""Bytes of a text body shown in the raw view; the Bytes tab has the rest."""
_AFTER_LF = re.compile(rb"(?<=\n)")


_URL_SAFE = "".join(chr(code) for code in range(0x21, 0x7F))
"""Printable ASCII stays as it is in a loaded URL; other bytes are %-encoded."""


def _editable(text: str) -> bool:
    """Text an editor can hold: nothing a terminal would act on (tabs allowed)."""
    return visible_text(text.replace("\t", " ")) == text.replace("\t", " ")


def parse_headers(text: str) -> tuple[tuple[bytes, bytes], ...]:
    """`Name: value` per line, blank lines skipped; ValueError naming the bad line."""
    headers: list[tuple[bytes, bytes]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            headers.append(parse_header(line))
        except UnicodeEncodeError:
            raise ValueError(f"header line {number}: only Latin-1 characters can be sent") from None
        except ValueError:
            raise ValueError(f"header line {number}: must look like 'Name: value'") from None
    return tuple(headers)


def raw_lines(received: bytes) -> list[str]:
    """The response as the server sent it: head lines with ␍␊, then the body or a note."""
    head, separator, body = split_head(received)
    lines = [visible_latin1(line) for line in _AFTER_LF.split(head + separator) if line]
    if not separator:
        return lines or ["(nothing received)"]
    if not body:
        return [*lines, "(no body)"]
    if looks_binary(body):
        image = describe_image(body)
        what = image.describe() if image is not None else f"binary, {human_bytes(len(body))}"
        return [*lines, f"(body: {what}; the Bytes tab shows it in hex)"]
    text = visible(body[:SHOWN_BODY], keep_newlines=True)
    lines.extend(text.split("\n"))
    if len(body) > SHOWN_BODY:
        lines.append(f"… (+{human_bytes(len(body) - SHOWN_BODY)}; the Bytes tab shows it all)")
    return lines


def summary_lines(result: HttpResult) -> list[str]:
    """Status, time, headers and the decoded body, one string per line."""
    response: HttpResponse | None = result.response
    took = f"{result.elapsed * 1000:.1f} ms"
    if response is None:
        if result.received or result.no_response is None:
            return [
                f"no response: the server closed after {human_bytes(len(result.received))} "
                f"without a status line ({took})"
            ]
        return [f"no response: {visible_text(result.no_response)} ({took})"]
    status = "?" if response.status is None else str(response.status)
    lines = [
        f"{status} {visible_latin1(response.reason)}  HTTP/{response.version or '?'}  {took}",
        f"body {human_bytes(response.body_len)}"
        + ("  (truncated)" if response.body_truncated else ""),
    ]
    if response.error:
        what = "" if response.error.startswith("cut short") else "parser: "
        lines.append(f"{what}{visible_text(response.error)}")
    lines.append(" ")  # Log drops empty lines
    lines.extend(
        f"{visible_latin1(name)}: {visible_latin1(value)}" for name, value in response.headers
    )
    decoded = decode_body(response.header(b"content-type"), response.body)
    lines.append(" ")  # Log drops empty lines
    if decoded.error:
        lines.append(f"({visible_text(decoded.error)})")
    if decoded.kind == "json" and decoded.json_pretty is not None:
        lines.extend(visible_text(line) for line in decoded.json_pretty.splitlines())
    elif decoded.kind in ("form", "multipart"):
        lines.extend(f"{visible_text(k)} = {visible_text(v)}" for k, v in decoded.fields)
    elif decoded.kind == "image" and decoded.image is not None:
        lines.append(f"({decoded.image.describe()})")
    elif decoded.kind == "text" and decoded.text is not None:
        lines.extend(visible_text(line) for line in decoded.text[:SHOWN_BODY].splitlines())
    elif decoded.kind == "binary":
        lines.append(f"(binary body, {human_bytes(len(response.body))})")
    return lines


def status_line(result: HttpResult) -> tuple[str, str]:
    """The one line under the URL, and its outcome (`ok` or `error`: the colour).

    A response cut short (reset, closed before its length) is an error
    whatever its status: `200 OK · 30 B` alone would read as a success."""
    response = result.response
    took = f"{result.elapsed * 1000:.1f} ms"
    if response is None:
        # Who ended it: the client's own timeout is not the server's doing.
        why = "no response from the server" if result.no_response is None else result.no_response
        return f"✗ {visible_text(why)} ({took})", "error"
    status = "?" if response.status is None else str(response.status)
    reason = visible_latin1(response.reason)
    size = human_bytes(response.body_len)
    line = f"{status} {reason} · {took} · {size} · conn #{result.conn_id}"
    if response.error:
        return f"✗ {line} · {visible_text(response.error)}", "error"
    ok = response.status is not None and response.status < 400
    return line, "ok" if ok else "error"


class HttpClientPane(Vertical):
    """An HTTP client: compose a request, send it, read the raw and parsed response."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+enter", "send", "Send request", id="clients.http.send"),
    ]

    DEFAULT_CSS = """
    HttpClientPane {
        height: 1fr;
    }
    HttpClientPane > #http-request-line {
        height: auto;
    }
    HttpClientPane #http-method {
        width: 12;
    }
    HttpClientPane Button {
        width: auto;
        min-width: 0;
    }
    HttpClientPane #http-url {
        width: 1fr;
        margin: 0 1;
    }
    HttpClientPane #http-status {
        height: 1;
        color: $text-muted;
    }
    HttpClientPane #http-status.-ok {
        color: $text-success;
    }
    HttpClientPane #http-status.-error {
        color: $text-error;
    }
    HttpClientPane #http-tabs {
        height: 1fr;
    }
    HttpClientPane TextArea, HttpClientPane Log {
        height: 1fr;
    }
    """

    status: reactive[str] = reactive("")
    """One line: 200 OK · 3.2 ms · 1.2 KiB, sending…, or what went wrong."""
    outcome: reactive[str] = reactive("idle")
    """idle, busy, ok (a response came) or error: the status line's colour."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.result: HttpResult | None = None
        """The last exchange's result."""

    @property
    def _netbench(self) -> NetbenchApp:
        return cast("NetbenchApp", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal(id="http-request-line"):
            yield Select(
                [(method, method) for method in METHODS],
                value="GET",
                allow_blank=False,
                compact=True,
                id="http-method",
            )
            yield Input(placeholder="http://127.0.0.1:8000/", compact=True, id="http-url")
            yield Button("Send", id="http-send", compact=True, variant="primary")
        yield Static(id="http-status")
        with TabbedContent(initial="http-raw-tab", id="http-tabs"):
            with TabPane("Headers", id="http-headers-tab"):
                yield TextArea(
                    "", placeholder="Name: value, one per line", soft_wrap=False, id="http-headers"
                )
            with TabPane("Body", id="http-body-tab"):
                yield TextArea("", placeholder="request body (UTF-8)", id="http-body")
            with TabPane("Raw", id="http-raw-tab"):
                yield Log(max_lines=50_000, id="http-raw")
            with TabPane("Parsed", id="http-parsed-tab"):
                yield Log(max_lines=50_000, id="http-parsed")

    def on_mount(self) -> None:
        if not self.children:  # quit as it mounted (see the watchers below)
            return
        page = self._netbench.page_server
        if page is not None:
            self.query_one("#http-url", Input).value = page.url
        self.status = "ctrl+enter or Send: the response shows below, both ends in the traffic"

    # -- rendering ----------------------------------------------------------------------

    # The pane mounts after the first frame; quit meanwhile, Textual ends its
    # mount uncomposed and still calls these with the defaults: no line to set.

    def watch_status(self, status: str) -> None:
        for line in self.query("#http-status").results(Static):
            line.update(Content(visible_text(status)))

    def watch_outcome(self, outcome: str) -> None:
        for line in self.query("#http-status"):
            line.set_class(outcome == "ok", "-ok")
            line.set_class(outcome == "error", "-error")

    def _fail(self, message: str) -> None:
        self.status, self.outcome = f"✗ {message}", "error"

    # -- sending ------------------------------------------------------------------------

    @on(Input.Submitted, "#http-url")
    @on(Button.Pressed, "#http-send")
    def action_send(self) -> None:
        """Compose the request from the form and send it."""
        if self._netbench.engine is None:
            self._fail("no engine: this session is read-only")
            return
        method = str(self.query_one("#http-method", Select).value)
        try:
            target = parse_url(self.query_one("#http-url", Input).value.strip())
            headers = parse_headers(self.query_one("#http-headers", TextArea).text)
        except (UrlError, ValueError) as error:
            self._fail(str(error))
            return
        body = self.query_one("#http-body", TextArea).text.encode("utf-8", "surrogateescape")
        request = compose_request(method, target, headers, body)
        self.run_worker(
            self._exchange(target, request, head_only=method == "HEAD"),
            name="http-client",
            group="http-client",
            exclusive=True,
            exit_on_error=False,
        )

    async def _exchange(self, target: Target, request: bytes, *, head_only: bool) -> None:
        engine = self._netbench.engine
        if engine is None:
            return
        where = f"{target.host}:{target.port}"
        self.status, self.outcome = f"sending to {where}…", "busy"
        try:
            result = await http_exchange(
                engine.ctx, target.host, target.port, request, head_only=head_only, timeout=10.0
            )
        except ConnectError as error:
            self._fail(str(error))
            return
        except (OSError, TimeoutError) as error:
            self._fail(f"request to {where} failed: {error or type(error).__name__}")
            return
        self._show(result)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A bug must not take the app down: say so on the status line instead.
        if event.state is WorkerState.ERROR:
            self._fail(f"internal error: {event.worker.error!r}")

    def load(self, wire: WireRequest, server: str) -> list[str]:
        """Fill the form with a recorded request, to edit and send; what was left out.

        Content-Length and Transfer-Encoding are left to the composer (an
        edited body needs its own length); a header or body that is not
        plain text is not put in an editor (the terminal would get its
        control bytes): `netbench session replay` sends those exactly.
        """
        notes: list[str] = []
        method = wire.method.decode("latin-1")
        select = self.query_one("#http-method", Select)
        if method not in METHODS:
            methods = [*METHODS, method] if _editable(method) else list(METHODS)
            select.set_options([(name, name) for name in methods])
        if method in METHODS or _editable(method):
            select.value = method
        else:
            notes.append("the method holds control bytes: GET is selected instead")
            select.value = "GET"
        target = wire.target
        if not target.lower().startswith((b"http://", b"https://")):
            target = f"http://{server}".encode() + (target if target.startswith(b"/") else b"/")
        self.query_one("#http-url", Input).value = quote(target, safe=_URL_SAFE)
        lines: list[str] = []
        for name, value in wire.headers:
            if name.lower() in (b"content-length", b"transfer-encoding"):
                continue
            line = (name + b": " + value.strip(b" \t")).decode("latin-1")
            if _editable(line):
                lines.append(line)
            else:
                notes.append(f"header {visible_latin1(name)} holds control bytes: left out")
        self.query_one("#http-headers", TextArea).text = "\n".join(lines)
        body = wire.unchunked() if wire.chunked else wire.body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or not _editable(text.replace("\r", "").replace("\n", "")):
            notes.append(f"the body ({human_bytes(len(body))}) is not plain text: left out")
            text = ""
        self.query_one("#http-body", TextArea).text = text
        self.status, self.outcome = (
            f"loaded {visible_text(method)} from the session: edit, then ctrl+enter",
            "idle",
        )
        self.query_one("#http-tabs", TabbedContent).active = "http-headers-tab"
        self.query_one("#http-url", Input).focus()
        return notes

    def _show(self, result: HttpResult) -> None:
        self.result = result
        raw = self.query_one("#http-raw", Log)
        raw.clear()
        raw.write_lines(raw_lines(result.received))
        parsed = self.query_one("#http-parsed", Log)
        parsed.clear()
        parsed.write_lines(summary_lines(result))
        self.status, self.outcome = status_line(result)
        self.query_one("#http-tabs", TabbedContent).active = "http-raw-tab"
