"""The "add a server" form: every option a server takes, checked before it starts.

Rules of this module:
- the kinds and their own fields (reply's text, static's root, wsgi's app...)
  come from the kind registry (engine/registry.py): a field per option with
  a form label, shown for the kinds that take it;
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
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from netbench.engine import registry
from netbench.engine.config import ServerConfig, default_config
from netbench.protocol.textsafe import visible_text

Submit = Callable[[ServerConfig], Awaitable[str | None]]
"""Start a server from the config; the engine's one-line error, or None when it runs."""

COMMON_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("host", "Host", "127.0.0.1 (loopback only)"),
    ("port", "Port", "0 = a free port"),
    ("backlog", "Backlog", "listen(backlog)"),
    ("recv_size", "Recv size", "bytes per recv()"),
    ("idle_timeout", "Idle timeout", "seconds, 0 = never"),
)


def _kind_fields() -> tuple[
    list[registry.KindOption], list[registry.KindOption], dict[str, tuple[str, ...]]
]:
    """The kinds' own form fields (text, then switches) and which kinds show each."""
    texts: list[registry.KindOption] = []
    switches: list[registry.KindOption] = []
    only_for: dict[str, tuple[str, ...]] = {}
    for option, kinds in registry.all_options():
        if not option.label:
            continue
        (switches if option.shape in ("switch", "flag") else texts).append(option)
        only_for[option.name] = tuple(kinds)
    return texts, switches, only_for


TEXT_OPTIONS, SWITCH_OPTIONS, ONLY_FOR = _kind_fields()
"""The kinds' own fields, and the kinds each applies to (hidden for the others)."""

FIELDS: tuple[tuple[str, str, str], ...] = COMMON_FIELDS + tuple(
    (option.name, option.label, option.placeholder) for option in TEXT_OPTIONS
)
"""The text fields: (field, label, placeholder)."""

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
    kind: str,
    values: Mapping[str, str],
    *,
    keep_alive: bool = True,
    switches: Mapping[str, bool] | None = None,
) -> tuple[ServerConfig | None, dict[str, str]]:
    """The config the form describes, or the errors to show under its fields."""
    errors: dict[str, str] = {}
    spec = registry.find(kind)
    if spec is None:
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
    own: dict[str, object] = {}
    turned = {"keep_alive": keep_alive, **(switches or {})}
    for option in spec.options:
        if not option.label:
            continue
        if option.shape in ("switch", "flag"):
            own[option.name] = turned.get(option.name, option.default)
            continue
        choice = registry.parse_text(option, values.get(option.name, ""))
        if choice.error is not None:
            errors[option.name] = choice.error
        else:
            own[option.name] = choice.value
    if errors:
        return None, errors
    config = default_config(
        kind,
        host=host,
        port=port,
        backlog=backlog,
        recv_size=recv_size,
        idle_timeout=idle_timeout,
        **own,
    )
    return config, {}


def _initials(name: str) -> set[str]:
    """What the field `name` shows by default, for each kind that has it."""
    shown = set()
    for kind in ONLY_FOR.get(name, ()):
        option = registry.get(kind).option(name)
        if option is not None:
            shown.add(_initial(option, default_config(kind)))
    return shown


def _initial(option: registry.KindOption, defaults: ServerConfig) -> str:
    """What a kind's field shows first: its default, else what a blank field means."""
    value = defaults.value(option.name)
    if value is None:
        try:
            value = option.parse("")
        except ValueError:
            value = None
    return "" if value is None else str(value)


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

    def __init__(
        self,
        submit: Submit,
        kind: str = "echo",
        *,
        initial: Mapping[str, str] | None = None,
        title: str = "Add a server",
        subtitle: str = "",
    ) -> None:
        """`initial`: field values to show instead of the kind's defaults (a preset's
        seed port...); with them the Start button has the focus, so Enter starts it."""
        super().__init__()
        self._submit = submit
        self._kind = kind if registry.find(kind) is not None else "echo"
        self._given = dict(initial or {})
        self._title = title
        self._subtitle = subtitle
        """On the bottom border: the title stays short enough for the dialog's 72 columns."""
        self._busy = False

    @classmethod
    def for_preset(cls, submit: Submit, preset: registry.Preset) -> AddServerScreen:
        """A preset's form: its seed port and settings filled in, both ports said."""
        initial = {"port": str(preset.port)}
        initial.update((name, str(value)) for name, value in preset.overrides().items())
        where = f"seed port {preset.port}, or a free one if taken"
        if (front := preset.front) is not None:
            where = f"{preset.kind} on {preset.port}, {front.kind} on {front.port}, or free ones"
        title = f"Preset {preset.key}: {preset.label}"
        return cls(submit, preset.kind, initial=initial, title=title, subtitle=where)

    def compose(self) -> ComposeResult:
        defaults = default_config(self._kind)
        initial = {
            "host": defaults.host,
            "port": "0",
            "backlog": str(defaults.backlog),
            "recv_size": str(defaults.recv_size),
            "idle_timeout": f"{defaults.idle_timeout:g}",
        }
        for option in TEXT_OPTIONS:
            initial[option.name] = _initial(option, default_config(ONLY_FOR[option.name][0]))
        initial.update((name, value) for name, value in self._given.items() if name in initial)
        with Vertical(id="dialog") as dialog:
            dialog.border_title = self._title
            dialog.border_subtitle = self._subtitle
            with VerticalScroll(id="form"):
                with Horizontal(classes="field"):
                    yield Label("Kind")
                    yield Select(
                        [(kind, kind) for kind in registry.names()],
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
                for option in SWITCH_OPTIONS:
                    with Horizontal(classes="field", id=f"row-{option.name}"):
                        yield Label(option.label)
                        yield Switch(value=bool(defaults.value(option.name)), id=option.name)
                yield Static("", classes="error", id="error-form", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Start", variant="primary", id="start", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._show_kind_fields(self._kind)
        self.query_one("#start" if self._given else "#kind").focus()

    # -- the form -----------------------------------------------------------------------

    def _kind_value(self) -> str:
        value = self.query_one("#kind", Select).value
        return value if isinstance(value, str) else ""

    @on(Select.Changed, "#kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        kind = self._kind_value()
        spec = registry.find(kind)
        if spec is None or kind == self._kind:
            return
        self._kind = kind
        defaults = default_config(kind)
        for option in spec.options:
            if option.label and option.shape not in ("switch", "flag"):
                # What the user typed stays; a field still showing a kind's default
                # shows this kind's (wsgi's seed app is no ASGI app).
                field = self.query_one(f"#{option.name}", Input)
                if field.value in _initials(option.name):
                    field.value = _initial(option, defaults)
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
        switches = {
            option.name: self.query_one(f"#{option.name}", Switch).value
            for option in SWITCH_OPTIONS
        }
        config, errors = build_config(self._kind_value(), self._values(), switches=switches)
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
