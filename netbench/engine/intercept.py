"""Intercept: hold an HTTP server's requests until the user decides each answer.

Rules:
- while a server's queue is on, its handler returns a Future per request
  (`hold`); the connection keeps it in its reply queue, so replies still go
  out in request order on each connection, whatever order the user answers
  in (a pipelined request answered first waits for the one before it);
- a held request is never lost: it leaves the queue only by an action
  (`answer`, `let_rule_answer`, `close`, `reset`), by intercept being turned
  off (every waiting request then gets the server's own answer), by its
  connection ending (`client-gone`) or by the server stopping (`stopped`);
  each exit publishes one `InterceptReleased`, each entry one `InterceptHeld`;
- "the server's own answer" is computed when released, so a response file
  or rule saved while the request waited is what answers it;
- a client that closes its side (FIN) while held looks exactly like a
  half-close: its request stays held and the answer meets the client's RST.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from netbench.engine.context import EngineContext
from netbench.engine.http_server import Deferred, Pending, RequestContext
from netbench.engine.live import FileLoader
from netbench.events import InterceptHeld, InterceptReleased
from netbench.model import Endpoint, HttpRequest, HttpResponse
from netbench.protocol.responses import Hangup, Reply, error_page, raw_reply

ServerAnswer = Callable[[HttpRequest, RequestContext], Reply | Pending]
"""What the server answers on its own (live rules and files, then its site); an
awaitable when it is built off the loop (a static listing)."""

_NO_RESPONSE = HttpResponse(None, b"", "", (), b"", 0, error="no response: closed by hand")
_RESET = HttpResponse(None, b"", "", (), b"", 0, error="no response: reset by hand")


@dataclass(eq=False, slots=True)
class HeldRequest:
    """One request waiting in the queue."""

    exchange_id: int
    conn_id: int
    peer: Endpoint
    request: HttpRequest
    held_since: float
    """`time.monotonic()` when it started waiting."""
    context: RequestContext
    future: asyncio.Future[Reply | Deferred] = field(repr=False)

    def waited(self, now: float | None = None) -> float:
        """Seconds waited so far."""
        return (time.monotonic() if now is None else now) - self.held_since


class InterceptQueue:
    """The requests one HTTP server holds while intercept is on."""

    def __init__(self, ctx: EngineContext, server_id: int, server_answer: ServerAnswer) -> None:
        self.ctx = ctx
        self.server_id = server_id
        self.on = False
        """Whether new requests are held (the engine's handler reads this)."""
        self._server_answer = server_answer
        self._held: dict[int, HeldRequest] = {}
        self._stopping = False
        self._loader = FileLoader()
        """Reads `body-file` directives of typed answers (absolute or cwd-relative)."""

    def __len__(self) -> int:
        return len(self._held)

    def items(self) -> list[HeldRequest]:
        """The waiting requests, oldest first."""
        return list(self._held.values())

    def get(self, exchange_id: int) -> HeldRequest | None:
        return self._held.get(exchange_id)

    # -- the engine's side --------------------------------------------------------

    def hold(
        self, request: HttpRequest, context: RequestContext
    ) -> asyncio.Future[Reply | Deferred]:
        """Queue a request; the Future resolves to its reply when the user decides."""
        future: asyncio.Future[Reply | Deferred] = asyncio.get_running_loop().create_future()
        now = time.monotonic()
        item = HeldRequest(
            context.exchange_id, context.conn_id, context.peer, request, now, context, future
        )
        self._held[item.exchange_id] = item
        future.add_done_callback(lambda done: self._ended(item, done))
        self.ctx.publish(InterceptHeld(item.exchange_id, item.conn_id, self.server_id, now))
        return future

    def set_on(self, on: bool) -> None:
        """Turn holding on or off; off lets the server answer everything waiting."""
        self.on = on
        if not on:
            for item in self.items():
                self.let_rule_answer(item.exchange_id)

    def stop(self) -> None:
        """The server stops: drop every waiting request (recorded as `stopped`)."""
        self._stopping = True
        self.on = False
        for item in self.items():
            item.future.cancel()

    # -- the user's actions (each returns False if the request no longer waits) ----

    def answer(
        self, exchange_id: int, raw: bytes, *, raw_mode: bool = False, fix_length: bool = True
    ) -> bool:
        """Answer with a hand-written response (directives allowed, as in files)."""
        item = self._held.get(exchange_id)
        if item is None:
            return False
        reply = raw_reply(
            raw,
            raw_mode=raw_mode,
            head_only=item.request.method == b"HEAD",
            keep_alive=item.context.keep_alive,
            fix_length=fix_length,
            source="intercept",
            load_file=self._loader,
            date=item.context.date,
        )
        return self._release(item, reply, "answered")

    def let_rule_answer(self, exchange_id: int) -> bool:
        """Send what the server would have answered without intercept, as of now."""
        item = self._held.get(exchange_id)
        if item is None:
            return False
        try:
            reply = self._server_answer(item.request, item.context)
        except Exception as error:
            self.ctx.internal_error(f"server {self.server_id} answering a held request", error)
            reply = error_page(500, f"The handler failed: {error!r}", date=item.context.date)
        return self._release(item, reply, "rule")

    def close(self, exchange_id: int) -> bool:
        """Close the connection with FIN, sending no response."""
        item = self._held.get(exchange_id)
        if item is None:
            return False
        reply = Reply((Hangup.CLOSE,), _NO_RESPONSE, keep_alive=False, source="intercept")
        return self._release(item, reply, "closed")

    def reset(self, exchange_id: int) -> bool:
        """Abort the connection with RST, sending no response."""
        item = self._held.get(exchange_id)
        if item is None:
            return False
        reply = Reply((Hangup.RESET,), _RESET, keep_alive=False, source="intercept")
        return self._release(item, reply, "reset")

    # -- internals ----------------------------------------------------------------------

    def _release(self, item: HeldRequest, reply: Reply | Pending, how: str) -> bool:
        if self._held.pop(item.exchange_id, None) is None or item.future.done():
            if inspect.iscoroutine(reply):
                reply.close()
            return False
        self.ctx.publish(InterceptReleased(item.exchange_id, time.monotonic(), how))
        if isinstance(reply, Reply | Deferred):
            # A Deferred (an app's answer) is begun by the connection at its turn,
            # so held requests reach the app in their order, not the user's.
            item.future.set_result(reply)
        else:
            name = f"intercept-answer-{item.exchange_id}"
            self.ctx.tasks.spawn(self._answer_when_built(item, reply), name)
        return True

    async def _answer_when_built(self, item: HeldRequest, pending: Pending) -> None:
        """The server's own answer, built off the loop (a static listing), to a held request."""
        try:
            reply = await pending
        except Exception as error:
            self.ctx.internal_error(f"server {self.server_id} answering a held request", error)
            reply = error_page(500, f"The handler failed: {error!r}", date=item.context.date)
        if not item.future.done():  # else the client left meanwhile
            item.future.set_result(reply)

    def _ended(self, item: HeldRequest, future: asyncio.Future[Reply | Deferred]) -> None:
        # Cancelled by the connection (it closed) or by `stop`; answered ones
        # have already left the queue.
        if not future.cancelled() or self._held.pop(item.exchange_id, None) is None:
            return
        how = "stopped" if self._stopping else "client-gone"
        self.ctx.publish(InterceptReleased(item.exchange_id, time.monotonic(), how))
