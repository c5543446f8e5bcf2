"""The user's settings file: key remapping and theme.

`config.toml` in the platform's config directory (`netbench --help` and the
help screen print its path; `NETBENCH_CONFIG_DIR` overrides it):

    theme = "textual-light"

    [keymap]
    "traffic.follow" = "F"          # binding id = key(s), comma-separated
    "app.quit" = "ctrl+q,ctrl+c"

Every binding in netbench has an id (shown in the help screen, F1). A bad
file never stops the app: the problem is shown and the defaults apply; an
id no binding has is reported. A theme picked in the command palette is
written back to the file's top-level `theme` line (the rest is left as is).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs


def config_path() -> Path:
    base = os.environ.get("NETBENCH_CONFIG_DIR")
    directory = Path(base) if base else Path(platformdirs.user_config_dir("netbench"))
    return directory / "config.toml"


@dataclass(frozen=True, slots=True)
class Settings:
    keymap: dict[str, str] = field(default_factory=dict)
    theme: str | None = None
    problem: str | None = None
    """Why the file was (partly) ignored, for a notification."""


def load_settings(path: Path | None = None) -> Settings:
    path = path or config_path()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        return Settings(problem=f"{path}: {error}")
    keymap = document.get("keymap", {})
    theme = document.get("theme")
    problems = []
    if not isinstance(keymap, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in keymap.items()
    ):
        problems.append("[keymap] must map binding ids to key strings")
        keymap = {}
    if theme is not None and not isinstance(theme, str):
        problems.append("theme must be a string")
        theme = None
    return Settings(keymap, theme, f"{path}: {'; '.join(problems)}" if problems else None)


_THEME_LINE = re.compile(r"^theme\s*=.*$", re.MULTILINE)
_FIRST_TABLE = re.compile(r"^\s*\[", re.MULTILINE)


def save_theme(theme: str, path: Path | None = None) -> str | None:
    """Write `theme = "..."` into the file (created if missing); a problem line, or None."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as error:
        return f"Theme not saved: {path}: {error}"
    line = f"theme = {json.dumps(theme)}"  # a JSON string is a TOML basic string
    table = _FIRST_TABLE.search(text)
    top, rest = (text[: table.start()], text[table.start() :]) if table else (text, "")
    if _THEME_LINE.search(top):
        top = _THEME_LINE.sub(lambda _match: line, top, count=1)
    else:
        top = f"{line}\n{top}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(top + rest, encoding="utf-8")
    except OSError as error:
        return f"Theme not saved: {path}: {error}"
    return None
