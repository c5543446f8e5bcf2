"""A normal HTTP request, as any client sends it, for tests that check a server still serves."""

from __future__ import annotations

import http.client


def status_of(port: int, path: str = "/", timeout: float = 2.0) -> int:
    """GET `path` from 127.0.0.1:`port` with http.client; the status (fails past `timeout`)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()
