"""What a user can set on a server, and each kind's defaults.

The defaults of the seed kinds are the tutorials' own values (seed 000 listens
with a backlog of 3 and reads `recv(1024)`, seed 001 `listen(5)` and
`recv(2048)`, seed 002 a 5 s timeout), so a preset behaves exactly like the
program it reproduces.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from netbench.model import SERVER_KINDS
from netbench.protocol.limits import HttpLimits, is_loopback

SEED_PORTS: dict[str, int] = {
    "http": 8000,  # seeds 000, 003, 004
    "static": 8000,  # SimpleHTTPServer's default
    "reply": 8000,  # seed 000
    "echo": 5000,  # seed 001
    "prefix-echo": 50014,  # seed 002
    "time": 8013,
    "udp-echo": 5000,
}
"""Each kind's default port: the one its seed program used."""


def is_loopback_host(host: str) -> bool:
    """Whether binding `host` keeps a server private to this machine (else: warn)."""
    return is_loopback(host.strip("[]").lower().rstrip("."))


@dataclass(frozen=True, slots=True)
class ServerConfig:
    kind: str
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    backlog: int = 128
    """listen(backlog): how many finished handshakes may wait for accept()."""
    recv_size: int = 65536
    """The bufsize of each recv(): a chunk is never larger than this."""
    idle_timeout: float = 0.0
    """Seconds without a byte from the peer before the server closes; 0 = never."""
    keep_alive: bool = True
    """HTTP only: keep the connection open after a response when the client allows."""
    text: str = "Yes"
    """reply: what every connection gets."""
    timeout_message: str | None = None
    """prefix-echo: sent to a client silent past the idle timeout, before closing.
    None: close without a word, as seed 002 (which prints 'Time Out' on its own console)."""
    root: Path | None = None
    """static: the directory served."""
    response_file: Path | None = None
    """http: answer with the raw response in this file (reloaded when saved)."""
    rules_file: Path | None = None
    """http: TOML rules mapping method + path to response files (reloaded)."""
    raw: bool = False
    """http: send response files byte for byte (no CRLF or Content-Length fixes)."""
    follow_symlinks: bool = False
    """static: serve symlinks that lead outside the root."""
    limits: HttpLimits = field(default_factory=HttpLimits)
    """What a client may send (HTTP kinds) and how many may connect (every TCP kind)."""
    extra: dict[str, str] = field(default_factory=dict)

    def options(self) -> dict[str, object]:
        """The settings that matter for this kind, JSON-serialisable, for the record."""
        values: dict[str, object] = {
            "backlog": self.backlog,
            "recv_size": self.recv_size,
            "idle_timeout": self.idle_timeout,
        }
        if self.kind in ("http", "static"):
            values["keep_alive"] = self.keep_alive
            values.update(self.limits.options())
        elif self.kind != "udp-echo":
            values["max_connections"] = self.limits.max_connections
        if self.kind == "reply":
            values["text"] = self.text
        if self.kind == "prefix-echo" and self.timeout_message is not None:
            values["timeout_message"] = self.timeout_message
        if self.kind == "static" and self.root is not None:
            values["root"] = str(self.root)
            values["follow_symlinks"] = self.follow_symlinks
        if self.kind == "http":
            for name in ("response_file", "rules_file"):
                value = getattr(self, name)
                if value is not None:
                    values[name] = str(value)
            values["raw"] = self.raw
        return values


_DEFAULTS: dict[str, dict[str, object]] = {
    "http": {"backlog": 128, "recv_size": 65536, "idle_timeout": 15.0},
    "static": {"backlog": 128, "recv_size": 65536, "idle_timeout": 15.0},
    "echo": {"backlog": 5, "recv_size": 2048, "idle_timeout": 300.0},
    "reply": {"backlog": 3, "recv_size": 1024, "idle_timeout": 30.0},
    "prefix-echo": {"backlog": 5, "recv_size": 1024, "idle_timeout": 5.0},
    "time": {"backlog": 5, "recv_size": 1024, "idle_timeout": 0.0},
    "udp-echo": {"backlog": 0, "recv_size": 65535, "idle_timeout": 60.0},
}
assert set(_DEFAULTS) == set(SERVER_KINDS)


def default_config(kind: str, **overrides: object) -> ServerConfig:
    """A kind's config with its seed defaults, then the caller's overrides.

    Overrides whose value is None are ignored, so CLI options left unset keep
    the kind's default.
    """
    if kind not in _DEFAULTS:
        raise ValueError(f"unknown server kind {kind!r} (one of {', '.join(SERVER_KINDS)})")
    config = replace(ServerConfig(kind=kind), **_DEFAULTS[kind])  # type: ignore[arg-type]
    given = {name: value for name, value in overrides.items() if value is not None}
    return replace(config, **given)  # type: ignore[arg-type]
