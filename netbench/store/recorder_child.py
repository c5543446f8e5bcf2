"""The recorder process: a `SessionWriter` fed through a pipe (store/recorder.py).

Run as `python -m netbench.store.recorder_child` by `RecorderProcess`, never
by hand. It reads frames on stdin (store/recorder_wire.py): `open` with the
writer's settings, then `batch`es, then `close`. It answers on stdout:
`opened` with the first free ids (or `failed` with why), `written` with the
highest batch committed after every commit, `backlog` when the engine should
pause or may resume, `error` when recording stopped, and `closed` at the end.

Rules:
- stdout carries frames only: whatever else would print goes to stderr,
  which the engine's side keeps the tail of for its report;
- the end of stdin without `close` means the engine's process is gone (a
  kill, a crash): everything received is still written, and the recording
  is left unended, so readers show its connections as ended uncleanly;
- it runs in its own session (no terminal signals: the engine decides when
  recording ends) and ignores SIGINT, SIGTERM ends it as a lost engine does.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import IO, Any

from netbench.store.errors import StoreError
from netbench.store.recorder_wire import BatchMark, decode_events, message, read_frame, write_frame
from netbench.store.writer import SessionWriter


class _Replies:
    """Frames to the engine from the writer's thread and the reading one."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.gone = False

    def send(self, *fields: object) -> None:
        with self._lock:
            if self.gone:
                return
            try:
                write_frame(self._stream, message(*fields))
            except (OSError, ValueError):
                self.gone = True  # the engine's end is closed: keep recording regardless


def _writer(settings: dict[str, Any], replies: _Replies) -> SessionWriter:
    anchors = settings.get("anchors")
    writer = SessionWriter(
        settings["path"],
        flush_interval=settings["flush_interval"],
        argv=settings["argv"],
        anchors=(anchors[0], anchors[1]) if anchors else None,
        backlog_limit=settings["backlog_limit"],
        backlog_bytes=settings["backlog_bytes"],
        wal_limit=settings["wal_limit"],
        engine_pid=settings["engine_pid"],
        on_error=lambda text: replies.send("error", text),
    )
    writer.on_backlog = lambda behind: replies.send("backlog", behind)
    writer.on_written = lambda: replies.send("written", writer.marked)
    return writer


def serve(requests: IO[bytes], answers: IO[bytes]) -> int:
    replies = _Replies(answers)
    first = read_frame(requests)
    if first is None or first[0] != "open" or not isinstance(first[1], dict):
        replies.send("failed", "the recorder was not told what to record")
        return 2
    writer = _writer(first[1], replies)
    try:
        writer.open()
    except StoreError as error:
        replies.send("failed", str(error))
        return 1
    replies.send("opened", writer.next_ids())
    ended = False
    try:
        while (frame := read_frame(requests)) is not None:
            if frame[0] == "batch":
                for event in decode_events(frame[2]):
                    writer(event)
                writer(BatchMark(frame[1]))
            elif frame[0] == "close":
                ended = True
                break
    finally:
        writer.close(ended=ended)
        replies.send("closed", writer.skipped)
    return 0


def _terminated(*_: object) -> None:
    # As if the engine were gone: `serve`'s finally still writes what was received.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(0)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminated)
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    return serve(requests, answers)


if __name__ == "__main__":
    sys.exit(main())
