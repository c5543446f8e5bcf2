"""The seed tutorials' plain TCP servers: echo, reply, prefix-echo and time.

Each reproduces its seed program's behaviour on the wire exactly, with the
seed's buffer sizes and backlog as defaults (see engine/config.py):
- echo (seed 001): every chunk is sent straight back until the client closes;
- reply (seed 000): read one chunk, answer the fixed text ("Yes"), close;
- prefix-echo (seed 002): read one chunk, answer b"Echo=>" + chunk, close;
  with nothing received within the timeout, close without a word (the seed
  prints 'Time Out' on its console: here the close detail says it), or send
  the server's `timeout_message` first when it has one;
- time (seed 004's suggestion): send the date and time, close.
"""

from __future__ import annotations

import datetime
from typing import Any

from netbench.engine.stream import RecordedStream
from netbench.events import HttpRequestRecorded, HttpResponseRecorded
from netbench.model import EndReason, HttpRequest
from netbench.protocol.http_parse import ParsedRequest, ParseFailure, RequestReader
from netbench.protocol.limits import OPTION
from netbench.protocol.responses import Reply, error_page


class EchoConnection(RecordedStream):
    def on_data(self, data: bytes, seq: int, t: float) -> None:
        self.write(data)


class ReplyConnection(RecordedStream):
    """Seed 000: `request = conn.recv(1024); conn.sendall(reply); conn.close()`."""

    reply = b"Yes"

    def on_data(self, data: bytes, seq: int, t: float) -> None:
        self.write(self.reply)
        self.close()

    def on_peer_fin(self) -> bool:
        # The seed's recv() returns b"" on FIN and it still sends its reply.
        self.write(self.reply)
        return False


class PrefixEchoConnection(RecordedStream):
    """Seed 002: `conn.settimeout(5); data = conn.recv(1024); conn.send('Echo=>' + data)`."""

    prefix = b"Echo=>"
    timeout_message = b""
    """Sent before closing a silent client; empty: nothing, as the seed."""

    def on_data(self, data: bytes, seq: int, t: float) -> None:
        self.write(self.prefix + data)
        self.close()

    def on_idle(self) -> None:
        # The seed's `except socket.timeout: print 'Time Out'` is a line on the
        # server's console, not bytes to the client: the close detail says it.
        self.write(self.timeout_message)  # nothing when empty
        seconds = f"{self.idle_timeout:g}"
        detail = f"Time Out: nothing received in {seconds} s"
        self.close(reason=EndReason.TIMEOUT, detail=detail)


class TimeConnection(RecordedStream):
    def on_open(self) -> None:
        now = datetime.datetime.now().astimezone()
        self.write(now.strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)\r\n").encode())
        self.close()


class OverCapacity(RecordedStream):
    """A connection past the server's --max-connections: answered at once and closed.

    HTTP servers send a 503 page naming the option (a browser shows why);
    the plain TCP kinds have no way to say it on the wire and just close.
    After the page, a lingering close: FIN, then whatever the client still
    sends is read (and recorded) for up to a second, so a request already on
    its way does not turn our close into a RST that would destroy the page
    before the client reads it. Recorded like any connection, the reason in
    its close detail; the 503 is an exchange whose request is the first one
    the client sent while it lingered (or an empty one), with the refusal as
    its error and the accept's time as its start: it was answered unread.
    """

    LINGER = 1.0

    def __init__(self, *args: Any, cap: int, http: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cap = cap
        self.http = http
        self.idle_timeout = self.LINGER
        self.detail = f"over {OPTION['max_connections']} {cap}"
        self._end_detail = self.detail  # however it ends, the record says why
        self._page: Reply | None = None
        self._page_seq = -1
        self._reader = RequestReader()

    def on_open(self) -> None:
        if not self.http:
            self.close(detail=self.detail)
            return
        page = self._page = error_page(
            503,
            f"This server already has {self.cap} open connections, its limit "
            f"({OPTION['max_connections']} raises it). Try again when one closes.",
            headers=((b"Retry-After", b"1"),),
        )
        if page.simple is not None:
            self._page_seq = self.write(page.simple)
        self.shutdown_write()

    def on_data(self, data: bytes, seq: int, t: float) -> None:
        if self._page is not None:
            for read in self._reader.feed(data, seq, t):
                self._record_exchange(read)
                break

    def on_closed(self, reason: EndReason) -> None:
        if self._page is not None:
            how = "reset" if reason in (EndReason.RST_PEER, EndReason.RST_LOCAL) else "closed"
            self._record_exchange(self._reader.feed_eof(how))

    def on_idle(self) -> None:
        self.close(detail=self.detail)

    def _record_exchange(self, read: ParsedRequest | ParseFailure | None) -> None:
        """The 503 and the request it refused (as far as it arrived), once."""
        page, self._page = self._page, None
        if page is None:
            return
        error = f"not served: {self.detail} (answered 503 on accept, unread)"
        if read is None:
            request = HttpRequest(b"", b"", "", (), b"", 0, keep_alive=False, error=error)
            first = last = -1
        else:
            why = f"{error}; {read.request.error}" if read.request.error else error
            request = read.request._replace(error=why)
            first, last = read.first_chunk, read.last_chunk
        exchange_id = self.ctx.next_exchange_id()
        at = self.opened_at
        self.ctx.publish(
            HttpRequestRecorded(exchange_id, self.conn_id, 0, request, first, last, at, at)
        )
        seq = self._page_seq
        self.ctx.publish(
            HttpResponseRecorded(exchange_id, self.conn_id, page.response, seq, seq, at, at)
        )
