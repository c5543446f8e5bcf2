"""Workshop mode: TCP and HTTP taught one socket call at a time, on real sockets.

- `scenario`: the TOML format a teacher writes, and its checks;
- `runner`: steps a scenario on the engine's `SocketLab`, reading the kernel;
- `inferred` / `wire`: the packets of a step, inferred or captured;
- `scenarios/`: the built-in lessons, in the same TOML format.

It may import engine, capture, protocol and store, never ui (tests/test_layers.py).
"""

from __future__ import annotations

from importlib import resources

from netbench.workshop.scenario import Scenario, ScenarioError, parse_scenario


def builtin_scenarios() -> list[Scenario]:
    """The lessons that ship with netbench, in teaching order (their file names sort so)."""
    folder = resources.files("netbench.workshop") / "scenarios"
    entries = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".toml")),
        key=lambda entry: entry.name,
    )
    return [
        parse_scenario(entry.read_text(encoding="utf-8"), f"built-in {entry.name}")
        for entry in entries
    ]


def find_scenario(name: str) -> Scenario:
    """A built-in scenario by name; ScenarioError listing the names when there is none."""
    scenarios = builtin_scenarios()
    for scenario in scenarios:
        if scenario.name == name:
            return scenario
    names = ", ".join(s.name for s in scenarios)
    raise ScenarioError(f"no built-in scenario named {name!r} (built-ins: {names})")


__all__ = ["Scenario", "ScenarioError", "builtin_scenarios", "find_scenario", "parse_scenario"]
