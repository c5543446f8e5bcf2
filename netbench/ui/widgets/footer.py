"""The key bar: Textual's Footer, rebuilt only when the keys it shows change,
with Help and Quit first and tighter on a narrow terminal."""

from __future__ import annotations

from collections.abc import Hashable

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

LEADING_ACTIONS = ("help", "quit")
"""Keys the bar shows first, as htop, nano and mc do: a terminal narrower than
all the keys cuts the bar's end, and these are the ones every screen needs."""

COMPACT_BELOW = 140
"""Columns under which the keys drop their padding (two cells a key)."""


class KeysFooter(Footer):
    """Textual's `Footer`, skipping the rebuilds that would show the same keys.

    Textual's Footer recomposes after every change of focus or bindings. At
    startup the focus settles several times over the same keys, and each
    rebuild mounts and restyles every key again (~50 ms here); a rebuild now
    happens only when what it would show differs from what it shows.

    Each key is born compact and then bound to the footer's (not compact):
    two restyles of every key, ~10% of the first frame. Born with the
    footer's value, a key is styled once, as it mounts (the palette's key is
    not bound, and stays compact).
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: Hashable | None = None

    def _keys(self) -> Hashable:
        """Everything `Footer.compose` reads to draw the keys, as one value."""
        app = self.app
        return (
            self.show_command_palette,
            app.ENABLE_COMMAND_PALETTE,
            tuple(
                (
                    key,
                    binding.action,
                    binding.description,
                    binding.show,
                    binding.group,
                    binding.tooltip,
                    app.get_key_display(binding),
                    enabled,
                    tooltip,
                )
                for key, (_node, binding, enabled, tooltip) in self.screen.active_bindings.items()
            ),
        )

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        for widget in widgets:
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                widget.set_reactive(FooterKey.compact, self.compact)
        # Footer yields only keys (no binding here has a group), so their
        # order is free: the leading ones first, the rest as Textual gives them.
        leading = [
            widget
            for action in LEADING_ACTIONS
            for widget in widgets
            if isinstance(widget, FooterKey) and widget.action == action
        ]
        yield from leading
        yield from (widget for widget in widgets if widget not in leading)

    def on_resize(self, event: events.Resize) -> None:
        self.compact = event.size.width < COMPACT_BELOW
        self.call_after_refresh(self._fit)

    async def recompose(self) -> None:
        keys = self._keys()
        if keys == self._shown:
            return
        self._shown = keys
        await super().recompose()
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Show the keys that fit whole, in order, and hide the rest (F1 lists
        them all): cut at the edge, `C Clients` read `C Cl`, and the keys
        scrolling under the palette's key left a stray letter at the end."""
        keys = list(self.query_children(FooterKey))
        palette = [key for key in keys if key.has_class("-command-palette")]
        # The palette's key also has a border and, unless compact, a padding cell.
        room = self.size.width - sum(
            max(key.outer_size.width, key.render().cell_len + 2) for key in palette
        )
        margin = 1 if self.compact else 0
        for key in keys:
            if key in palette:
                continue
            needed = key.render().cell_len + margin
            key.display = needed <= room
            room = room - needed if key.display else -1  # none after the first that does not fit
