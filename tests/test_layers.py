"""The house rules: imports point down, and each I/O library has one owner.

ui -> engine/capture/store -> protocol -> model. Checked two ways: statically
(no module imports a library it does not own) and for real (importing every
headless module in a fresh interpreter loads neither textual nor scapy, which
also keeps `netbench serve` fast to start).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "netbench"

OWNERS = {
    "textual": "ui",
    "rich": "ui",
    "scapy": "capture",
    "sqlite3": "store",
    "socket": "engine",
}
"""library -> the one package allowed to import it."""

ALLOWED_NETBENCH_IMPORTS = {
    "model": set(),
    "events": {"model"},
    "protocol": {"model", "events", "protocol"},
    "engine": {"model", "events", "protocol", "engine"},
    "store": {"model", "events", "protocol", "store"},
    "capture": {"model", "events", "protocol", "capture"},
    "runtime": {"model", "events", "protocol", "engine", "store", "capture", "runtime"},
    "workshop": {"model", "events", "protocol", "engine", "store", "capture", "workshop"},
    "cli": {
        *("model", "events", "protocol", "engine", "store", "capture"),
        *("runtime", "workshop", "cli", "ui"),
    },
    "ui": {
        "model",
        "events",
        "protocol",
        "engine",
        "store",
        "capture",
        "runtime",
        "workshop",
        "ui",
    },
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    if len(relative.parts) == 1:
        return relative.stem if relative.stem in ALLOWED_NETBENCH_IMPORTS else "top"
    return relative.parts[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_point_down(path: Path) -> None:
    layer = _layer(path)
    for name in _imports(path):
        root = name.split(".")[0]
        owner = OWNERS.get(root)
        if owner is not None:
            assert layer == owner, f"{path.name} ({layer}) imports {name}; only {owner}/ may"
        if root == "netbench" and "." in name and layer in ALLOWED_NETBENCH_IMPORTS:
            target = name.split(".")[1]
            assert (
                target in ALLOWED_NETBENCH_IMPORTS[layer] | {"__init__"} or target == "__version__"
            ), f"{path.relative_to(PACKAGE)} ({layer}) imports {name}: arrows must point down"


def test_no_module_over_500_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert not long, f"split these by responsibility: {long}"


def test_headless_modules_load_neither_textual_nor_scapy() -> None:
    code = (
        "import sys, netbench.cli, netbench.cli.serve, netbench.cli.send, netbench.cli.session, "
        "netbench.engine.engine, netbench.engine.clients, netbench.store.writer,"
        " netbench.store.reader, netbench.store.recorder, netbench.runtime;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'scapy', 'rich'));"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "", f"headless import pulled in: {result.stdout.strip()}"


def test_the_tuis_first_frame_loads_neither_the_engine_nor_the_store() -> None:
    # Issue 18: they load after the first frame (the recorder's own modules before it).
    code = (
        "import sys, netbench.ui.app, netbench.ui.screens.main;"
        "heavy = ('netbench.engine.engine', 'netbench.engine.kinds', 'netbench.store.reader',"
        " 'netbench.store.writer', 'netbench.capture');"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(heavy))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "", f"the first frame's modules pulled in: {result.stdout}"
