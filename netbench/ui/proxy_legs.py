"""The two legs of a proxied request, side by side in the HTTP view.

A request through `serve proxy` is an exchange on the client's connection and
one on the upstream connection it caused (`via_conn_id`), which carries that
client connection's next requests too. Shown under either
leg: which the other is, what the proxy changed in the request's headers
(protocol/proxy_headers.py `changes`) and the time spent upstream against
the total. Header text comes from the network: it goes through visible_text.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from netbench.protocol.proxy_headers import changes
from netbench.protocol.textsafe import visible_text
from netbench.store import ConnectionRow, ExchangeRow, SessionReader


@dataclass(frozen=True, slots=True)
class OtherLeg:
    conn: ConnectionRow
    exchange: ExchangeRow | None
    upstream: bool
    """The other leg is the upstream one (this is the client's)."""


def other_leg(
    reader: SessionReader, conn: ConnectionRow | None, exchange: ExchangeRow
) -> OtherLeg | None:
    """The other leg of `exchange`, when it went through a proxy. An upstream leg
    carries each request of its client connection in turn (keep-alive): the two
    exchanges are paired by time, the upstream one inside the client's."""
    start = exchange.t_request_start
    if conn is None or start is None:
        return None
    if conn.via_conn_id is not None:  # this is the upstream leg: the client's exchange
        client = reader.connection(conn.via_conn_id)
        if client is None:
            return None
        before = [
            e
            for e in reader.exchanges(client.id, include_bodies=False)
            if e.t_request_start is not None and e.t_request_start <= start
        ]
        return OtherLeg(client, before[-1] if before else None, upstream=False)
    end = exchange.t_response_end
    for leg in reader.caused_by(conn.id):
        for candidate in reader.exchanges(leg.id, include_bodies=False):
            began = candidate.t_request_start
            if began is not None and began >= start and (end is None or began <= end):
                return OtherLeg(leg, candidate, upstream=True)
    return None


def _ms(exchange: ExchangeRow | None) -> float | None:
    if exchange is None or exchange.t_request_start is None or exchange.t_response_end is None:
        return None
    return (exchange.t_response_end - exchange.t_request_start) * 1000


def legs_document(doc: Text, exchange: ExchangeRow, other: OtherLeg) -> None:
    """Append the other leg, the proxy's changes and the two legs' timing."""
    doc.append("\nThrough the proxy\n", "bold underline")
    leg = other.conn
    if other.upstream:
        doc.append(visible_text(f"  upstream leg: connection #{leg.id} -> {leg.peer}"))
    else:
        doc.append(visible_text(f"  client leg: connection #{leg.id} from {leg.peer}"))
    doc.append(f", exchange #{other.exchange.id}\n" if other.exchange else " (no exchange)\n")
    client, upstream = (exchange, other.exchange) if other.upstream else (other.exchange, exchange)
    if client is not None and upstream is not None and client.request and upstream.request:
        doc.append("  what the proxy changed in the request:\n")
        changed = changes(client.request.headers, upstream.request.headers)
        for line in changed or ["(nothing)"]:
            style = {"+": "green", "-": "red", "~": "yellow"}.get(line[:1], "dim")
            doc.append(f"    {visible_text(line)}\n", style)
    total, inner = _ms(client), _ms(upstream)
    if total is not None and inner is not None:
        doc.append(f"  time upstream {inner:.1f} ms of {total:.1f} ms in total\n")
