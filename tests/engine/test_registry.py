"""The kind registry: every surface (CLI, form, presets, docs) reads one declaration per kind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netbench.cli import build_parser
from netbench.engine import registry
from netbench.engine.config import default_config

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
    for option, kinds in registry.options_taking("*"):
        if option.shape == "positional":
            assert all(registry.get(kind).usage in help_text for kind in kinds)
        else:
            assert re.search(rf"{re.escape(option.flag)}\b", help_text), option.flag


def test_defaults_and_presets_come_from_the_kind() -> None:
    keys = [preset.key for preset in registry.presets()]
    assert keys == sorted(set(keys)), "preset keys are unique"
    for preset in registry.presets():
        kind = registry.get(preset.kind)
        assert preset.port == kind.port
        config = default_config(preset.kind, **preset.overrides())
        for name, value in kind.defaults.items():
            assert getattr(config, name) == value


def test_an_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown server kind 'nope'"):
        default_config("nope")


def test_a_second_registration_of_a_name_is_refused() -> None:
    echo = registry.get("echo")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(echo)
