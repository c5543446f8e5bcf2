"""The seed tutorials' plain TCP servers: echo, reply, prefix-echo and time.

Their behaviour on the wire is in engine/tcp_kinds.py; their
defaults are the seed programs' own (seed 000 listens with a backlog of 3 and
reads `recv(1024)`, seed 001 `listen(5)` and `recv(2048)`, seed 002 a 5 s
timeout), so a preset behaves exactly like the program it reproduces.
"""

from __future__ import annotations

from netbench.engine.registry import (
    Build,
    KindOption,
    KindRuntime,
    Listener,
    ServerKind,
    register,
)
from netbench.engine.stream import RecordedStream
from netbench.engine.tcp_kinds import (
    EchoConnection,
    PrefixEchoConnection,
    ReplyConnection,
    TimeConnection,
)
from netbench.model import Transport


def _stream_kind(cls: type[RecordedStream]) -> Build:
    async def build(runtime: KindRuntime) -> Listener:
        ctx, options = runtime.ctx, runtime.stream_options()
        return Listener(lambda: cls(ctx, **options))

    return build


async def _build_prefix_echo(runtime: KindRuntime) -> Listener:
    ctx, options = runtime.ctx, runtime.stream_options()
    timeout_message = (runtime.config.timeout_message or "").encode()

    def connection() -> PrefixEchoConnection:
        echo = PrefixEchoConnection(ctx, **options)
        echo.timeout_message = timeout_message
        return echo

    return Listener(connection)


async def _build_reply(runtime: KindRuntime) -> Listener:
    ctx, options = runtime.ctx, runtime.stream_options()
    text = runtime.config.text.encode()

    def connection() -> ReplyConnection:
        reply = ReplyConnection(ctx, **options)
        reply.reply = text
        return reply

    return Listener(connection)


register(
    ServerKind(
        "echo",
        "sends back every chunk until the client closes (001)",
        Transport.TCP,
        http=False,
        port=5000,  # seed 001
        defaults={"backlog": 5, "recv_size": 2048, "idle_timeout": 300.0},
        build=_stream_kind(EchoConnection),
    )
)

register(
    ServerKind(
        "reply",
        "reads one chunk, answers `--text` (default `Yes`), closes (000)",
        Transport.TCP,
        http=False,
        port=8000,  # seed 000
        defaults={"backlog": 3, "recv_size": 1024, "idle_timeout": 30.0},
        build=_build_reply,
        options=(
            KindOption(
                "text",
                "the text every connection gets (default Yes)",
                flag="--text",
                label="Reply text",
                placeholder="what every connection gets",
                required="the reply text must not be empty",
            ),
        ),
    )
)

register(
    ServerKind(
        "prefix-echo",
        "reads one chunk, answers `Echo=>` + chunk, closes; a client silent past the idle "
        "timeout is closed without a word, as the seed (its `Time Out` is a line on the "
        "server's console: here the `close` line's detail, `Time Out: nothing received in "
        "5 s`); `--timeout-message TEXT` sends TEXT first, as given (002)",
        Transport.TCP,
        http=False,
        port=50014,  # seed 002
        defaults={"backlog": 5, "recv_size": 1024, "idle_timeout": 5.0},
        build=_build_prefix_echo,
        options=(
            KindOption(
                "timeout_message",
                "send TEXT to a client silent past --idle-timeout, then close (default: close "
                "without a word, as seed 002, which prints Time Out on its console)",
                flag="--timeout-message",
                metavar="TEXT",
                parse=lambda text: text or None,
                label="Timeout text",
                placeholder="sent to a silent client; empty: none, as seed 002",
            ),
        ),
    )
)

register(
    ServerKind(
        "time",
        "sends the date and time, closes (004's suggestion)",
        Transport.TCP,
        http=False,
        port=8013,
        defaults={"backlog": 5, "recv_size": 1024, "idle_timeout": 0.0},
        build=_stream_kind(TimeConnection),
        unused=frozenset({"recv_size", "idle_timeout"}),
    )
)
