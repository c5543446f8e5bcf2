"""E: save the traffic as a HAR file (all exchanges, or those the filter shows).

The dialog proposes a file name in the current directory (the user data
directory's `exports` when that is not writable), never one that exists;
the export runs in a thread, and a notification names the file written.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Collection
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label

from netbench.protocol.textsafe import visible_text
from netbench.store import SessionReader, StoreError, default_session_dir
from netbench.store.har import HarExport
from netbench.ui.traffic_model import TrafficModel


def default_har_path(session: Path, *, filtered: bool, folder: Path | None = None) -> Path:
    """`<session name>[-filtered].har` in `folder` (default: here, else the data dir), unused."""
    if folder is None:
        here = Path.cwd()
        folder = here if os.access(here, os.W_OK) else default_session_dir().parent / "exports"
    stem = session.name.split(".")[0] or "netbench"
    base = f"{stem}-filtered" if filtered else stem
    path = folder / f"{base}.har"
    number = 2
    while path.exists():
        path = folder / f"{base}-{number}.har"
        number += 1
    return path


def write_har(session: Path, out: Path, exchange_ids: Collection[int] | None) -> HarExport:
    """Export the session (or these exchanges of it) to `out`; raises OSError or StoreError."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with SessionReader(session) as reader:
        export = HarExport(reader, exchange_ids=exchange_ids)
        export.save(out)
    return export


class ExportHarScreen(ModalScreen[Path | None]):
    """Where to save the HAR; dismissed with the path, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="export_har.cancel"),
    ]

    DEFAULT_CSS = """
    ExportHarScreen { align: center middle; }
    ExportHarScreen > Vertical {
        width: 90; max-width: 100%; height: auto;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ExportHarScreen Label { width: 1fr; margin: 1 0 0 0; }
    ExportHarScreen #har-hint { color: $text-muted; margin: 0 0 1 0; }
    """

    def __init__(self, path: Path, what: str) -> None:
        super().__init__()
        self._path = path
        self._what = what

    def compose(self) -> ComposeResult:
        with Vertical() as dialog:
            dialog.border_title = "Export HAR 1.2"
            yield Label(visible_text(f"Save {self._what} as:"), markup=False)
            yield Input(str(self._path), id="har-path")
            yield Label("enter: save · escape: cancel", id="har-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#har-path")
    def _save(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.notify("Give a file name", severity="warning", timeout=3)
            return
        path = Path(text).expanduser()
        self.dismiss(path if path.is_absolute() else Path.cwd() / path)

    def action_cancel(self) -> None:
        self.dismiss(None)


def ask_and_export(screen: Screen[None], model: TrafficModel) -> None:
    """Ask where, then export what the traffic list shows; a notification says how it went."""
    app = screen.app
    session: Path | None = getattr(app, "session_path", None)
    if session is None:
        screen.notify("Nothing to export: no session file", severity="error", markup=False)
        return
    exchange_ids: list[int] | None = None
    what = "every exchange"
    if model.filter_text:
        exchange_ids = [key for key in model.visible_keys() if key > 0]
        count = f"{len(exchange_ids)} exchange{'' if len(exchange_ids) == 1 else 's'}"
        what = f"the {count} the filter {model.filter_text!r} shows"
    imported = getattr(app, "imported", None)
    source = Path(imported.source) if imported is not None else session
    path = default_har_path(source, filtered=exchange_ids is not None)

    asked = time.monotonic()

    async def export(out: Path) -> None:
        await recorded_since(app, asked)
        ok, line = await export_in_thread(session, out, exchange_ids)
        severity: SeverityLevel = "information" if ok else "error"
        screen.notify(line, title="HAR export", severity=severity, timeout=15, markup=False)

    def chosen(out: Path | None) -> None:
        if out is not None:
            screen.run_worker(export(out), group="export-har", exit_on_error=False)

    app.push_screen(ExportHarScreen(path, what), chosen)


async def recorded_since(app: object, asked: float, timeout: float = 2.0) -> None:
    """Wait until what the traffic list showed when E was pressed is in the session file.

    The list learns of traffic as the recorder does, and the recorder is up
    to ~100 ms behind: the last batch it committed must have been cut after.
    """
    runtime = getattr(app, "runtime", None)
    writer = runtime.recorder if runtime is not None else None
    deadline = asked + timeout
    while writer is not None and time.monotonic() - writer.lag() < asked:
        if time.monotonic() > deadline:
            return  # recording stalled: export what the file holds
        await asyncio.sleep(0.02)


async def export_in_thread(
    session: Path, out: Path, exchange_ids: Collection[int] | None
) -> tuple[bool, str]:
    """Run the export off the loop; (whether it worked, the line to tell the user)."""
    started = time.monotonic()
    try:
        export = await asyncio.to_thread(write_har, session, out, exchange_ids)
    except (OSError, StoreError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        return False, visible_text(f"Cannot write {out}: {reason}")
    except Exception as error:  # a bug on some recorded bytes: said, not lost in a worker
        return False, visible_text(
            f"Cannot write {out}: netbench failed on the session's data "
            f"({type(error).__name__}: {error}); please report it"
        )
    entries = f"{export.entries} {'entry' if export.entries == 1 else 'entries'}"
    took = time.monotonic() - started
    return True, visible_text(f"{entries} written to {out} ({took:.1f} s)")
