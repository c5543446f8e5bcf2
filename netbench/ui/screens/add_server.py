"""The "add a server" form: every option a server takes, checked before it starts.

Rules of this module:
- `build_config` turns the form's strings into a `ServerConfig` or a dict of
  one-line errors keyed by field; it never raises, whatever was typed;
- the screen knows nothing about the engine: it calls the `submit` it was
  given, which starts the server and returns the engine's error line (port in
  use...) or None; on an error the form stays open with the message under it;
- everything the user typed is shown back with markup off.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from netbench.engine.config import ServerConfig, default_config
from netbench.model import SERVER_KINDS
from netbench.protocol.textsafe import visible_text

Submit = Callable[[ServerConfig], Awaitable[str | None]]
"""Start a server from the config; the engine's one-line error, or None when it runs."""

FIELDS: tuple[tuple[str, str, str], ...] = (
    ("host", "Host", "127.0.0.1 (loopback only)"),
    ("port", "Port", "0 = a free port"),
    ("backlog", "Backlog", "listen(backlog)"),
    ("recv_size", "Recv size", "bytes per recv()"),
    ("idle_timeout", "Idle timeout", "seconds, 0 = never"),
    ("text", "Reply text", "what every connection gets"),
    ("timeout_message", "Timeout text", "sent to a silent client; empty: none, as seed 002"),
    ("root", "Root", "directory to serve"),
)
"""The text fields: (field, label, placeholder)."""

ONLY_FOR: dict[str, tuple[str, ...]] = {
    "text": ("reply",),
    "timeout_message": ("prefix-echo",),
    "root": ("static",),
    "keep_alive": ("http", "static"),
}
"""Fields that apply to some kinds only (hidden for the others)."""

MAX_RECV_SIZE = 16 << 20


def _integer(text: str, name: str, low: int, high: int) -> tuple[int | None, str | None]:
    try:
        value = int(text.strip())
    except ValueError:
        return None, f"{name} must be a whole number"
    if not low <= value <= high:
        return None, f"{name} must be between {low} and {high}"
    return value, None


def build_config(
    kind: str, values: Mapping[str, str], *, keep_alive: bool = True
) -> tuple[ServerConfig | None, dict[str, str]]:
    """The config the form describes, or the errors to show under its fields."""
    errors: dict[str, str] = {}
    if kind not in SERVER_KINDS:
        return None, {"form": "choose a kind of server"}
    host = values.get("host", "").strip()
    if not host:
        errors["host"] = "host is required (127.0.0.1 for this machine only)"
    elif any(char.isspace() or not char.isprintable() for char in host):
        errors["host"] = "host must not contain spaces or control characters"
    port, problem = _integer(values.get("port", "0"), "port", 0, 65535)
    if problem:
        errors["port"] = problem
    backlog, problem = _integer(values.get("backlog", ""), "backlog", 0, 65535)
    if problem:
        errors["backlog"] = problem
    recv_size, problem = _integer(values.get("recv_size", ""), "recv size", 1, MAX_RECV_SIZE)
    if problem:
        errors["recv_size"] = problem
    idle_timeout: float | None = None
    try:
        idle_timeout = float(values.get("idle_timeout", "").strip())
    except ValueError:
        errors["idle_timeout"] = "idle timeout must be a number of seconds"
    if idle_timeout is not None and not (math.isfinite(idle_timeout) and idle_timeout >= 0):
        errors["idle_timeout"] = "idle timeout must be 0 (never) or more seconds"
    root: Path | None = None
    if kind == "static":
        root_text = values.get("root", "").strip()
        root = Path(root_text).expanduser() if root_text else Path.cwd()
        if not root.is_dir():
            errors["root"] = "root must be an existing directory"
    text = values.get("text", "Yes")
    if kind == "reply" and not text:
        errors["text"] = "the reply text must not be empty"
    timeout_message = values.get("timeout_message", "") if kind == "prefix-echo" else ""
    if errors:
        return None, errors
    config = default_config(
        kind,
        host=host,
        port=port,
        backlog=backlog,
        recv_size=recv_size,
        idle_timeout=idle_timeout,
        keep_alive=keep_alive,
        text=text if kind == "reply" else None,
        timeout_message=timeout_message or None,
        root=root,
    )
    return config, {}


class AddServerScreen(ModalScreen[ServerConfig | None]):
    """A form for a server of any kind, with its seed defaults filled in.

    Dismissed with the started server's config, or None when cancelled.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="add_server.cancel"),
        Binding("ctrl+s", "start", "Start", id="add_server.start"),
    ]

    DEFAULT_CSS = """
    AddServerScreen {
        align: center middle;
    }
    AddServerScreen > #dialog {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $accent;
        border-title-align: left;
        background: $surface;
        padding: 0 1;
    }
    AddServerScreen #form {
        height: auto;
        max-height: 80vh;
        padding-top: 1;
    }
    AddServerScreen .field {
        height: 1;
    }
    AddServerScreen .field > Label {
        width: 14;
        padding: 0 1 0 0;
    }
    AddServerScreen .field > Input, AddServerScreen .field > Select {
        width: 1fr;
    }
    AddServerScreen Switch {
        border: none;
        height: 1;
        padding: 0;
    }
    AddServerScreen .error {
        color: $text-error;
        padding-left: 14;
        height: auto;
        display: none;
    }
    AddServerScreen .error.-shown {
        display: block;
    }
    AddServerScreen #buttons {
        height: auto;
        align-horizontal: right;
        margin-top: 1;
    }
    AddServerScreen #buttons Button {
        margin-left: 1;
    }
    """

    def __init__(self, submit: Submit, kind: str = "echo") -> None:
        super().__init__()
        self._submit = submit
        self._kind = kind if kind in SERVER_KINDS else "echo"
        self._busy = False

    def compose(self) -> ComposeResult:
        defaults = default_config(self._kind)
        initial = {
            "host": defaults.host,
            "port": "0",
            "backlog": str(defaults.backlog),
            "recv_size": str(defaults.recv_size),
            "idle_timeout": f"{defaults.idle_timeout:g}",
            "text": defaults.text,
            "timeout_message": defaults.timeout_message or "",
            "root": str(Path.cwd()),
        }
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Add a server"
            with VerticalScroll(id="form"):
                with Horizontal(classes="field"):
                    yield Label("Kind")
                    yield Select(
                        [(kind, kind) for kind in SERVER_KINDS],
                        value=self._kind,
                        allow_blank=False,
                        compact=True,
                        id="kind",
                    )
                for name, label, placeholder in FIELDS:
                    with Horizontal(classes="field", id=f"row-{name}"):
                        yield Label(label)
                        yield Input(
                            initial[name],
                            placeholder=placeholder,
                            compact=True,
                            id=name,
                        )
                    yield Static("", classes="error", id=f"error-{name}", markup=False)
                with Horizontal(classes="field", id="row-keep_alive"):
                    yield Label("Keep-alive")
                    yield Switch(value=defaults.keep_alive, id="keep_alive")
                yield Static("", classes="error", id="error-form", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Start", variant="primary", id="start", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._show_kind_fields(self._kind)
        self.query_one("#kind", Select).focus()

    # -- the form -----------------------------------------------------------------------

    def _kind_value(self) -> str:
        value = self.query_one("#kind", Select).value
        return value if isinstance(value, str) else ""

    @on(Select.Changed, "#kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        kind = self._kind_value()
        if kind not in SERVER_KINDS or kind == self._kind:
            return
        self._kind = kind
        defaults = default_config(kind)
        self.query_one("#backlog", Input).value = str(defaults.backlog)
        self.query_one("#recv_size", Input).value = str(defaults.recv_size)
        self.query_one("#idle_timeout", Input).value = f"{defaults.idle_timeout:g}"
        self._show_kind_fields(kind)
        self._show_errors({})

    def _show_kind_fields(self, kind: str) -> None:
        for name, kinds in ONLY_FOR.items():
            self.query_one(f"#row-{name}").display = kind in kinds

    def _show_errors(self, errors: Mapping[str, str]) -> None:
        for error in self.query(".error").results(Static):
            name = (error.id or "").removeprefix("error-")
            message = visible_text(errors.get(name, ""))
            error.update(message)
            error.set_class(bool(message), "-shown")

    def _values(self) -> dict[str, str]:
        return {name: self.query_one(f"#{name}", Input).value for name, _l, _p in FIELDS}

    # -- actions ------------------------------------------------------------------------

    @on(Input.Submitted)
    @on(Button.Pressed, "#start")
    async def action_start(self) -> None:
        """Check the form, then start the server; stay open on any error."""
        if self._busy:
            return
        keep_alive = self.query_one("#keep_alive", Switch).value
        config, errors = build_config(self._kind_value(), self._values(), keep_alive=keep_alive)
        if config is None:
            self._show_errors(errors)
            first = next(iter(errors))
            if first != "form":
                self.query_one(f"#{first}", Input).focus()
            return
        self._show_errors({})
        self._busy = True
        self.query_one("#start", Button).disabled = True
        try:
            problem = await self._submit(config)
        finally:
            self._busy = False
            self.query_one("#start", Button).disabled = False
        if problem is None:
            self.dismiss(config)
            return
        field = "port" if "port" in problem and "in use" in problem else "form"
        self._show_errors({field: problem})

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
