"""The one exception the store raises to its callers."""

from __future__ import annotations


class StoreError(Exception):
    """A session file cannot be opened, created or read.

    The message is one line meant for the user as is (the CLI prints it after
    `netbench: error: `), so it names the file and says what is wrong.
    """


def one_line(exc: BaseException) -> str:
    """An exception's message flattened to one line (SQLite's can span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class DamagedFileError(StoreError):
    """A session file whose contents cannot be read: corrupt, cut short, edited.

    The message ends "(the file is damaged: <what>)"; `what` is that part alone.
    """

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what
