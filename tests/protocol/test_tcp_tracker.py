"""The TCP tracker on packets built with scapy, as the capture layer would decode them.

Each scenario is a list of packets (who sends, flags, raw seq, raw ack, payload,
window, time) and, per packet, what the tracker must say: both states, the
relative seq/ack and the marks.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from netbench.model import Endpoint, TcpPacket
from netbench.protocol.tcp_tracker import Step, TcpTracker, explain, pick_client, track

CLIENT = Endpoint("127.0.0.1", 51000)
SERVER = Endpoint("127.0.0.1", 8080)
CI = 1_000_000  # client ISN
SI = 7_000_000  # server ISN
WRAP = (1 << 32) - 10  # an ISN whose sequence numbers wrap around 2**32


class P(NamedTuple):
    who: str  # "c" or "s"
    flags: str
    seq: int
    ack: int = 0
    data: bytes = b""
    window: int = 65535
    t: float | None = None  # None: 10 ms after the previous packet


def to_tcp_packet(frame: Ether, t: float) -> TcpPacket:
    """What netbench/capture makes of a captured frame."""
    ip, tcp = frame[IP], frame[TCP]
    payload = bytes(tcp.payload)
    return TcpPacket(
        t=t,
        src=Endpoint(ip.src, tcp.sport),
        dst=Endpoint(ip.dst, tcp.dport),
        flags=str(tcp.flags),
        seq=tcp.seq,
        ack=tcp.ack,
        window=tcp.window,
        payload_len=len(payload),
        payload_head=payload[:32],
        frame=bytes(frame),
    )


def build(p: P, t: float) -> TcpPacket:
    src, dst = (CLIENT, SERVER) if p.who == "c" else (SERVER, CLIENT)
    frame = (
        Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00")
        / IP(src=src.host, dst=dst.host)
        / TCP(sport=src.port, dport=dst.port, flags=p.flags, seq=p.seq, ack=p.ack, window=p.window)
        / p.data
    )
    return to_tcp_packet(Ether(bytes(frame)), t)


def packets(script: list[P]) -> list[TcpPacket]:
    out, t = [], 1_700_000_000.0
    for p in script:
        t = t + 0.01 if p.t is None else 1_700_000_000.0 + p.t
        out.append(build(p, t))
    return out


Row = tuple[P, str, str, int, "int | None", str]
"""A packet, then after it: client state, server state, rel seq, rel ack, marks."""

E, W1, W2, CW, LA, TW = (
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
)
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n".ljust(78, b"x")

# fmt: off
HANDSHAKE: list[Row] = [
    (P("c", "S", CI),                    "SYN_SENT", "LISTEN",       0, None, ""),
    (P("s", "SA", SI, CI + 1),           E,          "SYN_RECEIVED", 0, 1,    ""),
    (P("c", "A", CI + 1, SI + 1),        E,          E,              1, 1,    ""),
]
DATA: list[Row] = [
    (P("c", "PA", CI + 1, SI + 1, REQUEST),     E, E, 1,  1,  ""),
    (P("s", "A", SI + 1, CI + 79),              E, E, 1,  79, ""),
    (P("s", "PA", SI + 1, CI + 79, b"y" * 34),  E, E, 1,  79, ""),
    (P("c", "A", CI + 79, SI + 35),             E, E, 79, 35, ""),
]
SCENARIOS = [
    pytest.param(HANDSHAKE, id="handshake"),
    pytest.param([*HANDSHAKE, *DATA], id="data-both-ways"),
    pytest.param([
        (P("c", "S", WRAP),                          "SYN_SENT", "LISTEN", 0, None, ""),
        (P("s", "SA", SI, WRAP + 1),                 E, "SYN_RECEIVED",    0, 1,    ""),
        (P("c", "A", WRAP + 1, SI + 1),              E, E,                 1, 1,    ""),
        (P("c", "PA", WRAP + 1, SI + 1, b"z" * 20),  E, E,                 1, 1,    ""),
        (P("s", "A", SI + 1, (WRAP + 21) % 2**32),   E, E,                 1, 21,   ""),
    ], id="seq-wraps-around-2**32"),
    pytest.param([*HANDSHAKE,
        (P("c", "FA", CI + 1, SI + 1),   W1,       CW,       1, 1, ""),
        (P("s", "A", SI + 1, CI + 2),    W2,       CW,       1, 2, ""),
        (P("s", "FA", SI + 1, CI + 2),   TW,       LA,       1, 2, ""),
        (P("c", "A", CI + 2, SI + 2),    TW,       "CLOSED", 2, 2, ""),
    ], id="client-closes-first"),
    pytest.param([*HANDSHAKE,
        (P("s", "FA", SI + 1, CI + 1),   CW,       W1,       1, 1, ""),
        (P("c", "A", CI + 1, SI + 2),    CW,       W2,       1, 2, ""),
        (P("c", "FA", CI + 1, SI + 2),   LA,       TW,       1, 2, ""),
        (P("s", "A", SI + 2, CI + 2),    "CLOSED", TW,       2, 2, ""),
    ], id="server-closes-first"),
    pytest.param([*HANDSHAKE,
        (P("c", "FA", CI + 1, SI + 1),   W1,       CW,       1, 1, ""),
        (P("s", "FA", SI + 1, CI + 2),   TW,       LA,       1, 2, ""),
    ], id="server-fin-also-acks-client-fin"),
    pytest.param([*HANDSHAKE,
        (P("c", "FA", CI + 1, SI + 1),   W1,        CW,        1, 1, ""),
        (P("s", "FA", SI + 1, CI + 1),   "CLOSING", "CLOSING", 1, 1, ""),
        (P("c", "A", CI + 2, SI + 2),    "CLOSING", TW,        2, 2, ""),
        (P("s", "A", SI + 2, CI + 2),    TW,        TW,        2, 2, ""),
    ], id="simultaneous-close"),
    pytest.param([*HANDSHAKE, DATA[0],
        (P("c", "RA", CI + 79, SI + 1, window=0),  "CLOSED", "CLOSED", 79, 1, "rst"),
    ], id="rst-mid-stream"),
    pytest.param([
        (P("c", "S", CI),                          "SYN_SENT", "LISTEN", 0, None, ""),
        (P("s", "RA", 0, CI + 1, window=0),        "CLOSED",   "CLOSED", 1, 1,    "rst"),
    ], id="refused"),
    pytest.param([*HANDSHAKE, DATA[0],
        (P("c", "PA", CI + 1, SI + 1, REQUEST, t=0.25),  E, E, 1, 1,  "retransmission"),
        (P("s", "A", SI + 1, CI + 79),                   E, E, 1, 79, ""),
    ], id="retransmitted-data"),
    pytest.param([
        (P("c", "S", CI, t=0.0),  "SYN_SENT", "LISTEN", 0, None, ""),
        (P("c", "S", CI, t=1.0),  "SYN_SENT", "LISTEN", 0, None, "syn-retransmission"),
        *HANDSHAKE[1:],
    ], id="syn-retransmission"),
    pytest.param([*HANDSHAKE,
        (P("s", "PA", SI + 1, CI + 1, b"y" * 100),    E, E, 1, 1,   ""),
        (P("c", "A", CI + 1, SI + 101),               E, E, 1, 101, ""),
        (P("c", "A", CI + 1, SI + 101, window=0),     E, E, 1, 101, "zero-window"),
        (P("c", "A", CI + 1, SI + 101, window=512),   E, E, 1, 101, "window-update"),
    ], id="zero-window-then-update"),
    pytest.param([*HANDSHAKE,
        (P("c", "A", CI, SI + 1, t=45.0),   E, E, 0, 1, "keep-alive"),
        (P("s", "A", SI + 1, CI + 1),       E, E, 1, 1, ""),
        (P("c", "A", CI, SI + 1, t=90.0),   E, E, 0, 1, "keep-alive"),
        (P("s", "A", SI + 1, CI + 1),       E, E, 1, 1, ""),  # a repeat, but nothing outstanding
    ], id="keep-alive"),
    pytest.param([*HANDSHAKE,
        (P("s", "PA", SI + 1, CI + 1, b"a" * 100),    E, E, 1,   1,   ""),
        (P("s", "PA", SI + 201, CI + 1, b"c" * 100),  E, E, 201, 1,   ""),
        (P("c", "A", CI + 1, SI + 101),               E, E, 1,   101, ""),
        (P("c", "A", CI + 1, SI + 101),               E, E, 1,   101, "dup-ack"),
        (P("s", "PA", SI + 101, CI + 1, b"b" * 100),  E, E, 101, 1,   "out-of-order"),
        (P("c", "A", CI + 1, SI + 301),               E, E, 1,   301, ""),
    ], id="dup-ack-and-out-of-order"),
    pytest.param([
        (P("c", "PA", 5000, 9000, b"q" * 10),   "?", "?",  1,  1,  ""),
        (P("s", "A", 9000, 5010),               "?", "?",  1,  11, ""),
        (P("s", "PA", 9000, 5010, b"r" * 5),    "?", "?",  1,  11, ""),
        (P("c", "FA", 5010, 9005),              W1,  CW,   11, 6,  ""),
        (P("s", "FA", 9005, 5011),              TW,  LA,   6,  12, ""),
        (P("c", "A", 5011, 9006),               TW, "CLOSED", 12, 7, ""),
    ], id="capture-starts-mid-connection"),
    pytest.param([
        (P("s", "PA", 9000, 5000, b"r" * 5),    "?",      "?",      1, 1, ""),
        (P("c", "RA", 5000, 9005),              "CLOSED", "CLOSED", 1, 6, "rst"),
    ], id="mid-connection-then-rst"),
]
# fmt: on


def script(rows: list[Row]) -> list[P]:
    return [row[0] for row in rows]


OPEN, TALK = script(HANDSHAKE), script(DATA)


@pytest.mark.parametrize("rows", SCENARIOS)
def test_steps(rows: list[Row]) -> None:
    steps = track(packets(script(rows)), CLIENT, SERVER)
    got = [(s.client_state, s.server_state, s.rel_seq, s.rel_ack, set(s.marks)) for s in steps]
    assert got == [(*row[1:5], set(row[5].split())) for row in rows]
    assert [s.number for s in steps] == list(range(len(rows)))
    assert [s.sender.value[0] for s in steps] == [row[0].who for row in rows]


@pytest.mark.parametrize("rows", SCENARIOS)
def test_explain_every_step_is_one_sentence_about_its_sender(rows: list[Row]) -> None:
    steps = track(packets(script(rows)), CLIENT, SERVER)
    for i, step in enumerate(steps):
        for text in (explain(step, steps[:i]), explain(step)):
            assert text.endswith("."), text
            assert ". " not in text and "\n" not in text, text
            assert f": the {step.sender.value}" in text, text


def test_dt_counts_from_the_first_packet() -> None:
    steps = track(
        packets([P("c", "S", CI, t=0.0), P("c", "S", CI, t=1.0), *OPEN[1:]]), CLIENT, SERVER
    )
    assert [round(s.dt, 3) for s in steps] == [0.0, 1.0, 1.01, 1.02]


def test_loopback_copies_are_dropped_and_marked_on_the_original() -> None:
    tracker = TcpTracker(CLIENT, SERVER)
    fed = []
    for packet in packets(OPEN + TALK):
        fed += [tracker.feed(packet), tracker.feed(packet._replace(t=packet.t + 0.0002))]
    assert [step is None for step in fed] == [False, True] * 7
    assert len(tracker.steps) == 7
    assert all(step.duplicate and not step.marks for step in tracker.steps)
    assert [s.client_state for s in tracker.steps[:3]] == ["SYN_SENT", E, E]


@pytest.mark.parametrize(
    ("later", "kept"),
    [
        pytest.param(0.0009, False, id="copy-within-1ms"),
        pytest.param(0.2, True, id="real-retransmission"),
    ],
)
def test_only_near_identical_packets_are_copies(later: float, kept: bool) -> None:
    first = packets(OPEN + TALK[:1])
    again = first[-1]._replace(t=first[-1].t + later)
    tracker = TcpTracker(CLIENT, SERVER)
    for packet in first:
        tracker.feed(packet)
    step = tracker.feed(again)
    assert (step is not None) is kept
    if step is not None:
        assert step.marks == {"retransmission"}


def test_a_window_change_within_1ms_is_not_a_copy() -> None:
    tracker = TcpTracker(CLIENT, SERVER)
    for packet in packets([*OPEN, P("c", "A", CI + 1, SI + 1, window=0)]):
        tracker.feed(packet)
    update = build(P("c", "A", CI + 1, SI + 1, window=1024), tracker.steps[-1].packet.t + 0.0001)
    step = tracker.feed(update)
    assert step is not None and step.marks == {"window-update"}


def test_packets_of_other_connections_are_ignored() -> None:
    tracker = TcpTracker(CLIENT, Endpoint("127.0.0.1", 9999))
    assert tracker.feed(packets(OPEN)[0]) is None
    assert tracker.steps == []


def test_a_new_syn_after_the_close_starts_over() -> None:
    close = [P("c", "RA", CI + 1, SI + 1)]
    again = [P("c", "S", CI + 500), P("s", "SA", SI + 500, CI + 501)]
    steps = track(packets(OPEN + close + again), CLIENT, SERVER)
    assert [(s.client_state, s.server_state, s.rel_seq, s.rel_ack) for s in steps[-2:]] == [
        ("SYN_SENT", "LISTEN", 0, None),
        ("ESTABLISHED", "SYN_RECEIVED", 0, 1),
    ]
    assert not steps[-2].marks


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param(OPEN, (CLIENT, SERVER), id="first-syn"),
        pytest.param(OPEN[1:], (CLIENT, SERVER), id="syn-ack-without-syn"),
        pytest.param(TALK[1:], (CLIENT, SERVER), id="no-syn-lower-port-serves"),
        pytest.param([], None, id="nothing"),
    ],
)
def test_pick_client(script: list[P], expected: tuple[Endpoint, Endpoint] | None) -> None:
    assert pick_client(packets(script)) == expected


def explained(script: list[P]) -> list[str]:
    steps = track(packets(script), CLIENT, SERVER)
    return [explain(step, steps[:i]) for i, step in enumerate(steps)]


def test_explain_a_full_connection() -> None:
    close = [P("c", "FA", CI + 79, SI + 35), P("s", "A", SI + 35, CI + 80)]
    close += [P("s", "FA", SI + 35, CI + 80), P("c", "A", CI + 80, SI + 36)]
    texts = explained(OPEN + TALK + close)
    assert texts[0] == (
        "SYN: the client asks to open a connection to port 8080 and picks its initial "
        f"sequence number (ISN {CI}); relative seq 0."
    )
    assert texts[1] == (
        "SYN-ACK: the server agrees and picks its own initial sequence number "
        f"(ISN {SI}); its ack 1 is the client's ISN + 1."
    )
    assert texts[2] == (
        "ACK: the client acknowledges the server's SYN (ack 1); the connection is now "
        "established on both sides (three-way handshake done)."
    )
    assert texts[3] == "Data: the client sends 78 bytes (seq 1-78); the server will acknowledge 79."
    assert "bytes up to 78 (ack 79" in texts[4]
    assert "34 bytes (seq 1-34)" in texts[5]
    assert "closes first" in texts[7] and "half-close" in texts[7]
    assert "acknowledges the client's FIN (ack 80)" in texts[8]
    assert "LAST_ACK" in texts[9] and "TIME_WAIT" in texts[9]
    assert "fully closed" in texts[10] and "TIME_WAIT" in texts[10]


@pytest.mark.parametrize(
    ("script", "words"),
    [
        pytest.param(
            [P("c", "S", CI), P("s", "RA", 0, CI + 1)], ["connection refused", "8080"], id="refused"
        ),
        pytest.param([*OPEN, P("s", "RA", SI + 1, CI + 1)], ["server aborts", "reset"], id="rst"),
        pytest.param(
            [*OPEN, P("c", "FA", CI + 1, SI + 1), P("s", "FA", SI + 1, CI + 1)],
            ["simultaneous close", "CLOSING"],
            id="simultaneous",
        ),
        pytest.param(
            [P("c", "S", CI, t=0.0), P("c", "S", CI, t=1.0)],
            ["SYN again", "after 1.0 s"],
            id="syn-again",
        ),
        pytest.param(
            OPEN + TALK[:1] + [P("c", "PA", CI + 1, SI + 1, REQUEST, t=0.3)],
            ["Retransmission", "78 bytes (seq 1-78)"],
            id="retransmission",
        ),
        pytest.param(
            [*OPEN, P("c", "A", CI + 1, SI + 1, window=0)],
            ["Zero window", "window 0"],
            id="zero-window",
        ),
        pytest.param(
            [*OPEN, P("c", "A", CI, SI + 1, t=45.0)], ["Keep-alive", "45.0 s"], id="keep-alive"
        ),
        pytest.param(
            [*OPEN, P("c", "A", CI, SI + 1, t=45.0), P("s", "A", SI + 1, CI + 1)],
            ["server answers the keep-alive"],
            id="keep-alive-answer",
        ),
    ],
)
def test_explain_names_what_happened(script: list[P], words: list[str]) -> None:
    last = explained(script)[-1]
    for word in words:
        assert word in last, last


def test_explain_is_specific_to_the_numbers() -> None:
    step: Step = track(packets(OPEN + TALK), CLIENT, SERVER)[-2]
    assert (
        explain(step)
        == "Data: the server sends 34 bytes (seq 1-34); the client will acknowledge 35."
    )


# -- capture order vs causal order ------------------------------------------------------

TEARDOWN_LISTED_EARLY = [
    P("c", "S", CI, t=0.0),
    P("s", "SA", SI, CI + 1, t=0.001),
    P("c", "A", CI + 1, SI + 1, t=0.002),
    P("c", "FA", CI + 1, SI + 1, t=0.010),
    P("c", "A", CI + 2, SI + 2, t=0.020000),  # the ACK of the server's FIN, listed first...
    P("s", "FA", SI + 1, CI + 2, t=0.020007),  # ...7 µs before the FIN it acknowledges
]


def test_an_ack_listed_before_what_it_acknowledges_is_put_after_it() -> None:
    steps = track(packets(TEARDOWN_LISTED_EARLY), CLIENT, SERVER)
    assert [(s.sender.value, s.packet.flags) for s in steps][-2:] == [
        ("server", "FA"),
        ("client", "A"),
    ]
    assert (steps[-1].client_state, steps[-1].server_state) == ("TIME_WAIT", "CLOSED")
    assert "acknowledges the server's FIN" in explain(steps[-1], steps[:-1])


def test_an_ack_of_bytes_never_captured_stays_where_it_is() -> None:
    # The server's data segment was lost by the capture: nothing later sends it.
    script = [*TEARDOWN_LISTED_EARLY[:3], P("c", "A", CI + 1, SI + 501, t=0.010)]
    steps = track(packets(script), CLIENT, SERVER)
    assert [s.packet.flags for s in steps] == ["S", "SA", "A", "A"]
    assert steps[-1].rel_ack == 501


# -- window scaling -----------------------------------------------------------------------


def with_options(p: P, t: float, options: list[tuple[str, object]]) -> TcpPacket:
    src, dst = (CLIENT, SERVER) if p.who == "c" else (SERVER, CLIENT)
    frame = (
        Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00")
        / IP(src=src.host, dst=dst.host)
        / TCP(sport=src.port, dport=dst.port, flags=p.flags, seq=p.seq, ack=p.ack,
              window=p.window, options=options)
    )  # fmt: skip
    return to_tcp_packet(Ether(bytes(frame)), t)


def handshake(client_scale: int | None, server_scale: int | None) -> list[TcpPacket]:
    def opts(scale: int | None) -> list[tuple[str, object]]:
        return [("MSS", 65495), ("NOP", None), ("WScale", scale)] if scale is not None else []

    return [
        with_options(P("c", "S", CI, window=65495), 0.0, opts(client_scale)),
        with_options(P("s", "SA", SI, CI + 1, window=65483), 0.001, opts(server_scale)),
        build(P("c", "A", CI + 1, SI + 1, window=512), 0.002),
        build(P("s", "PA", SI + 1, CI + 1, b"hi", window=510), 0.003),
    ]


@pytest.mark.parametrize(
    ("scales", "windows"),
    [
        ((7, 7), [65495, 65483, 512 << 7, 510 << 7]),  # Linux on loopback: what tshark shows
        ((7, 2), [65495, 65483, 512 << 7, 510 << 2]),  # each side shifts by its own scale
        ((7, None), [65495, 65483, 512, 510]),  # the server did not agree: no scaling at all
        ((None, None), [65495, 65483, 512, 510]),
    ],
)
def test_windows_are_scaled_as_both_syns_agreed(
    scales: tuple[int | None, int | None], windows: list[int]
) -> None:
    steps = track(handshake(*scales), CLIENT, SERVER)
    assert [step.window for step in steps] == windows


def test_a_capture_that_missed_the_syns_shows_raw_windows() -> None:
    steps = track(handshake(7, 7)[2:], CLIENT, SERVER)
    assert [step.window for step in steps] == [512, 510]
