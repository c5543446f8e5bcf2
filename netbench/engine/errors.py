"""The engine's user-facing error, in a module of its own: the TUI's first
frame names it (its handlers) without loading the engine."""

from __future__ import annotations


class EngineError(Exception):
    """A user-facing failure (port in use, bad root...): the message is one clear line."""

    def __init__(self, message: str, *, port_in_use: bool = False) -> None:
        super().__init__(message)
        self.port_in_use = port_in_use
        """Binding failed because the port is taken (callers may try the next one)."""
