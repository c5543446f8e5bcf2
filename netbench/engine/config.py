"""What a user can set on a server; each kind's defaults come from its registry entry.

The defaults of the seed kinds are the tutorials' own values (seed 000 listens
with a backlog of 3 and reads `recv(1024)`, seed 001 `listen(5)` and
`recv(2048)`, seed 002 a 5 s timeout; engine/kinds/seeds.py), so a preset
behaves exactly like the program it reproduces.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from netbench.protocol.limits import HttpLimits, is_loopback


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
    kind_options: dict[str, object] = field(default_factory=dict)
    """The options a kind declares beyond these fields (wsgi's app...), by name
    (engine/registry.py)."""

    def value(self, name: str) -> object:
        """An option's value: this config's field of that name, else its kind option."""
        if name in _FIELDS:
            return getattr(self, name)
        return self.kind_options.get(name)


_FIELDS = frozenset(ServerConfig.__dataclass_fields__)


def default_config(kind: str, **overrides: object) -> ServerConfig:
    """A kind's config with its seed defaults, then the caller's overrides.

    Overrides whose value is None are ignored, so CLI options left unset keep
    the kind's default. Names that are not ServerConfig fields are the kind's
    own options (kept in `kind_options`). Raises ValueError for an unknown kind.
    """
    from netbench.engine import registry  # the registry's kind modules import this one

    spec = registry.get(kind)
    values: dict[str, object] = dict(spec.defaults)
    values.update((name, value) for name, value in overrides.items() if value is not None)
    own = {
        option.name: option.default
        for option in spec.options
        if option.name not in _FIELDS and option.default is not None
    }
    own.update((name, values.pop(name)) for name in list(values) if name not in _FIELDS)
    return replace(ServerConfig(kind=kind), **values, kind_options=own)  # type: ignore[arg-type]
