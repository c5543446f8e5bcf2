"""What the traffic list shows, kept small enough for a million rows.

Rules:
- a row is an HTTP exchange, or a connection that carries no HTTP (an echo
  client, a UDP flow, a browser's pre-connection that never sent a request);
  `key` names it: the exchange id, or minus the connection id;
- every row's key is kept in arrival order in an `array('q')` (8 bytes a
  row); the rows themselves are kept only for the most recent
  `recent_limit`, older ones are read back from the session file a page at a
  time as they scroll into view (docs/performance.md: bodies and history
  live in SQLite, memory stays flat);
- a recent row is a plain list of `TrafficRow`'s fields, updated in place as
  its response and close arrive, and made a `TrafficRow` only when shown:
  under a flood thousands arrive per batch and some fifty are on screen
  (a frozen dataclass built and replaced three times cost ~10 µs an event);
- a connection row's first bytes are the start of its chunk 0, taken from
  the batch (one integer test a chunk); rows read back carry them from the
  file;
- the servers are few: each one's kind and port, from `ServerStarted` or the
  session file, name the server column (`echo :5000`);
- per open connection, the keys of its rows still among the recent ones
  (to mark them when it closes): a row leaving the recent ones leaves its
  connection's deque too, so a keep-alive client sending a million requests
  on one connection costs no more than one sending twenty;
- a filter keeps a bit per row, not a list of its matches (traffic_filter.py):
  SQLite evaluates it over the session a slice of ids at a time
  (`search_step`, the widget runs it between frames), rows in memory and
  rows that arrive while it is set are checked here;
- a row of a damaged session file that cannot be read back keeps its place
  and is remembered as unreadable, with what is wrong (one bad row is read
  alone, so the rest of its page still shows).
"""

from __future__ import annotations

import time
from array import array
from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from netbench.engine import registry
from netbench.events import (
    ChunkRecorded,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    HttpRequestRecorded,
    HttpResponseRecorded,
    ServerStarted,
)
from netbench.model import Direction, HttpRequest, HttpResponse, Role
from netbench.protocol.textsafe import visible_text
from netbench.ui.traffic_filter import (
    BLOCK,
    SLICE_SECONDS,
    FilterMatches,
    FilterSearch,
    KeyBlocks,
)

if TYPE_CHECKING:
    # The store loads after the first frame (issue 18): imported where used.
    from netbench.store import SessionReader, TrafficRow

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
SERVER_HEADER = "server"
SERVER_WIDTH_LIMIT = 18
"""The server column grows to its longest label up to this (`prefix-echo :65535`)."""


def server_label(kind: str, port: int) -> str:
    return f"{kind} :{port}" if kind else f":{port}"


Live = list[object]
"""A recent row: TrafficRow's fields, in order, mutable."""
_STATUS, _BYTES_IN, _BYTES_OUT, _DURATION, _END, _ERROR = 10, 11, 12, 13, 14, 15
_UNANSWERED = 19
_FIRST_BYTES = 17
_T = 5
_SEARCH_BODY_BYTES = 65536


def matches(
    text: str, row: TrafficRow, request: HttpRequest | None, response: HttpResponse | None
) -> bool:
    """The in-memory twin of `store.traffic_search` for rows not yet written."""
    needle = text.lower().encode("utf-8", "replace")
    status = str(row.status) if row.status is not None else ""
    if text.strip() and text.strip() == status:
        return True
    haystacks = [row.method or b"", row.target or b""]
    for message in (request, response):
        if message is not None:
            haystacks.extend(name + b": " + value for name, value in message.headers)
            haystacks.append(message.body[:_SEARCH_BODY_BYTES])
    return any(needle in hay.lower() for hay in haystacks)


class TrafficModel:
    def __init__(self, recent_limit: int = 20000, page_cache: int = 2000) -> None:
        self.recent_limit = recent_limit
        self.keys: array[int] = array("q")
        self.filter_text = ""
        self.filtered: FilterMatches | None = None
        """The filter's matches (None: no filter, every row shows)."""
        self.search: FilterSearch | None = None
        """The filter's walk over the session file, while it lasts."""
        self._window: tuple[int, list[int]] = (0, [])
        self._blocks = KeyBlocks()
        """Which ids each block of `keys` holds, shared by every filter."""
        """The keys of a few screens of filtered rows from an index (rendering asks row by row)."""
        self._recent: OrderedDict[int, Live] = OrderedDict()
        self._cache: OrderedDict[int, TrafficRow] = OrderedDict()
        self._page_cache = page_cache
        self.servers: dict[int, tuple[str, int]] = {}
        """Server id -> its kind and port."""
        self.server_width = len(SERVER_HEADER)
        """Cells the longest server label takes (the server column's width)."""
        self._first_chunks: dict[int, bytes] = {}
        """Open connection without a row yet -> its first bytes (an HTTP one may get a row)."""
        self._open: dict[int, ConnectionOpened] = {}
        self._conn_keys: dict[int, deque[int]] = {}
        """Open connection -> its rows' keys still in `_recent` (at least its last one,
        which tells a connection that carried requests from one that never did)."""
        self._conn_bytes: dict[int, list[int]] = {}
        self._requests: dict[int, HttpRequest] = {}
        self._offset = time.time() - time.monotonic()
        self.unreadable: dict[int, str] = {}
        """Key -> what is wrong, for rows a damaged session file could not give back."""
        self.damage: str | None = None
        """The error of the first unreadable row (it names the file)."""

    def __len__(self) -> int:
        return len(self.keys) if self.filtered is None else len(self.filtered)

    def key_at(self, index: int) -> int | None:
        """The key of the row shown at `index`."""
        if self.filtered is None:
            return self.keys[index] if 0 <= index < len(self.keys) else None
        start, window = self._window
        if not start <= index < start + len(window):
            if not 0 <= index < len(self.filtered):
                return None
            start = max(0, index - 30)
            self._window = start, self.filtered.keys_from(start, 120)
            window = self._window[1]
        offset = index - start
        return window[offset] if offset < len(window) else None

    def visible_keys(self) -> Iterator[int]:
        """The shown rows' keys in list order."""
        return iter(self.keys) if self.filtered is None else iter(self.filtered)

    # -- events -----------------------------------------------------------------------

    def apply(self, events: list[Event]) -> bool:
        """Take a batch of engine events; True when rows were added or changed."""
        changed = False
        for event in events:
            kind = type(event)
            if kind is ChunkRecorded:
                assert isinstance(event, ChunkRecorded)
                counts = self._conn_bytes.get(event.conn_id)
                if counts is not None:
                    counts[0 if event.direction is Direction.IN else 1] += len(event.data)
                    changed = True
                if event.seq == 0:
                    changed |= self._first_chunk(event)
            elif kind is HttpRequestRecorded:
                assert isinstance(event, HttpRequestRecorded)
                self._add_exchange(event)
                changed = True
            elif kind is HttpResponseRecorded:
                assert isinstance(event, HttpResponseRecorded)
                changed |= self._add_response(event)
            elif kind is ConnectionOpened:
                assert isinstance(event, ConnectionOpened)
                self._opened(event)
                changed = True
            elif kind is ConnectionClosed:
                assert isinstance(event, ConnectionClosed)
                changed |= self._closed(event)
            elif kind is ServerStarted:
                assert isinstance(event, ServerStarted)
                self._add_server(event.server_id, event.kind, event.address.port)
        return changed

    def _add_server(self, server_id: int, kind: str, port: int) -> None:
        self.servers[server_id] = (kind, port)
        width = len(server_label(kind, port))
        self.server_width = min(SERVER_WIDTH_LIMIT, max(self.server_width, width))

    def server_label(self, row: TrafficRow) -> str:
        """The server column's text: `kind :port`, or where a client connected
        (`→ :5000` on this machine, `→ host:port` elsewhere)."""
        if row.role is Role.CLIENT:
            if row.peer.host in _LOOPBACK:
                return f"→ :{row.peer.port}"
            return visible_text(f"→ {row.peer}")
        kind, port = self.servers.get(row.server_id or 0, ("", row.local.port))
        return server_label(kind, port)

    def _first_chunk(self, event: ChunkRecorded) -> bool:
        from netbench.store.traffic import FIRST_BYTES  # once a connection

        first = event.data[:FIRST_BYTES]
        row = self._recent.get(-event.conn_id)
        if row is None:
            if event.conn_id in self._open:
                self._first_chunks[event.conn_id] = first
            return False
        row[_FIRST_BYTES] = first
        return True

    def _opened(self, event: ConnectionOpened) -> None:
        self._open[event.conn_id] = event
        self._conn_keys[event.conn_id] = deque()
        kind = self.servers.get(event.server_id, ("",))[0] if event.server_id is not None else None
        # A proxy's upstream leg shows as its exchange (under its client's), as
        # the connections of an HTTP kind do; a leg that never carried one gets
        # its row when it closes.
        if not (kind and registry.is_http(kind)) and event.via is None:
            self._conn_bytes[event.conn_id] = [0, 0]
            self._add_row(self._connection_row(event))

    def _connection_row(self, opened: ConnectionOpened) -> Live:
        return [
            -opened.conn_id, opened.conn_id, None, opened.server_id, opened.role,
            self._offset + opened.t, opened.peer, opened.local, None, None, None,
            0, 0, None, None, None, False, self._first_chunks.pop(opened.conn_id, None),
            opened.via, False,
        ]  # fmt: skip

    def _add_exchange(self, event: HttpRequestRecorded) -> None:
        opened = self._open.get(event.conn_id)
        if opened is None:
            return
        request = event.request
        row: Live = [
            event.exchange_id, event.conn_id, event.exchange_id, opened.server_id, opened.role,
            self._offset + event.t_start, opened.peer, opened.local, request.method,
            request.target, None, request.body_len, None, None, None, request.error,
            False, None, opened.via, False,
        ]  # fmt: skip
        self._requests[event.exchange_id] = request
        keys = self._conn_keys.get(event.conn_id)
        only_raw = keys is not None and len(keys) == 1 and keys[0] == -event.conn_id
        if only_raw and -event.conn_id in self._recent:
            # A client connection shows raw from its open until it carries a
            # request (the HTTP client's do): then its exchange takes the row's
            # place, as the session file lists it (a connection row is one
            # with no exchange), rather than a second row for one request.
            self._replace_row(-event.conn_id, row, request)
            return
        self._add_row(row, request)

    def _replace_row(self, old: int, row: Live, request: HttpRequest) -> None:
        new, conn_id = cast(int, row[0]), cast(int, row[1])
        position = self.keys.index(old, max(0, len(self.keys) - len(self._recent)))
        self.keys[position] = new
        del self._recent[old]
        self._recent[new] = row
        self._conn_keys[conn_id][0] = new
        self._conn_bytes.pop(conn_id, None)  # an exchange row shows its bodies
        block = position // BLOCK
        self._blocks.forget(block)
        if self.filtered is not None:
            self.filtered.forget(block)
            if matches(self.filter_text, _shown(row), request, None):
                self.filtered.add(new)
        self._window = (0, [])

    def _add_response(self, event: HttpResponseRecorded) -> bool:
        row = self._recent.get(event.exchange_id)
        request = self._requests.pop(event.exchange_id, None)
        if row is None:
            return False
        response = event.response
        row[_STATUS] = response.status
        row[_BYTES_OUT] = response.body_len
        row[_DURATION] = self._offset + event.t_end - row[_T]  # type: ignore[operator]
        row[_ERROR] = row[_ERROR] or response.error
        row[_UNANSWERED] = response.status is None and event.first_chunk < 0
        key = event.exchange_id
        if (
            self.filtered is not None
            and key not in self.filtered
            and matches(self.filter_text, _shown(row), request, response)
        ):
            # The row is a recent one: it sits among the last keys.
            self._show(key, self.keys.index(key, max(0, len(self.keys) - len(self._recent))))
        return True

    def _closed(self, event: ConnectionClosed) -> bool:
        opened = self._open.pop(event.conn_id, None)
        keys = self._conn_keys.pop(event.conn_id, deque())
        self._conn_bytes.pop(event.conn_id, None)
        if opened is None:
            return False
        if not keys:  # an HTTP connection that never carried a request
            keys = deque([self._add_row(self._connection_row(opened))])
        self._first_chunks.pop(event.conn_id, None)
        for key in keys:
            row = self._recent.get(key)
            if row is None:
                continue
            if key < 0:
                row[_BYTES_IN] = event.bytes_in
                row[_BYTES_OUT] = event.bytes_out
                row[_DURATION] = self._offset + event.t - row[_T]  # type: ignore[operator]
                row[_ERROR] = event.detail
            row[_END] = event.reason
        return True

    def _add_row(self, row: Live, request: HttpRequest | None = None) -> int:
        key = cast(int, row[0])
        self.keys.append(key)
        self._recent[key] = row
        conn_keys = self._conn_keys.get(cast(int, row[1]))
        if conn_keys is not None:
            conn_keys.append(key)
        if self.filtered is not None and matches(self.filter_text, _shown(row), request, None):
            self._show(key, len(self.keys) - 1)
        while len(self._recent) > self.recent_limit:
            old_key, old_row = self._recent.popitem(last=False)
            self._requests.pop(old_key, None)
            # `_recent` keeps insertion order: a connection's keys leave it
            # oldest first, from the left of its deque.
            old_keys = self._conn_keys.get(cast(int, old_row[1]))
            while old_keys is not None and len(old_keys) > 1 and old_keys[0] not in self._recent:
                old_keys.popleft()
        return key

    def load(self, reader: SessionReader) -> None:
        """Show a recorded session: every key now, rows as they scroll into view."""
        from netbench.store import traffic_keys

        for server in reader.servers():
            self._add_server(server.id, visible_text(server.kind), server.address.port)
        self.keys.extend(traffic_keys(reader))

    # -- rows for display -------------------------------------------------------------

    def row_at(self, index: int, reader: SessionReader | None) -> TrafficRow | None:
        key = self.key_at(index)
        if key is None:
            return None
        live = self._recent.get(key)
        if live is not None:
            counts = self._conn_bytes.get(-key) if key < 0 else None
            if counts is not None:
                return _shown(live, counts)
            return _shown(live)
        row = self._cache.get(key)
        if row is None and reader is not None and key not in self.unreadable:
            self._fetch_page(index, reader)
            row = self._cache.get(key)
        return row

    def unreadable_at(self, index: int) -> str | None:
        """What is wrong with the row at `index` when a damaged file could not give it back."""
        key = self.key_at(index) if self.unreadable else None
        return None if key is None else self.unreadable.get(key)

    def _fetch_page(self, index: int, reader: SessionReader) -> None:
        from netbench.store import DamagedFileError, StoreError, traffic_rows

        if self.filtered is None:
            start = max(0, index - 50)
            page = self.keys[start : start + 200].tolist()
        else:
            page = self._window[1]  # `key_at` has just found the keys around `index`
        wanted = [k for k in page if k not in self._recent and k not in self.unreadable]
        try:
            self._cache.update(traffic_rows(reader, wanted))
        except DamagedFileError:
            self._fetch_each(wanted, reader)
        except StoreError:
            return
        while len(self._cache) > self._page_cache:
            self._cache.popitem(last=False)

    def _fetch_each(self, keys: list[int], reader: SessionReader) -> None:
        """A page with a damaged row in it, row by row: the others still show."""
        from netbench.store import DamagedFileError, StoreError, traffic_rows

        for key in keys:
            try:
                self._cache.update(traffic_rows(reader, [key]))
            except DamagedFileError as error:
                self.unreadable[key] = error.what
                self.damage = self.damage or str(error)
            except StoreError:
                return

    def index_of(self, key: int) -> int | None:
        # Rows are appended in time order, so the newest keys sit at the end.
        for index in range(len(self) - 1, -1, -1):
            if self.key_at(index) == key:
                return index
        return None

    # -- filter -----------------------------------------------------------------------

    def set_filter(self, text: str, reader: SessionReader | None) -> None:
        """Filter the list; the session file's rows come in through `search_step`."""
        self.filter_text = text
        self.search = None
        self._window = (0, [])
        if not text:
            self.filtered = None
            return
        self.filtered = FilterMatches(self.keys, self._blocks)
        for key, live in self._recent.items():
            if matches(text, _shown(live), self._requests.get(key), None):
                self.filtered.add(key)
        if reader is not None:
            from netbench.store import StoreError

            try:
                self.search = FilterSearch(text, self.filtered, reader)
            except StoreError:
                self.search = None

    def search_step(self, seconds: float = SLICE_SECONDS) -> bool:
        """Search the session file a little further; True when the search is over."""
        if self.search is None:
            return True
        from netbench.store import StoreError

        try:
            done = self.search.step(seconds)
        except StoreError:
            done = True
        self._window = (0, [])
        if done:
            self.search = None
        return done

    def _show(self, key: int, position: int) -> None:
        assert self.filtered is not None
        self.filtered.add_at(key, position)
        self._window = (0, [])


def _shown(live: Live, counts: list[int] | None = None) -> TrafficRow:
    """The row as it stands now (`counts`: a connection row's live bytes in and out)."""
    from netbench.store.traffic import TrafficRow

    if counts is not None:
        live = [*live]
        live[_BYTES_IN], live[_BYTES_OUT] = counts
    return TrafficRow(*live)  # type: ignore[arg-type]
