"""The kind registry: every surface (CLI, form, presets, docs) reads one declaration per kind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from recorder import Events

from netbench.cli import build_parser
from netbench.engine import registry
from netbench.engine.config import default_config
from netbench.engine.engine import Engine

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _docs_kind_table() -> str:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("| KIND | what it does (seed) |")
    end = text.index("\n\n", start)
    return text[start:end]


def test_the_docs_kind_table_is_the_registry() -> None:
    assert _docs_kind_table() == registry.docs_table_markdown(), (
        "docs/cli.md's kind table differs from the registry: paste "
        "`python -c 'from netbench.engine import registry; print(registry.docs_table_markdown())'`"
    )


def test_serve_offers_every_registered_kind() -> None:
    parser = build_parser()
    for name in registry.names():
        kind = registry.get(name)
        argv = ["serve", name]
        if kind.positional is not None and kind.positional.required:
            argv.append("module:app")
        assert parser.parse_args(argv).kind == name
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "no-such-kind"])


def test_every_kind_option_is_a_serve_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "-h"])
    help_text = capsys.readouterr().out
    for option, kinds in registry.all_options():
        if option.shape == "positional":
            assert all(registry.get(kind).usage in help_text for kind in kinds)
        else:
            assert re.search(rf"{re.escape(option.flag)}\b", help_text), option.flag


def test_defaults_and_presets_come_from_the_kind() -> None:
    keys = [preset.key for preset in registry.presets()]
    assert keys == [str(n) for n in range(1, len(keys) + 1)], "keys 1, 2, 3... once each"
    for preset in registry.presets():
        kind = registry.get(preset.kind)
        assert preset.port == kind.port
        config = default_config(preset.kind, **preset.overrides())
        for name, value in kind.defaults.items():
            assert getattr(config, name) == value
        if preset.front is not None:
            front = registry.get(preset.front.kind)
            assert preset.front.port == front.port
            assert front.option(preset.front.option) is not None
    # Every seed kind has its key (the table is the registry's, not the kinds').
    preset_kinds = {preset.kind for preset in registry.presets()}
    assert {"http", "echo", "reply", "prefix-echo", "static", "time", "udp-echo"} <= preset_kinds


def test_the_preset_keys_load_no_server_kind() -> None:
    # The TUI's first frame binds the preset keys: no kind module (nor the engine) for that.
    code = (
        "import sys; from netbench.engine import registry; registry.presets();"
        " print(sorted(m for m in sys.modules if m.startswith('netbench.engine')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert loaded.strip() == "['netbench.engine', 'netbench.engine.registry']"


def test_an_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown server kind 'nope'"):
        default_config("nope")


def test_a_second_registration_of_a_name_is_refused() -> None:
    echo = registry.get("echo")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(echo)


async def test_a_kind_is_one_declaration_and_what_it_adopts_stops_with_it(
    monkeypatch: pytest.MonkeyPatch, engine: Engine, events: Events
) -> None:
    """A kind built from the registry's API alone: its own option, and a second connection it
    causes (as a proxy's upstream leg would be) adopted, so stopping the server closes it."""
    import asyncio

    from netbench.engine.registry import KindOption, KindRuntime, Listener, ServerKind
    from netbench.engine.stream import RecordedStream
    from netbench.events import ConnectionOpened
    from netbench.model import Role, Transport

    class Upstream(RecordedStream):
        role = Role.CLIENT

    class Greeter(RecordedStream):
        def on_open(self) -> None:
            self.write(self.greeting)

    upstreams: list[Upstream] = []

    async def build(runtime: KindRuntime) -> Listener:
        greeting = str(runtime.config.value("greeting")).encode()
        echo = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = echo.sockets[0].getsockname()[1]

        def connection() -> Greeter:
            greeter = Greeter(runtime.ctx, **runtime.stream_options())
            greeter.greeting = greeting  # type: ignore[attr-defined]
            leg = Upstream(runtime.ctx, server_id=None, recv_size=1024)
            runtime.adopt(leg)
            upstreams.append(leg)
            task = asyncio.get_running_loop().create_connection(lambda: leg, "127.0.0.1", port)
            runtime.ctx.tasks.spawn(task, "upstream")
            return greeter

        async def close() -> None:
            echo.close()

        return Listener(connection, close)

    kind = ServerKind(
        "greeter",
        "says hello, opens an upstream leg",
        Transport.TCP,
        http=False,
        port=0,
        defaults={"backlog": 5, "recv_size": 1024, "idle_timeout": 0.0},
        build=build,
        options=(KindOption("greeting", "what to say", flag="--greeting", default="hello"),),
    )
    monkeypatch.setitem(registry._KINDS, "greeter", kind)
    server = await engine.start_server(default_config("greeter", greeting="hi"))
    assert server.url.startswith("tcp://127.0.0.1:")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.address.port)
    assert await asyncio.wait_for(reader.readexactly(2), 3) == b"hi"
    await events.wait_for(ConnectionOpened, lambda e: e.role is Role.CLIENT)
    assert upstreams[0] in server.connections
    await engine.stop_server(server.server_id)
    assert upstreams[0].closed_event.is_set() and not server.connections
    writer.close()


def test_the_menu_order_does_not_depend_on_what_was_imported_first() -> None:
    """Importing the proxy kind's module first put proxy first in every menu."""
    script = (
        "import netbench.engine.kinds.proxy\n"
        "from netbench.engine import registry\n"
        "print(' '.join(registry.names()))"
    )
    first = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert first.stdout.split() == list(registry.names())
    assert first.stdout.split()[0] == "http"
