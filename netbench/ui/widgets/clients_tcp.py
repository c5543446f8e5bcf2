"""The raw TCP client: connect, type text or hex, see every reply chunk as it arrives.

Rules of this module:
- one connection at a time; its receive loop is an exclusive worker, so
  connecting again cancels the old loop, whose `finally` closes the old socket;
- every chunk is one log line, written as it arrives: arrow, length, then the
  bytes through `textsafe.visible` (`Log` does not sanitise and takes no markup);
- how a connection ended comes from the engine's `ConnectionClosed` event (via
  the hub): the engine alone knows whether a FIN or a RST came first;
- no failure (bad target, refused, bad hex, closed socket) raises out of here:
  each becomes one line in the log and the state line.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, ClassVar, Literal, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Button, Input, Log, Select, Static
from textual.worker import Worker, WorkerState

from netbench.events import ConnectionClosed, ServerStarted
from netbench.model import EndReason
from netbench.protocol.textsafe import visible, visible_text
from netbench.ui.messages import EventsArrived

if TYPE_CHECKING:
    from netbench.engine.clients import TcpClient
    from netbench.ui.app import NetbenchApp

Mode = Literal["text", "hex"]
LINE_ENDS: dict[str, bytes] = {"crlf": b"\r\n", "lf": b"\n", "none": b""}
"""The line-end choices, appended to text (not hex) before sending."""
SHOWN_BYTES = 4096
"""A chunk longer than this shows its first bytes and how many more it had."""

CLOSED_TEXT: dict[EndReason, str] = {
    EndReason.FIN_PEER: "closed: FIN from peer",
    EndReason.FIN_LOCAL: "closed: FIN from you first",
    EndReason.RST_PEER: "closed: RST from peer",
    EndReason.RST_LOCAL: "closed: RST (you reset it)",
    EndReason.TIMEOUT: "closed: timed out",
    EndReason.ERROR: "closed: socket error",
    EndReason.STOPPED: "closed: stopped",
    EndReason.REFUSED: "refused",
}


def parse_target(text: str) -> tuple[str, int]:
    """`host:port` (also `[::1]:port` and a pasted `tcp://host:port/`); ValueError if not."""
    target = text.strip()
    scheme, sep, rest = target.partition("://")
    if sep:
        if scheme.lower() == "udp":
            raise ValueError("this is a TCP client: it cannot talk to a UDP server")
        target = rest
    target = target.split("/", 1)[0]
    host, sep, port_text = target.rpartition(":")
    if not sep or not host:
        raise ValueError("target must look like host:port, e.g. 127.0.0.1:5000")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError("the port must be a number from 1 to 65535")
    return host, int(port_text)


def encode_data(text: str, mode: Mode, line_end: bytes) -> bytes:
    """What the data field sends: UTF-8 text plus the line end, or hex as given."""
    if mode == "hex":
        cleaned = text.replace("0x", " ").replace(",", " ")
        try:
            return bytes.fromhex(cleaned)
        except ValueError:
            raise ValueError("hex must be pairs of digits, e.g. 48 65 6c 6c 6f 0d 0a") from None
    return text.encode("utf-8", "surrogateescape") + line_end


def chunk_line(arrow: str, data: bytes) -> str:
    """One log line for one chunk: arrow, length, bytes made visible."""
    shown = visible(data[:SHOWN_BYTES])
    more = f" … (+{len(data) - SHOWN_BYTES} B)" if len(data) > SHOWN_BYTES else ""
    return f"{arrow} {len(data):>5} B  {shown}{more}"


class TcpClientPane(Vertical):
    """A raw TCP client: every byte it sends and every chunk it receives, one line each."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "connect", "Connect", id="clients.tcp.connect"),
        Binding("ctrl+l", "close", "Close", id="clients.tcp.close"),
        Binding("ctrl+f", "half_close", "Half-close (FIN)", id="clients.tcp.half_close"),
        Binding("ctrl+r", "reset", "Reset (RST)", id="clients.tcp.reset"),
    ]

    DEFAULT_CSS = """
    TcpClientPane {
        height: 1fr;
    }
    TcpClientPane > Horizontal {
        height: auto;
    }
    TcpClientPane #tcp-target, TcpClientPane #tcp-data {
        width: 1fr;
    }
    TcpClientPane Button {
        width: auto;
        min-width: 0;
        margin-right: 1;
    }
    TcpClientPane Select {
        width: 10;
        margin-left: 1;
    }
    TcpClientPane #tcp-state {
        height: 1;
        color: $text-muted;
    }
    TcpClientPane #tcp-state.-connected {
        color: $text-success;
    }
    TcpClientPane #tcp-log {
        height: 1fr;
        border-top: solid $panel-lighten-2;
    }
    """

    state: reactive[str] = reactive("not connected")
    """One line on the connection: connected to X from :port, closed: FIN from peer..."""
    connected: reactive[bool] = reactive(False)
    """Whether a connection is open (the buttons that need one are enabled)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.client: TcpClient | None = None
        """The current connection (None before the first connect)."""
        self._mine: set[int] = set()
        self._target_edited = False
        self._half_closed = False
        self._peer_fin = False

    @property
    def _netbench(self) -> NetbenchApp:
        return cast("NetbenchApp", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Input(placeholder="host:port", compact=True, id="tcp-target")
        with Horizontal():
            yield Button("Connect", id="tcp-connect", compact=True, variant="primary")
            yield Button("Close", id="tcp-close", compact=True)
            yield Button("Half-close", id="tcp-half-close", compact=True)
            yield Button("Reset", id="tcp-reset", compact=True, variant="error")
        yield Static(id="tcp-state")
        with Horizontal():
            yield Input(placeholder="data to send (enter)", compact=True, id="tcp-data")
            yield Select(
                [("text", "text"), ("hex", "hex")],
                value="text",
                allow_blank=False,
                compact=True,
                id="tcp-mode",
            )
            yield Select(
                [("CRLF", "crlf"), ("LF", "lf"), ("none", "none")],
                value="crlf",
                allow_blank=False,
                compact=True,
                id="tcp-line-end",
            )
            yield Button("Send", id="tcp-send", compact=True)
        yield Log(max_lines=10_000, id="tcp-log")

    def on_mount(self) -> None:
        self._netbench.hub.register(self)
        engine = self._netbench.engine
        if engine is not None:
            from netbench.engine.engine import ServerState

            for running in engine.servers.values():
                if running.config.kind == "echo" and running.state is ServerState.RUNNING:
                    self._default_target(str(running.address))
                    break
        self.watch_connected(False)
        self.watch_state(self.state)

    def on_unmount(self) -> None:
        self._netbench.hub.unregister(self)

    def _default_target(self, address: str) -> None:
        target = self.query_one("#tcp-target", Input)
        if not self._target_edited and not target.value:
            target.value = address

    # -- rendering ----------------------------------------------------------------------

    def watch_state(self, state: str) -> None:
        self.query_one("#tcp-state", Static).update(Content(visible_text(state)))

    def watch_connected(self, connected: bool) -> None:
        self.query_one("#tcp-state").set_class(connected, "-connected")
        for name in ("close", "half-close", "reset"):
            self.query_one(f"#tcp-{name}", Button).disabled = not connected

    def _note(self, text: str) -> None:
        self.query_one("#tcp-log", Log).write_line(visible_text(text))

    # -- engine events ------------------------------------------------------------------

    def on_events_arrived(self, message: EventsArrived) -> None:
        for event in message.batch.of(ConnectionClosed):
            if event.conn_id in self._mine:
                self._mine.discard(event.conn_id)
                text = CLOSED_TEXT.get(event.reason, f"closed: {event.reason.value}")
                if event.detail and event.reason is EndReason.ERROR:
                    text = f"{text}: {event.detail}"
                self._note(f"── #{event.conn_id} {text}")
                if self.client is not None and self.client.conn_id == event.conn_id:
                    self.state = text
                    self.connected = False
        for started in message.batch.of(ServerStarted):
            if started.kind == "echo":
                self._default_target(str(started.address))

    @on(Input.Changed, "#tcp-target")
    def _target_changed(self, event: Input.Changed) -> None:
        if self.query_one("#tcp-target", Input).has_focus:
            self._target_edited = True

    @on(Select.Changed, "#tcp-mode")
    def _mode_changed(self) -> None:
        hex_mode = self.query_one("#tcp-mode", Select).value == "hex"
        self.query_one("#tcp-line-end", Select).disabled = hex_mode

    # -- connecting and receiving -------------------------------------------------------

    def _open(self) -> TcpClient | None:
        client = self.client
        if client is None or client.stream.closed_event.is_set():
            return None
        return client

    @on(Button.Pressed, "#tcp-connect")
    def action_connect(self) -> None:
        """Connect to the target (closing the current connection first)."""
        self._connect(first=None)

    def _connect(self, first: bytes | None) -> None:
        try:
            host, port = parse_target(self.query_one("#tcp-target", Input).value)
        except ValueError as error:
            self.state = str(error)
            self._note(f"✗ {error}")
            return
        if self._netbench.engine is None:
            self._note("✗ no engine: this session is read-only")
            return
        self.run_worker(
            self._session(host, port, first),
            name="tcp-client",
            group="tcp-client",
            exclusive=True,
            exit_on_error=False,
        )

    async def _session(self, host: str, port: int, first: bytes | None) -> None:
        from netbench.engine.clients import ConnectError, open_tcp

        engine = self._netbench.engine
        if engine is None:
            return
        where = f"{host}:{port}"
        self.state = f"connecting to {where}…"
        try:
            client = await open_tcp(engine.ctx, host, port, timeout=5.0)
        except ConnectError as error:
            self.state, self.connected = str(error), False
            self._note(f"✗ {error}")
            return
        self.client, self._half_closed, self._peer_fin = client, False, False
        self._mine.add(client.conn_id)
        self.state = f"connected to {where} from :{client.local.port}"
        self.connected = True
        self._note(f"── #{client.conn_id} connected to {where} from :{client.local.port}")
        if first:
            self._send(client, first)
        try:
            await self._receive(client)
        finally:
            # Cancelled (a new connect, or the pane went away): do not leak the socket.
            if not client.stream.closed_event.is_set():
                client.stream.close()

    async def _receive(self, client: TcpClient) -> None:
        log = self.query_one("#tcp-log", Log)
        closed = client.stream.closed_event
        while not closed.is_set():
            try:
                _seq, data = await client.recv_chunk(timeout=60.0)
            except TimeoutError:
                continue
            if data:
                log.write_line(chunk_line("←", data))
            elif not closed.is_set() and not self._peer_fin:
                self._peer_fin = True
                self._note("── FIN from peer: it will send nothing more (you still may)")
                self.state = "half-closed by peer: you can still send, or Close"
                if self._half_closed:
                    # Both sides sent FIN: the conversation is over, release the socket.
                    client.stream.close()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A bug must not take the app down: say so in the log instead.
        if event.state is WorkerState.ERROR:
            self._note(f"✗ internal error: {event.worker.error!r}")
            self.connected = self._open() is not None

    # -- sending ------------------------------------------------------------------------

    @on(Input.Submitted, "#tcp-data")
    @on(Button.Pressed, "#tcp-send")
    def action_send(self) -> None:
        """Send the data field (connecting first if needed)."""
        field = self.query_one("#tcp-data", Input)
        mode = cast(Mode, self.query_one("#tcp-mode", Select).value)
        line_end = LINE_ENDS.get(str(self.query_one("#tcp-line-end", Select).value), b"")
        try:
            data = encode_data(field.value, mode, line_end)
        except ValueError as error:
            self._note(f"✗ {error}")
            return
        if not data:
            self._note("✗ nothing to send")
            return
        field.value = ""
        client = self._open()
        if client is None:
            self._connect(first=data)
        else:
            self._send(client, data)

    def _send(self, client: TcpClient, data: bytes) -> None:
        try:
            client.send(data)
        except (ConnectionError, OSError) as error:
            self._note(f"✗ not sent: {error}")
            return
        self.query_one("#tcp-log", Log).write_line(chunk_line("→", data))

    # -- ending -------------------------------------------------------------------------

    @on(Button.Pressed, "#tcp-close")
    async def action_close(self) -> None:
        """Close gracefully: a FIN after anything still queued."""
        client = self._open()
        if client is None:
            return
        self._note("── you close the connection (FIN)")
        with contextlib.suppress(TimeoutError):
            await client.close()

    @on(Button.Pressed, "#tcp-half-close")
    def action_half_close(self) -> None:
        """Shut down the sending side (FIN); keep receiving."""
        client = self._open()
        if client is None or self._half_closed:
            return
        self._half_closed = True
        client.half_close()
        self._note("── you sent FIN (half-close): still receiving")
        self.state = "half-closed by you: still receiving"
        if self._peer_fin:
            client.stream.close()

    @on(Button.Pressed, "#tcp-reset")
    async def action_reset(self) -> None:
        """Abort with a RST (SO_LINGER 0)."""
        client = self._open()
        if client is None:
            return
        self._note("── you reset the connection (RST)")
        with contextlib.suppress(TimeoutError):
            await client.reset()
