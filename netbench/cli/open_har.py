"""`netbench open FILE.har`: a HAR shown in the same screens as a recorded session.

The HAR is converted into a session file in a private temporary directory
(store/har_import.py), opened read-only like any session, and removed when
the UI exits. A file that is not a HAR is a one-line error, exit 1.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from netbench.cli import fail, run_tui


def run_open(args: argparse.Namespace) -> int:
    """Open a session file, or a HAR file converted to one, read-only."""
    from netbench.store import StoreError
    from netbench.store.har_import import import_har, looks_like_har

    path: Path = args.path
    if not path.is_file() or not looks_like_har(path):
        return run_tui(args, open_path=path)
    with tempfile.TemporaryDirectory(prefix="netbench-har-") as folder:
        session = Path(folder) / f"{path.stem or 'imported'}.netbench.sqlite"
        try:
            import_har(path, session)
        except StoreError as error:
            return fail(str(error))
        return run_tui(args, open_path=session)
