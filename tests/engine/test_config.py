"""Server settings: what counts as private to this machine, and the limit options."""

from __future__ import annotations

import pytest

from netbench.cli import build_parser
from netbench.cli.serve import limits_from
from netbench.engine.config import is_loopback_host


@pytest.mark.parametrize(
    ("host", "private"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),  # all of 127.0.0.0/8 is loopback
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("myhost.lan", False),
    ],
)
def test_is_loopback_host(host: str, private: bool) -> None:
    assert is_loopback_host(host) is private


def test_limits_given_before_or_after_serve_both_count() -> None:
    parser = build_parser()
    before = parser.parse_args(["--max-body", "5", "--allow-host", "a.test", "serve", "http"])
    after = parser.parse_args(["serve", "http", "--max-body", "5", "--allow-host", "a.test"])
    for args in (before, after):
        limits = limits_from(args)
        assert (limits.max_body, limits.allowed_hosts) == (5, ("a.test",))
    defaults = limits_from(parser.parse_args(["serve", "http"]))
    assert defaults.max_body == 100 << 20 and defaults.allowed_hosts == () and not defaults.any_host
