"""One recorded TCP connection: the base of every server and client protocol.

Rules of this module:
- a chunk IN is exactly what one recv returned: `BufferedProtocol` hands the
  kernel a buffer of `recv_size` bytes, so the user's recv buffer size is real;
- a chunk OUT is exactly what one `write()` call handed to the transport;
- how the connection ended is decided from what happened first: our own
  close/abort/timeout/stop, else the peer's RST, else who sent FIN first.
  A FIN the kernel holds behind bytes we have not read yet (a client that
  sends and closes at once) came first, though asyncio reports it last: the
  socket's TCP state (CLOSE_WAIT) is read when we close and when our FIN
  leaves, and the peer's FIN is then recorded before our close;
- subclasses implement `on_data`, and optionally `on_open`, `on_peer_fin`
  and `on_closed`; they never touch the transport directly, so every byte
  they write is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, cast

from netbench.engine.context import EngineContext
from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    SocketEventRecorded,
)
from netbench.model import (
    Direction,
    Endpoint,
    EndReason,
    Role,
    SocketEventKind,
    Transport,
)

FILE_SLICE = 256 * 1024
"""A file reply's bytes are read and written in slices this big, each a recorded chunk."""
_IN = Direction.IN
_OUT = Direction.OUT
_LINGER_RESET = struct.pack("ii", 1, 0)
_TCP_INFO = getattr(socket, "TCP_INFO", None)
_CLOSE_WAIT, _CLOSED = 8, 7
"""The kernel's TCP state numbers (include/net/tcp_states.h)."""


def endpoint(address: Any) -> Endpoint:
    if isinstance(address, tuple) and len(address) >= 2:
        return Endpoint(str(address[0]), int(address[1]))
    return Endpoint(str(address), 0)


class RecordedStream(asyncio.BufferedProtocol):
    """A TCP connection whose every byte and socket event is published."""

    role = Role.SERVER

    def __init__(
        self,
        ctx: EngineContext,
        *,
        server_id: int | None,
        recv_size: int,
        idle_timeout: float = 0.0,
    ) -> None:
        self.ctx = ctx
        self.server_id = server_id
        self.conn_id = 0
        self.via: int | None = None
        """The connection whose request caused this one (recorded when it opens)."""
        self.transport: asyncio.Transport | None = None
        self.local = Endpoint("", 0)
        self.peer = Endpoint("", 0)
        self.idle_timeout = idle_timeout
        self.bytes_in = 0
        self.bytes_out = 0
        self.opened_at = 0.0
        self._buffer = ctx.receive_buffer(max(1, recv_size))
        self._seq = 0
        self._last_activity = 0.0
        self._idle_handle: asyncio.TimerHandle | None = None
        self._end_reason: EndReason | None = None
        self._end_detail: str | None = None
        self._peer_fin = False
        self._local_fin = False
        self._peer_reset = False
        self._fin_delayed = False
        self._shut_down = False
        """Our FIN has been handed to the kernel (shutdown): its state no longer says who was first."""
        self._closed = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._held: list[tuple[bytes, float]] = []
        """Chunks read while reading was paused (uvloop: before the pause took hold)."""
        self.closed_event = asyncio.Event()
        self.on_closed_hooks: list[Callable[[], None]] = []
        """Called after the connection closed (the server's bookkeeping)."""

    # -- asyncio callbacks ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's TCPTransport has asyncio.Transport's
        # methods but not its class.
        self.transport = stream = cast(asyncio.Transport, transport)
        self.conn_id = self.ctx.next_conn_id()
        self.local = endpoint(transport.get_extra_info("sockname"))
        self.peer = endpoint(transport.get_extra_info("peername"))
        now = time.monotonic()
        self.opened_at = now
        self._last_activity = now
        self.ctx.publish(
            ConnectionOpened(
                self.conn_id,
                self.server_id,
                self.role,
                Transport.TCP,
                self.local,
                self.peer,
                now,
                self.via,
            )
        )
        opening = SocketEventKind.ACCEPT if self.role is Role.SERVER else SocketEventKind.CONNECT
        self.ctx.publish(SocketEventRecorded(self.conn_id, opening, now))
        self.ctx.streams.add(self)
        if self.ctx.reading_paused:
            stream.pause_reading()
        if self.idle_timeout > 0:
            self._idle_handle = asyncio.get_running_loop().call_later(
                self.idle_timeout, self._check_idle
            )
        self.on_open()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self._buffer[:nbytes])
        now = time.monotonic()
        if self.ctx.reading_paused:
            # uvloop starts reading right after connection_made, past the pause
            # asked there: hold what it read until reading resumes.
            self._held.append((data, now))
            self.set_reading(False)
            return
        self._received(data, now)

    def _received(self, data: bytes, now: float) -> None:
        nbytes = len(data)
        self._last_activity = now
        seq = self._seq
        self._seq = seq + 1
        self.ctx.publish(ChunkRecorded(self.conn_id, seq, _IN, self.bytes_in, data, now))
        self.bytes_in += nbytes
        try:
            self.on_data(data, seq, now)
        except Exception as error:
            self.ctx.internal_error(f"connection {self.conn_id}", error)
            self.abort(detail=f"internal error: {error!r}")

    def eof_received(self) -> bool | None:
        if self._peer_fin:
            return False  # already read from the kernel's state when we closed
        self._peer_fin = True
        self.ctx.publish(
            SocketEventRecorded(self.conn_id, SocketEventKind.PEER_FIN, time.monotonic())
        )
        keep_open = self.on_peer_fin()
        if not keep_open:
            self._note_close(SocketEventKind.CLOSE)
        return keep_open

    def connection_lost(self, exc: Exception | None) -> None:
        if self._held:
            self._release_held()
        now = time.monotonic()
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        reason = self._end_reason
        detail = self._end_detail
        if reason is None:
            if isinstance(exc, ConnectionResetError | BrokenPipeError):
                reason = EndReason.RST_PEER
                self.ctx.publish(SocketEventRecorded(self.conn_id, SocketEventKind.PEER_RESET, now))
            elif exc is not None:
                reason = EndReason.ERROR
                detail = str(exc) or type(exc).__name__
                self.ctx.publish(
                    SocketEventRecorded(self.conn_id, SocketEventKind.ERROR, now, detail)
                )
            elif (
                self._local_fin
                and self._fin_order_local_first
                and not (self._fin_delayed and self._peer_ended_first())
            ):
                reason = EndReason.FIN_LOCAL
            elif self._peer_reset and not self._peer_fin:
                reason = EndReason.RST_PEER
            else:
                reason = EndReason.FIN_PEER
        self._closed = True
        self.ctx.streams.discard(self)
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()
        self.on_ending(reason)
        self.ctx.publish(
            ConnectionClosed(self.conn_id, reason, now, self.bytes_in, self.bytes_out, detail)
        )
        self.closed_event.set()
        self.on_closed(reason)
        for hook in self.on_closed_hooks:
            hook()

    def set_reading(self, reading: bool) -> None:
        """Resume or pause reading the socket (the recorder's backpressure)."""
        if reading and self._held:
            self._release_held()
        transport = self.transport
        if transport is None or self._closed or transport.is_closing():
            return
        if self._peer_fin:
            return  # asyncio stopped reading at EOF: resuming would deliver the FIN again
        # uvloop raises RuntimeError when the socket's handle was closed before
        # `connection_lost` reached us (is_closing() still False): nothing to pause.
        with contextlib.suppress(RuntimeError):
            if reading:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def _release_held(self) -> None:
        """What was read while reading was paused, in order, as if it came now."""
        held, self._held = self._held, []
        for data, t in held:
            if not self._closed:
                self._received(data, t)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()

    # -- hooks for subclasses ---------------------------------------------------

    def on_open(self) -> None:
        """The connection is established and recorded."""

    def on_data(self, data: bytes, seq: int, t: float) -> None:
        """One chunk arrived (already recorded)."""

    def on_peer_fin(self) -> bool:
        """The peer half-closed. Return True to keep our side open (to answer)."""
        return False

    def on_ending(self, reason: EndReason) -> None:
        """The connection is gone, its close not yet published: what is still to
        record about it goes first (readers take the close as its last word)."""

    def on_closed(self, reason: EndReason) -> None:
        """The connection is gone and said so; release what it held."""

    def on_idle(self) -> None:
        """The idle timeout expired; by default close with reason `timeout`."""
        self.close(reason=EndReason.TIMEOUT)

    # -- actions (every write goes through here) --------------------------------

    @property
    def is_closing(self) -> bool:
        return self._closed or self.transport is None or self.transport.is_closing()

    def write(self, data: bytes, t: float | None = None) -> int:
        """Send bytes as one recorded chunk; returns the chunk's seq (-1 if closed).

        `t` is when, if the caller just read the clock (this runs per response)."""
        transport = self.transport
        if not data or self._closed or transport is None or transport.is_closing():
            return -1
        seq = self._seq
        self._seq = seq + 1
        self.ctx.publish(
            ChunkRecorded(
                self.conn_id, seq, _OUT, self.bytes_out, data, time.monotonic() if t is None else t
            )
        )
        self.bytes_out += len(data)
        transport.write(data)
        return seq

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until the kernel took our writes (flow control for big bodies)."""
        if not self._write_paused or self._closed:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        await asyncio.wait_for(waiter, timeout)

    def shutdown_write(self) -> None:
        """Half-close: send FIN, keep reading."""
        if self.is_closing or self._local_fin:
            return
        assert self.transport is not None
        if self.transport.can_write_eof():
            self._note_close(SocketEventKind.SHUTDOWN)
            self._shut_down = True
            self.transport.write_eof()

    def close(self, *, reason: EndReason | None = None, detail: str | None = None) -> None:
        """Close gracefully (FIN after pending writes)."""
        if self.is_closing:
            return
        assert self.transport is not None
        if reason is not None and self._end_reason is None:
            self._end_reason, self._end_detail = reason, detail
        event = SocketEventKind.TIMEOUT if reason is EndReason.TIMEOUT else SocketEventKind.CLOSE
        self._note_close(event, detail)
        # Our FIN waits behind unsent bytes: the peer's may overtake it (asked again at the end).
        self._fin_delayed = self.transport.get_write_buffer_size() > 0
        self.transport.close()

    def abort(self, *, reason: EndReason = EndReason.RST_LOCAL, detail: str | None = None) -> None:
        """Reset the connection: SO_LINGER 0 makes close() send RST, not FIN."""
        if self.transport is None or self._closed:
            return
        if self._end_reason is None:
            self._end_reason, self._end_detail = reason, detail
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self.ctx.publish(
            SocketEventRecorded(self.conn_id, SocketEventKind.ABORT, time.monotonic(), detail)
        )
        self.transport.abort()

    async def write_all(self, pieces: AsyncIterator[bytes]) -> tuple[tuple[int, int], float]:
        """Write each piece as a recorded chunk, with flow control, until the connection
        closes: ((first, last) seq written, -1 if none), and when the first left."""
        first = last = -1
        t_first = 0.0
        async for data in pieces:
            if self.is_closing:
                break
            seq = self.write(data)
            if seq >= 0:
                first, t_first = (seq, time.monotonic()) if first < 0 else (first, t_first)
                last = seq
            await self.drain()
        return (first, last), t_first

    async def send_file(self, path: str, offset: int, length: int) -> tuple[tuple[int, int], float]:
        """`write_all` of `length` bytes of a file from `offset`, a chunk per slice read."""

        async def slices() -> AsyncGenerator[bytes, None]:
            # Reads come from the page cache in 256 KiB slices between drains; a
            # thread hop per slice would cost more than the read itself.
            with open(path, "rb") as file:  # noqa: ASYNC230
                file.seek(offset)
                remaining = length
                while remaining > 0 and (data := file.read(min(FILE_SLICE, remaining))):
                    remaining -= len(data)  # a file that shrank: the client sees a short body
                    yield data

        async with contextlib.aclosing(slices()) as pieces:
            return await self.write_all(pieces)

    def touch(self) -> None:
        """Restart the idle clock (activity that is not a received byte)."""
        self._last_activity = time.monotonic()

    def rearm_idle(self) -> None:
        """Check idleness again after another full timeout."""
        if self.idle_timeout > 0 and self._idle_handle is None and not self.is_closing:
            self._idle_handle = asyncio.get_running_loop().call_later(
                self.idle_timeout, self._check_idle
            )

    # -- internals ------------------------------------------------------------------

    _fin_order_local_first = False

    def _note_close(self, kind: SocketEventKind, detail: str | None = None) -> None:
        if not self._local_fin:
            self._local_fin = True
            self._peer_ended_first()
            self._fin_order_local_first = not self._peer_fin
        self.ctx.publish(SocketEventRecorded(self.conn_id, kind, time.monotonic(), detail))

    def _peer_ended_first(self) -> bool:
        """Whether the peer's FIN or RST waits unread in the kernel (recorded now if so).

        Asked when we close and again just before our FIN leaves (a reply still
        draining holds it back): while our FIN has not left, CLOSE_WAIT means the
        peer's FIN came first; CLOSE means a RST came, after a FIN when the
        kernel's pending error is EPIPE (tcp_reset() in CLOSE_WAIT), alone
        when it is ECONNRESET."""
        if self._peer_fin or self._shut_down or _TCP_INFO is None or self.transport is None:
            return False
        sock = self.transport.get_extra_info("socket")
        try:
            state = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 1)[0] if sock else 0
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if state == _CLOSED else 0
        except OSError:
            return False
        now = time.monotonic()
        if state == _CLOSE_WAIT or error == errno.EPIPE:
            self._peer_fin = True
            self.ctx.publish(SocketEventRecorded(self.conn_id, SocketEventKind.PEER_FIN, now))
        if state == _CLOSED and error in (errno.EPIPE, errno.ECONNRESET):
            self._peer_reset = True
            self.ctx.publish(SocketEventRecorded(self.conn_id, SocketEventKind.PEER_RESET, now))
        return self._peer_fin or self._peer_reset

    def _check_idle(self) -> None:
        self._idle_handle = None
        if self.is_closing:
            return
        remaining = self._last_activity + self.idle_timeout - time.monotonic()
        if remaining > 0.001:
            self._idle_handle = asyncio.get_running_loop().call_later(remaining, self._check_idle)
            return
        self.on_idle()
