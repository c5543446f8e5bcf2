"""The server kinds, each declared in one place: the registry everything else reads.

A kind is one module under `netbench/engine/kinds/` that calls
`register(ServerKind(...))` when imported, as mitmproxy's mode specs register
themselves: its name, transport, whether it speaks HTTP, its seed port and
defaults, its options (command-line flag, form label, parsing and checks)
and its factory. From the registry come `netbench serve`'s KIND choices and
per-kind options, the add-server form's kinds and fields, the recorded
options of a server and the kind table of docs/cli.md (a test renders it
and compares). The servers panel's preset keys are a table here
(`PRESETS`): the TUI's first frame shows them before any kind is loaded.

Rules:
- the UI and the CLI use this module's API only (`kinds`, `get`, `presets`,
  `KindOption`, `Preset`, `server_url`), never a kind module or its classes;
- a kind's `build` gets a `KindRuntime` from the engine (its config, the
  engine context, and for HTTP kinds the live rules and intercept to put in
  front of its own answers) and returns a `Listener`; a user-facing failure
  (an app that does not import) is a `KindError` with a one-line message;
- a kind whose connections cause other connections (a proxy's upstream leg)
  opens them with the runtime's context and passes each to `runtime.adopt`,
  which tracks it with the server (closed when it stops); setting the
  stream's `via` to the causing connection's id before it opens links the
  two legs in the record (`connections.via_conn_id`, engine/upstream.py).
  Nothing here assumes one connection per exchange;
- built-in kinds load on first use, in `BUILTIN` order (the menus' order).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from netbench.model import Endpoint, HttpRequest, Transport

if TYPE_CHECKING:
    import asyncio

    from netbench.engine.config import ServerConfig
    from netbench.engine.context import EngineContext
    from netbench.engine.http_server import Handler
    from netbench.engine.stream import RecordedStream

BUILTIN = ("page", "seeds", "files", "udp_echo", "wsgi", "asgi", "proxy")
"""Modules of netbench/engine/kinds, imported in this order on first use."""

COMMON = ("backlog", "recv_size", "idle_timeout")
"""The settings every kind has (ServerConfig fields), with per-kind defaults."""


class KindError(Exception):
    """A kind cannot start as configured; the message is one line for the user."""


OptionShape = Literal["value", "flag", "switch", "positional"]


@dataclass(frozen=True, slots=True)
class KindOption:
    """One setting a kind takes beyond host, port and the common three.

    Its value lives in the `ServerConfig` field of the same name when there
    is one (the seed kinds' options), else in `ServerConfig.kind_options`.
    """

    name: str
    """The config field or kind_options key; the CLI's dest and the form field's id."""
    help: str
    """One line for `netbench serve -h` and the docs (without the kinds, which are added)."""
    flag: str = ""
    """`--text`; empty for the positional argument after KIND."""
    shape: OptionShape = "value"
    """`value` (flag VALUE), `flag` (present or not), `switch` (flag / off_flag),
    `positional` (the word after KIND: wsgi's MODULE:APP)."""
    metavar: str | None = None
    parse: Callable[[str], object] = str
    """Text (command line or form) to value; ValueError's message says what is wrong."""
    check: Callable[[Any], str | None] | None = None
    """A problem with a parsed value (no such directory), as a sentence naming it."""
    label: str = ""
    """The add-server form's label; empty keeps the option off the form."""
    placeholder: str = ""
    off_flag: str = ""
    """`switch` only: the flag that turns it off (`--close`)."""
    default: object = None
    """Its value when not given (fields of ServerConfig have their own default)."""
    required: str = ""
    """The message when no value is given (a missing argument, a blank form field)."""
    recorded: bool = True
    """Written with the server's options in the session (when not None)."""


@dataclass(frozen=True, slots=True)
class Front:
    """A second server a preset starts in front of its first (seed 004's nginx before
    the app server): its kind and seed port, and the option given the first's HOST:PORT."""

    kind: str
    port: int
    option: str = "upstream"


@dataclass(frozen=True, slots=True)
class Preset:
    """One key of the servers panel: a kind started on its seed port (a free one if taken)."""

    key: str
    """The key that starts it ("1"...)."""
    label: str
    """What the footer and help call it."""
    kind: str
    port: int
    overrides: Callable[[], Mapping[str, object]] = dict
    """Settings decided when the key is pressed (static's root: the current directory)."""
    note: str = ""
    """Where it knowingly differs from its seed, or does what a reader might not expect:
    the key's tooltip and the notice when it starts."""
    front: Front | None = None
    """A second server started in front of this one, pointed at its port."""

    @property
    def name(self) -> str:
        """Its binding id suffix."""
        name = self.kind if self.front is None else f"{self.front.kind}_{self.kind}"
        return name.replace("-", "_")


PRESETS: tuple[Preset, ...] = (
    Preset(
        "1",
        "Page server",
        "http",
        8000,
        note="test.jpg goes out as image/jpeg, the registered type: seed 004 wrote "
        "image/jpg, which is not one",
    ),
    Preset("2", "Echo", "echo", 5000),
    Preset("3", 'Reply "Yes"', "reply", 8000),
    Preset(
        "4",
        'Prefix echo "Echo=>"',
        "prefix-echo",
        50014,
        note="a client silent for 5 s is closed without a word, as seed 002 (which "
        "prints Time Out on its own console); the add form's Timeout text sends one first",
    ),
    Preset(
        "5",
        "Static files (current directory)",
        "static",
        8000,
        lambda: {"root": Path.cwd()},
    ),
    Preset("6", "Time", "time", 8013),
    Preset("7", "UDP echo", "udp-echo", 5000),
    Preset(
        "8",
        "App behind a proxy (seed 004)",
        "wsgi",
        8001,
        note="seed 004's picture: the WSGI Hello World app on 8001 and the reverse "
        "proxy in front of it on 8099 (nginx's listen): a request to the proxy shows "
        "both legs",
        front=Front("proxy", 8099),
    ),
)
"""The servers panel's keys, by key: a seed kind each on its seed port, and seed
004's app behind a proxy. Declared here, not in the kind modules, so that the
panel's key bindings need no kind loaded (the TUI's first frame); a test checks
each against its kind (tests/engine/test_registry.py)."""


@dataclass(slots=True)
class Listener:
    """What a kind's `build` hands the engine for one running server."""

    protocol: Callable[[], asyncio.BaseProtocol]
    """A protocol per accepted connection (TCP), or the one datagram protocol (UDP)."""
    close: Callable[[], Awaitable[None]] | None = None
    """Called once its connections are closed when the server stops (an app's
    lifespan shutdown, a thread pool)."""


class KindRuntime(Protocol):
    """What the engine gives a kind's `build` for one server."""

    ctx: EngineContext
    config: ServerConfig
    server_id: int

    def stream_options(self) -> dict[str, Any]:
        """server_id, recv_size and idle_timeout, as every RecordedStream takes them."""
        ...

    def http_handler(self, site: Handler) -> Handler:
        """`site` behind the server's intercept, rules and response file (HTTP kinds)."""
        ...

    def answered_before_site(self, request: HttpRequest) -> bool:
        """Whether intercept or a live rule/response file takes this request from the site."""
        ...

    def adopt(self, stream: RecordedStream) -> None:
        """Track a connection this server caused (closed with it)."""
        ...


Build = Callable[[KindRuntime], Awaitable[Listener]]


@dataclass(frozen=True, slots=True)
class ServerKind:
    """Everything about one kind of server."""

    name: str
    summary: str
    """What it does and the seed it reproduces, for the docs table."""
    transport: Transport
    http: bool
    """Speaks HTTP: limits, Host check, live rules, Respond and Intercept apply."""
    port: int
    """The seed program's port: `serve KIND`'s default and the preset's."""
    defaults: Mapping[str, object]
    """backlog, recv_size, idle_timeout (and any other ServerConfig field)."""
    build: Build
    options: tuple[KindOption, ...] = ()
    unused: frozenset[str] = frozenset()
    """Common settings it never uses (shown as — in the docs table)."""
    idle_note: str = ""
    """Said after the idle timeout in the docs table ("keep-alive idle")."""
    answers: str = ""
    """HTTP kinds: who answers a request when no response file is saved ("the
    built-in page", "the upstream"), as the Respond tab says it."""

    def option(self, name: str) -> KindOption | None:
        return next((option for option in self.options if option.name == name), None)

    @property
    def positional(self) -> KindOption | None:
        """The argument after KIND, if it takes one."""
        return next((option for option in self.options if option.shape == "positional"), None)

    @property
    def usage(self) -> str:
        """`wsgi [MODULE:APP]`, `asgi MODULE:APP`, `echo`."""
        positional = self.positional
        if positional is None:
            return self.name
        metavar = positional.metavar or positional.name.upper()
        return f"{self.name} {metavar}" if positional.required else f"{self.name} [{metavar}]"


_KINDS: dict[str, ServerKind] = {}
_loaded = False


def register(kind: ServerKind) -> ServerKind:
    """Add a kind (a kind module calls this when imported)."""
    if kind.name in _KINDS:
        raise ValueError(f"server kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN:
            importlib.import_module(f"netbench.engine.kinds.{module}")
        # A kind module imported before first use (by a caller, a test) registered
        # first: the menus, `serve -h` and the docs keep BUILTIN's order anyway.
        rank = {f"netbench.engine.kinds.{module}": i for i, module in enumerate(BUILTIN)}
        ordered = sorted(_KINDS.values(), key=lambda k: rank.get(k.build.__module__, len(rank)))
        _KINDS.clear()
        _KINDS.update((kind.name, kind) for kind in ordered)


def kinds() -> tuple[ServerKind, ...]:
    """Every kind, in the menus' order."""
    _load()
    return tuple(_KINDS.values())


def names() -> tuple[str, ...]:
    return tuple(kind.name for kind in kinds())


def get(name: str) -> ServerKind:
    """The kind called `name`; ValueError naming the choices if there is none."""
    _load()
    kind = _KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown server kind {name!r} (one of {', '.join(_KINDS)})")
    return kind


def find(name: str) -> ServerKind | None:
    """The kind called `name`, or None (a session recorded by another version)."""
    _load()
    return _KINDS.get(name)


def presets() -> tuple[Preset, ...]:
    """Every preset, by key (no kind is loaded)."""
    return PRESETS


def is_http(name: str) -> bool:
    kind = find(name)
    return kind is not None and kind.http


def transport_of(name: str) -> Transport:
    kind = find(name)
    return kind.transport if kind is not None else Transport.TCP


def server_url(kind: str, transport: Transport, address: Endpoint) -> str:
    """How a server is named to users: http://127.0.0.1:8000/, tcp://..., udp://..."""
    if is_http(kind):
        return f"http://{address}/"
    return f"{transport.value}://{address}"


def all_options() -> list[tuple[KindOption, list[str]]]:
    """Each distinct option (by name: its first declaration) and the kinds that take it."""
    found: dict[str, tuple[KindOption, list[str]]] = {}
    for kind in kinds():
        for option in kind.options:
            found.setdefault(option.name, (option, []))[1].append(kind.name)
    return list(found.values())


def kinds_taking(name: str) -> tuple[str, ...] | None:
    """The kinds that take the setting `name`, in menu order; None if it is none of
    theirs (host, port: every server has them).

    `name` is a kind option's (`threads`), a common setting's (`backlog`, less
    the kinds that never use it) or a limit's (an `HttpLimits` field: HTTP
    kinds; `max_connections` every TCP kind). The CLI refuses an option given
    to a kind not named here, so what `-h` says and what runs cannot part.
    """
    from netbench.protocol.limits import OPTION

    every = kinds()
    if name in COMMON:
        return tuple(kind.name for kind in every if name not in kind.unused)
    if name == "max_connections":
        return tuple(kind.name for kind in every if kind.transport is Transport.TCP)
    if name in OPTION:
        return tuple(kind.name for kind in every if kind.http)
    takers = tuple(kind.name for kind in every if kind.option(name) is not None)
    return takers or None


def recorded_options(config: ServerConfig) -> dict[str, object]:
    """The settings that matter for this server's kind, JSON-serialisable, for the record."""
    kind = get(config.kind)
    values: dict[str, object] = {name: getattr(config, name) for name in COMMON}
    if kind.http:
        values["keep_alive"] = config.keep_alive
        values.update(config.limits.options())
    elif kind.transport is Transport.TCP:
        values["max_connections"] = config.limits.max_connections
    for option in kind.options:
        if not option.recorded or option.name == "keep_alive":
            continue
        value = config.value(option.name)
        if value is not None:
            values[option.name] = value if isinstance(value, bool | int | float) else str(value)
    return values


@dataclass(frozen=True, slots=True)
class TableRow:
    kind: str
    summary: str
    defaults: str


def docs_table() -> list[TableRow]:
    """docs/cli.md's kind table, from the registry (tests/engine/test_registry.py compares)."""
    rows = []
    for kind in kinds():
        shown: list[str] = [str(kind.port)]
        for name in COMMON:
            value = kind.defaults.get(name)
            if name in kind.unused or value is None:
                shown.append("—")
            elif name == "idle_timeout":
                idle = f"{value:g} s" if value else "never"
                shown.append(f"{idle} ({kind.idle_note})" if kind.idle_note else idle)
            else:
                shown.append(str(value))
        rows.append(TableRow(kind.name, kind.summary, ", ".join(shown)))
    return rows


def docs_table_markdown() -> str:
    lines = [
        "| KIND | what it does (seed) | default port, backlog, recv size, idle timeout |",
        "|---|---|---|",
    ]
    for row in docs_table():
        lines.append(f"| `{get(row.kind).usage}` | {row.summary} | {row.defaults} |")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Choice:
    """A parsed option value, or why it is wrong."""

    value: object = None
    error: str | None = None


def parse_text(option: KindOption, text: str) -> Choice:
    """Parse and check a value typed by the user (form or command line)."""
    if not text and option.required:
        return Choice(error=option.required)
    try:
        value = option.parse(text)
    except ValueError as error:
        return Choice(error=str(error))
    problem = option.check(value) if option.check is not None else None
    return Choice(value, problem)
