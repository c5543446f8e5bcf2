"""The servers panel's presets: one key per seed program, and what each does differently."""

from __future__ import annotations

from netbench.engine.config import SEED_PORTS

PRESETS: tuple[tuple[str, int, str], ...] = (
    ("http", SEED_PORTS["http"], "Page server"),
    ("echo", SEED_PORTS["echo"], "Echo"),
    ("reply", SEED_PORTS["reply"], 'Reply "Yes"'),
    ("prefix-echo", SEED_PORTS["prefix-echo"], 'Prefix echo "Echo=>"'),
    ("static", SEED_PORTS["static"], "Static files (current directory)"),
    ("time", SEED_PORTS["time"], "Time"),
    ("udp-echo", SEED_PORTS["udp-echo"], "UDP echo"),
)
"""Keys 1-7: (kind, its seed port, what the footer and help call it)."""
PRESET_NOTES: dict[str, str] = {
    "http": "test.jpg goes out as image/jpeg, the registered type: seed 004 wrote image/jpg, "
    "which is not one",
    "prefix-echo": "a client silent for 5 s is closed without a word, as seed 002 (which prints "
    "Time Out on its own console); the add form's Timeout text sends one first",
}
"""Where a preset knowingly differs from its seed, or does what a reader might not expect:
the key's tooltip and the notice when the preset starts."""
