"""The CLI's event printer: one line per event, human or JSON lines.

Every piece of network-derived text goes through textsafe before it is
printed, so a request for `/\\x1b]0;pwned\\x07` cannot retitle the terminal.

JSON keys are stable (scripts rely on them, docs/cli.md lists them):
event, ts (unix seconds), server, conn, exchange, peer, local, role,
transport, method, path, status, bytes_in, bytes_out, duration_ms, reason,
detail, url, kind, session, loop (the event loop serving: uvloop or
asyncio). For `exchange` lines bytes_in/bytes_out are the
request and response body sizes; for `close` lines, every byte of the
connection. `packet` lines (capture on) carry conn (null when the packet
matches no connection netbench saw: a refused connect), src, dst, flags
(scapy's letters: S, SA, A, PA, FA, R...), seq, ack (raw, as on the wire),
rel_seq, rel_ack (relative to each side's initial sequence number; rel_ack
null without the ACK flag), win (the window in bytes, scaled as the SYNs
agreed) and len (payload bytes): the human line shows the TCP tab's form,
relative numbers and the scaled window (protocol/tcp_tracker.py reads both).
Their ts is the kernel's capture time, and they arrive in batches ~30 ms
behind the events of the same moment; so while capture runs every line waits
HOLD_WHILE_CAPTURING before it is printed, and lines print in time order (a
packet later than that prints when it comes). `capture` lines carry running,
detail and dropped.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import sys
import time
from typing import IO, Any

from netbench.engine.loop import running_name
from netbench.engine.registry import server_url
from netbench.events import (
    CaptureStatus,
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    HttpRequestRecorded,
    HttpResponseRecorded,
    PacketCaptured,
    ServerStarted,
    ServerStopped,
)
from netbench.model import Direction, Endpoint, HttpRequest, TcpPacket, connected
from netbench.protocol.tcp_tracker import TcpTracker, flag_label, pick_client
from netbench.protocol.textsafe import visible, visible_latin1, visible_text

_TUPLES_KEPT = 4096
"""Connections whose 4-tuple stays known after they close: their last FIN or
ACK may be published after ConnectionClosed (capture runs on its own clock)."""


HOLD_WHILE_CAPTURING = 0.1
"""Seconds a line waits while capture runs: packets come ~30 ms behind (20 ms
batches, then the pipe), and without the wait a handshake printed after the
request it carried, its timestamps running backwards."""


def _host(endpoint: Endpoint) -> tuple[str, int]:
    # A dual-stack socket names an IPv4 peer "::ffff:127.0.0.1"; the wire says 127.0.0.1.
    host = endpoint.host.removeprefix("::ffff:") if "." in endpoint.host else endpoint.host
    return host, endpoint.port


CLOSED_PEERS = 1024
"""How many closed connections' peers the printer keeps for late exchange lines."""


class EventPrinter:
    def __init__(
        self,
        *,
        json_lines: bool = False,
        verbose: bool = False,
        session: str | None = None,
        out: IO[str] | None = None,
    ) -> None:
        self.json_lines = json_lines
        self.verbose = verbose
        self.session = session
        self.out = out or sys.stdout
        self._offset = time.time() - time.monotonic()
        self._peers: dict[int, Endpoint] = {}
        self._closed_peers: dict[int, Endpoint] = {}
        """The last CLOSED_PEERS closed connections' peers: an exchange can be recorded
        after its connection closed (an answer sent before a client left mid-body, a
        proxy's 502 for a reset leg), and its line names the peer as every line does."""
        self._requests: dict[int, HttpRequestRecorded] = {}
        self._legs: set[int] = set()
        """Open connections a proxy made for a client (`via`): their responses are
        recorded by the proxy, possibly after the close that ended them."""
        self._tuples: dict[tuple[tuple[str, int], tuple[str, int]], int] = {}
        self._trackers: dict[frozenset[Endpoint], TcpTracker] = {}
        """One per connection seen in packets (both directions), the oldest dropped first."""
        self._capturing = False
        self._held: list[tuple[float, int, str]] = []
        """(unix time, arrival, text): lines waiting while capture runs, a heap."""
        self._arrival = itertools.count()
        self._release_timer: asyncio.TimerHandle | None = None

    def wall(self, t: float) -> float:
        return self._offset + t

    def __call__(self, event: Event) -> None:
        if isinstance(event, PacketCaptured):
            self._packet(event.packet)
        elif isinstance(event, ChunkRecorded):
            if self.verbose:
                self._chunk(event)
        elif isinstance(event, HttpRequestRecorded):
            self._requests[event.exchange_id] = event
        elif isinstance(event, HttpResponseRecorded):
            request = self._requests.pop(event.exchange_id, None)
            self._exchange(request, event)
        elif isinstance(event, ConnectionOpened):
            self._peers[event.conn_id] = event.peer
            self._remember(event)
            if event.via is not None:
                self._legs.add(event.conn_id)
            via = {} if event.via is None else {"via": event.via}
            self._emit(
                "open",
                event.t,
                f"#{event.conn_id} open {connected(event.role, event.local, event.peer)}"
                + ("" if event.via is None else f" for #{event.via}"),
                conn=event.conn_id,
                server=event.server_id,
                peer=str(event.peer),
                local=str(event.local),
                role=event.role.value,
                transport=event.transport.value,
                **via,
            )
        elif isinstance(event, ConnectionClosed):
            self._closed(event)
        elif isinstance(event, ServerStarted):
            url = server_url(event.kind, event.transport, event.address)
            where = f", recording to {self.session}" if self.session else ""
            self._emit(
                "listening",
                event.t,
                f"listening on {url} ({event.kind}{where})",
                url=url,
                kind=event.kind,
                server=event.server_id,
                host=event.address.host,
                port=event.address.port,
                session=self.session,
                loop=running_name(),
            )
        elif isinstance(event, ServerStopped):
            self._emit(
                "stopped", event.t, f"server {event.server_id} stopped", server=event.server_id
            )
        elif isinstance(event, CaptureStatus):
            self._capture(event)

    def _remember(self, event: ConnectionOpened) -> None:
        local, peer = _host(event.local), _host(event.peer)
        self._tuples[local, peer] = self._tuples[peer, local] = event.conn_id
        while len(self._tuples) > 2 * _TUPLES_KEPT:
            del self._tuples[next(iter(self._tuples))]  # the oldest first

    def _packet(self, packet: TcpPacket) -> None:
        step = self._tracker(packet).feed(packet)
        if step is None:
            return  # a loopback copy of a packet already printed (the TCP tab drops it too)
        conn = self._tuples.get((_host(packet.src), _host(packet.dst)))
        where = f"#{conn}" if conn is not None else "#-"
        ack = "" if step.rel_ack is None else f" ack={step.rel_ack}"
        marks = "".join(f"  {mark}" for mark in sorted(step.marks) if mark != "rst")
        self._emit_at(
            "packet",
            packet.t,
            f"{where} {packet.src} > {packet.dst} {flag_label(packet.flags)}"
            f" seq={step.rel_seq}{ack} win={step.window} len={packet.payload_len}{marks}",
            conn=conn,
            src=str(packet.src),
            dst=str(packet.dst),
            flags=packet.flags,
            seq=packet.seq,
            ack=packet.ack,
            rel_seq=step.rel_seq,
            rel_ack=step.rel_ack,
            win=step.window,
            len=packet.payload_len,
        )

    def _tracker(self, packet: TcpPacket) -> TcpTracker:
        """The tracker of the packet's connection; a new one for a new client's SYN."""
        key = frozenset((packet.src, packet.dst))
        tracker = self._trackers.get(key)
        new_syn = packet.flags == "S" and tracker is not None and tracker.client != packet.src
        if tracker is None or new_syn:
            client, server = pick_client([packet]) or (packet.src, packet.dst)
            tracker = self._trackers[key] = TcpTracker(client, server, keep_steps=False)
            while len(self._trackers) > _TUPLES_KEPT:
                del self._trackers[next(iter(self._trackers))]  # the oldest first
        return tracker

    def _capture(self, event: CaptureStatus) -> None:
        if not event.running:
            self.flush()  # what waited came first: "server 1 stopped" before "capture stopped"
        self._capturing = event.running
        detail = visible_text(event.detail)
        # "capturing ...", "capture stopped" say it all; a reason needs the state.
        text = detail if detail.startswith("captur") else f"capture off: {detail}"
        drops = f" ({event.dropped} packets dropped by the kernel)" if event.dropped else ""
        self._emit(
            "capture",
            event.t,
            text + drops,
            running=event.running,
            detail=event.detail,
            dropped=event.dropped,
        )

    def message(self, event: str, text: str, **fields: Any) -> None:
        """A line that is not an engine event (recording stopped, warnings)."""
        self._emit(event, time.monotonic(), text, **fields)

    def _closed(self, event: ConnectionClosed) -> None:
        # Requests that never got an answer still deserve a line; an upstream leg's
        # gets its line from the record the proxy makes next (a reset upstream: its
        # 502), one line per exchange as the session holds one.
        if event.conn_id in self._legs:
            self._legs.discard(event.conn_id)
        else:
            for exchange_id, request in list(self._requests.items()):
                if request.conn_id == event.conn_id:
                    del self._requests[exchange_id]
                    self._exchange(request, None)
        peer = self._peers.pop(event.conn_id, None)
        if peer is not None:
            self._closed_peers[event.conn_id] = peer
            if len(self._closed_peers) > CLOSED_PEERS:
                del self._closed_peers[next(iter(self._closed_peers))]
        detail = f" ({visible(event.detail.encode())})" if event.detail else ""
        self._emit(
            "close",
            event.t,
            f"#{event.conn_id} close {event.reason.value}{detail}, "
            f"{event.bytes_in} B in, {event.bytes_out} B out",
            conn=event.conn_id,
            peer=str(peer) if peer else None,
            reason=event.reason.value,
            detail=event.detail,
            bytes_in=event.bytes_in,
            bytes_out=event.bytes_out,
        )

    def _exchange(
        self, request: HttpRequestRecorded | None, response: HttpResponseRecorded | None
    ) -> None:
        conn_id = request.conn_id if request else response.conn_id if response else 0
        exchange_id = request.exchange_id if request else response.exchange_id if response else 0
        req: HttpRequest | None = request.request if request else None
        method = visible_latin1(req.method) if req and req.method else "?"
        path = visible_latin1(req.target) if req and req.target else "?"
        status = response.response.status if response else None
        t_end = response.t_end if response else (request.t_end if request else time.monotonic())
        t_start = request.t_start if request else t_end
        duration_ms = round((t_end - t_start) * 1000, 3)
        error = (req.error if req and req.error else None) or (
            response.response.error if response and response.response.error else None
        )
        # "???": bytes came that were no response; none came: "no response".
        answered = response is not None and response.first_chunk >= 0
        shown_status = str(status) if status is not None else "???" if answered else "no response"
        # An app's traceback follows its first line, indented (JSON has it all in `error`).
        summary, _, details = (error or "").partition("\n")
        tail = f" [{visible(summary.encode())}]" if error else ""
        bytes_in = req.body_len if req else 0
        bytes_out = response.response.body_len if response else 0
        self._emit(
            "exchange",
            t_end,
            f"#{conn_id} {method} {path} -> {shown_status} "
            f"(body {bytes_in} B in, {bytes_out} B out, {duration_ms:g} ms){tail}",
            conn=conn_id,
            exchange=exchange_id,
            peer=str(self._peers.get(conn_id) or self._closed_peers.get(conn_id) or "") or None,
            method=req.method.decode("latin-1") if req else None,
            path=req.target.decode("latin-1") if req else None,
            status=status,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            duration_ms=duration_ms,
            error=error,
            more_lines=[]
            if self.json_lines
            else ["    " + visible_text(line) for line in details.splitlines()],
        )

    def _chunk(self, event: ChunkRecorded) -> None:
        arrow = "<-" if event.direction is Direction.IN else "->"
        shown = visible(event.data[:200])
        more = "…" if len(event.data) > 200 else ""
        self._emit(
            "chunk",
            event.t,
            f"#{event.conn_id} {arrow} {len(event.data)} B {shown}{more}",
            conn=event.conn_id,
            seq=event.seq,
            dir=event.direction.value,
            len=len(event.data),
            offset=event.offset,
            data_hex=event.data.hex(),
        )

    def _emit(self, event: str, t: float, text: str, **fields: Any) -> None:
        self._emit_at(event, self.wall(t), text, **fields)

    def _emit_at(
        self, event: str, ts: float, text: str, more_lines: list[str] | None = None, **fields: Any
    ) -> None:
        """A line stamped with unix time `ts` (human lines: `more_lines` under it)."""
        if self.json_lines:
            line = json.dumps({"event": event, "ts": round(ts, 6), **fields}, ensure_ascii=True)
        else:
            clock = time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
            line = "\n".join([f"{clock} {text}", *(more_lines or ())])
        self._print(ts, line)

    def _print(self, ts: float, line: str) -> None:
        if not self._capturing:  # the usual case, a line per event: straight out
            self._write(line)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # fed by hand, off a loop: nothing to wait for
            self._write(line)
            return
        heapq.heappush(self._held, (ts, next(self._arrival), line))
        if self._release_timer is None:
            self._release_timer = loop.call_later(HOLD_WHILE_CAPTURING, self._release)

    def _release(self) -> None:
        """Print the lines that waited long enough, in time order."""
        self._release_timer = None
        due = time.time() - HOLD_WHILE_CAPTURING
        while self._held and self._held[0][0] <= due:
            self._write(heapq.heappop(self._held)[2])
        if self._held:
            wait = self._held[0][0] - due
            loop = asyncio.get_running_loop()
            self._release_timer = loop.call_later(max(0.005, wait), self._release)

    def flush(self) -> None:
        """Print every waiting line now (capture stopped, or the server is done)."""
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        while self._held:
            self._write(heapq.heappop(self._held)[2])

    def _write(self, line: str) -> None:
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):
            pass  # `netbench serve | head` closed our stdout: keep serving
