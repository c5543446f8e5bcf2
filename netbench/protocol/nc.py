"""The raw form: `printf '...' | nc HOST PORT` sends a recorded request's exact bytes. Pure.

Every byte goes through `printf` octal escapes (`protocol.shell`), so the
line is inert text and a malformed request (LF-only lines, NUL bytes, a
lying Content-Length, binary garbage) arrives exactly as recorded. A body
over `BODY_INLINE_LIMIT` bytes is read from the body file the caller
writes: `{ printf HEAD; cat FILE; } | nc HOST PORT`.

`nc` waits for the server to close. A keep-alive server keeps the
connection open until its idle timeout: OpenBSD nc's `-N` (close after
the input ends) or Ctrl-C ends it sooner.
"""

from __future__ import annotations

from netbench.protocol.shell import printf_command, quote
from netbench.protocol.wire_request import BODY_INLINE_LIMIT, Export, WireRequest, server_parts

__all__ = ["nc_export"]


def nc_export(wire: WireRequest, server: str, body_file: str) -> Export:
    """A shell line sending exactly `wire.raw` to `server` (`host:port`) with nc."""
    host, port = server_parts(server)
    nc = f"nc {quote(host)} {port}"
    if len(wire.body) <= BODY_INLINE_LIMIT:
        return Export(f"{printf_command(wire.raw)} | {nc}")
    head = printf_command(wire.head)
    return Export(f"{{ {head}; cat {quote(body_file)}; }} | {nc}", wire.body)
