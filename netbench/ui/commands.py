"""The command palette holds every action: one command per binding with an id.

Commands are discovered from the bindings of the screen and its widgets, so
a new binding is in the palette (and in the help screen) without a second
list to keep in sync.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen


@dataclass(frozen=True, slots=True)
class BoundAction:
    node: DOMNode
    binding: Binding
    keys: str
    """The keys now bound (after the user's keymap)."""

    @property
    def group(self) -> str:
        return type(self.node).__name__


def bound_actions(screen: Screen[object]) -> Iterator[BoundAction]:
    """Every binding with an id on the app, the screen and its widgets."""
    nodes: list[DOMNode] = [screen.app, screen, *screen.walk_children()]
    keymap: Mapping[str, str] = screen.app._keymap  # the user's remapping
    for node in nodes:
        found: dict[str, tuple[Binding, list[str]]] = {}
        for key, binding in node._bindings:
            if binding.id and binding.description:
                found.setdefault(binding.id, (binding, []))[1].append(key)
        for binding_id, (binding, keys) in found.items():
            yield BoundAction(node, binding, keymap.get(binding_id, ",".join(keys)))


def palette_commands(app: App[Any], screen: Screen[object]) -> Iterator[SystemCommand]:
    """One palette command per action bound on `screen` (its title the binding's description).

    Both apps' `get_system_commands` add these to Textual's own: `netbench
    workshop`'s app did not, and its palette found no "step" or "auto".
    """
    for action in bound_actions(screen):
        node, name = action.node, action.binding.action
        yield SystemCommand(
            action.binding.description,
            f"{key_label(action.keys)}  ·  {action.binding.id}",
            partial(app.run_action, name, node),
        )


def key_label(keys: str) -> str:
    """'ctrl+q,f1' -> 'ctrl+q / f1', with the long names Textual uses made short."""
    short = {"question_mark": "?", "slash": "/", "escape": "esc", "delete": "del"}
    return " / ".join(short.get(key, key) for key in keys.split(","))


def known_binding_ids() -> set[str]:
    """Every binding id of the loaded screens and widgets, netbench's and Textual's
    (for reporting a config.toml [keymap] entry that names none)."""
    # The screens opened on demand, so their ids count even before they open.
    from netbench.ui.screens import add_server, confirm, help, workshop  # noqa: F401

    ids: set[str] = set()
    pending: list[type[DOMNode]] = [DOMNode]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for binding in cls.__dict__.get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return ids
