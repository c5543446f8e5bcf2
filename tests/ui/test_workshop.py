"""Workshop mode in the terminal: pick a lesson, step through it, go back, start over.

Real lessons on real sockets (capture off: the packets are inferred and say
so), driven by Textual's pilot; the assertions read the screen's text.
"""

from __future__ import annotations

import re
from pathlib import Path

from uikit import started
from workshopkit import press_and_wait, screen_text, step_screen, until

from netbench.ui.app import AppConfig, NetbenchApp
from netbench.ui.screens.help import HelpScreen
from netbench.ui.screens.main import MainScreen
from netbench.ui.screens.workshop import WorkshopPicker, WorkshopScreen
from netbench.ui.widgets import workshop_panes as panes
from netbench.ui.workshop_app import WorkshopApp
from netbench.workshop import builtin_scenarios, find_scenario, parse_scenario
from netbench.workshop.results import ChunkRow

SIZE = (100, 30)


def _lines_with(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


def _socket_row(text: str, name: str) -> list[str]:
    """The sockets table's row for `name`, split in cells (the "new" mark dropped)."""
    [row] = [
        line.split()
        for line in text.splitlines()
        if line.split()[:1] == [name] and "127" not in line and ":" in line
    ]
    return [cell for cell in row if cell != "new"]


async def test_pick_handshake_and_step_through_it_with_the_space_bar() -> None:
    app = WorkshopApp(None, capture=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: isinstance(app.screen, WorkshopPicker))
        text = screen_text(app)
        for scenario in builtin_scenarios():  # one row each: name, then title
            assert any(
                scenario.name in line and scenario.title[:40] in line for line in text.splitlines()
            )
        await pilot.press("enter")  # the first row: handshake
        screen = await step_screen(app)
        intro = screen_text(app)
        assert "Workshop · handshake" in intro and "5 steps" in intro
        assert "server: socket(), bind(), listen(5)" in intro  # the plan

        text = await press_and_wait(pilot, screen, "space")
        assert "step 1 of 5" in text and "the server acts" in text
        assert "no packet on the wire in this step" in text
        assert _socket_row(text, "listener")[1] == "LISTEN"

        text = await press_and_wait(pilot, screen, "space")
        assert "step 2 of 5" in text and "the client acts" in text
        assert "Packets this step: 3 (inferred)" in text
        arrows = [line for line in text.splitlines() if "seq=" in line]
        assert [re.findall(r"([A-Z-]+)  seq=", line) for line in arrows] == [
            ["SYN"],
            ["SYN-ACK"],
            ["ACK"],
        ]
        assert all("client" in line and "listener" in line for line in arrows)
        assert "▷" in arrows[0] and "◁" in arrows[1]  # client to server, and back
        assert len(_lines_with(text, "inferred · ")) == 3  # each packet labelled
        client, listener = _socket_row(text, "client"), _socket_row(text, "listener")
        assert client[1] == "ESTABLISHED"
        # socket state local remote Recv-Q Send-Q accept unacked retr rtt wnd
        assert listener[1] == "LISTEN" and listener[6] == "1"
        assert "✓ accept queue of listener: 1" in text
        assert "packets: inferred: nothing was captured" in text

        text = await press_and_wait(pilot, screen, "b")  # back: step 1 again, fresh sockets
        assert "step 1 of 5" in text and "Packets this step" not in text
        assert [row.split()[0] for row in _lines_with(text, "ESTABLISHED")] == []

        for expected in (2, 3, 4, 5):
            text = await press_and_wait(pilot, screen, "n" if expected == 3 else "space")
            assert f"step {expected} of 5" in text
        assert "Takeaway" in text
        assert "accept() only dequeues a connection that is already ESTABLISHED" in text
        assert "recv returned" not in text  # the check already says what it returned
        assert "✓ the call returned: hello" in text
        assert "conn recv ←     5 B  hello" in text  # the bytes so far, chunk by chunk

        text = await press_and_wait(pilot, screen, "r")  # restart: the introduction
        assert "5 steps: space runs the first." in text
        assert screen.runner.results == []
        text = await press_and_wait(pilot, screen, "space")
        assert "step 1 of 5" in text

        await pilot.press("escape")  # back to the lessons
        await until(lambda: isinstance(app.screen, WorkshopPicker))
        await pilot.press("escape")  # and out
        await until(lambda: not app.is_running)
    assert app.return_code == 0


async def test_auto_play_steps_on_until_a_key() -> None:
    app = WorkshopApp(builtin_scenarios()[0], capture=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await step_screen(app)
        screen.auto_play_gap = 0.2
        await pilot.press("a")
        await until(lambda: len(screen.runner.results) >= 2)
        assert "▶ auto-play" in screen_text(app)
        await pilot.press("x")  # any key stops it
        stopped_at = len(screen.runner.results)
        await until(lambda: not screen.busy)
        await pilot.pause(0.5)
        assert len(screen.runner.results) <= stopped_at + 1  # a step already running finishes
        assert not screen.auto_playing and "▶ auto-play" not in screen_text(app)

        await pilot.press("a")  # on again: to the end, then it stops by itself
        await until(lambda: screen.runner.done and not screen.busy, timeout=20)
        await until(lambda: not screen.auto_playing)
        assert "step 5 of 5" in screen_text(app)


HOSTILE = """
name = "hostile"
title = "Markup [/] and [@click=app.quit]x[/]"
summary = "Bytes that look like markup or escape sequences."
takeaway = "Shown, never obeyed: [bold]x[/]"

[[step]]
do = "listen"
socket = "listener"
title = "listen [bold]x[/]"
explain = "a [@click=app.quit]quit[/] that must stay text"
expect = { accept_queue = { listener = 3 } }

[[step]]
do = "connect"
socket = "client"
to = "listener"
title = "connect"
explain = "connects"

[[step]]
do = "send"
socket = "client"
data_hex = "1b5d303b70776e6564075b2f5d0d0a"
title = "send an OSC title sequence and [/]"
explain = "sent: '{returned}'"
"""


async def test_bytes_and_names_are_shown_never_obeyed_and_a_failed_check_says_so() -> None:
    app = WorkshopApp(parse_scenario(HOSTILE, "test"), capture=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await step_screen(app)
        text = await press_and_wait(pilot, screen, "space")
        assert "listen [bold]x[/]" in text
        assert "a [@click=app.quit]quit[/] that must stay text" in text
        assert "✗ accept queue of listener: expected 3, the kernel disagreed: 0" in text
        await press_and_wait(pilot, screen, "space")
        text = await press_and_wait(pilot, screen, "space")
        assert "␛]0;pwned␇[/]␍␊" in text  # the chunk, every control byte a symbol
        assert app.is_running


async def test_w_on_the_main_screen_opens_the_workshop(tmp_path: Path) -> None:
    app = NetbenchApp(AppConfig(port=0, session=tmp_path / "ui.netbench.sqlite", capture=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Workshop" in titles  # the command palette
        await pilot.press("w")
        await until(lambda: isinstance(app.screen, WorkshopPicker))
        assert "handshake" in screen_text(app)
        await pilot.press("enter")
        screen = await step_screen(app)
        await press_and_wait(pilot, screen, "space")
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, WorkshopPicker))
        assert screen.runner.lab.sockets == {} or all(
            s.sock is None for s in screen.runner.lab.sockets.values()
        )
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen))
        assert not isinstance(app.screen, WorkshopScreen)


async def test_f1_in_the_workshop_lists_its_keys_and_says_what_a_lesson_is() -> None:
    app = WorkshopApp(None, capture=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: isinstance(app.screen, WorkshopPicker))
        await pilot.press("enter")
        screen = await step_screen(app)
        await pilot.press("f1")
        await until(lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        text = screen_text(app)
        assert "one socket call a step" in text  # the workshop's words, not the workstation's
        assert "page server" not in text
        assert "workshop.next" in text and "workshop.back" in text
        await pilot.press("f1")  # closes it again
        await until(lambda: app.screen is screen)


async def test_at_80_columns_the_sockets_table_leaves_out_what_does_not_fit() -> None:
    """`wnd s/r` and its values wrapped onto lines of their own at 80 columns."""
    app = WorkshopApp(builtin_scenarios()[0], capture=False)
    async with app.run_test(size=(80, 40)) as pilot:
        screen = await step_screen(app)
        await press_and_wait(pilot, screen, "space")
        text = await press_and_wait(pilot, screen, "space")
        [header] = [line for line in text.splitlines() if "Recv-Q" in line]
        assert header.split()[:3] == ["socket", "state", "local"]
        assert "wnd" not in text.split("Recv-Q", 1)[1].split("What happened", 1)[0]
        assert _socket_row(text, "listener")[1] == "LISTEN"  # a row on one line
    wide = WorkshopApp(builtin_scenarios()[0], capture=False)
    async with wide.run_test(size=(140, 40)) as pilot:
        screen = await step_screen(wide)
        await press_and_wait(pilot, screen, "space")
        text = await press_and_wait(pilot, screen, "space")
        assert "wnd s/r" in text  # room for every column


async def test_the_intro_lists_every_step_it_counts() -> None:
    """ "5 steps: space runs the first." and then only 1-4 were listed, at every size."""
    scenario = builtin_scenarios()[0]
    for size in [(100, 30), (80, 24), (140, 45)]:
        app = WorkshopApp(scenario, capture=False)
        async with app.run_test(size=size):
            await step_screen(app)
            text = screen_text(app)
            assert f"{len(scenario.steps)} steps" in text
            last = f"{len(scenario.steps)}. {scenario.steps[-1].title}"
            assert last in text, text


async def test_the_bytes_pane_counts_one_chunk_as_one_chunk() -> None:
    """ "Bytes so far (1 chunks)" after the handshake lesson's one send."""
    app = WorkshopApp(find_scenario("handshake"), capture=False)
    async with app.run_test(size=(120, 60)) as pilot:
        screen = await step_screen(app)
        for _ in range(4):  # listen, connect, accept, send("hello")
            text = await press_and_wait(pilot, screen, "space")
        assert "Bytes so far (1 chunk)" in text
        text = await press_and_wait(pilot, screen, "space")  # conn's recv
        assert "Bytes so far (2 chunks)" in text


def test_earlier_chunks_are_counted_in_words_that_agree() -> None:
    chunks = [ChunkRow("client", n, "sent", b"x") for n in range(panes.CHUNKS_SHOWN + 1)]
    assert "… 1 earlier chunk\n" in panes.chunks_text(chunks).plain


def _pane(text: str, title: str) -> list[str]:
    """The lines of the pane titled `title` (up to the next pane's border or the blank rest)."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(f"─{title}"))
    pane = []
    for line in lines[start + 1 :]:
        if line.startswith("─") or not line.strip():
            break
        pane.append(line)
    return pane


async def test_a_jpeg_response_is_summarised_and_byte_previews_stay_on_their_line() -> None:
    """The checks began `✓ http_request returned 13843 B: HTTP/1.1 200 OK␍␊… \\xff\\xd8…JFIF`,
    and each chunk's preview went on at column 0, mid-word (`Connection: keep-`)."""
    app = WorkshopApp(find_scenario("page-and-image"), capture=False)
    async with app.run_test(size=(100, 60)) as pilot:
        screen = await step_screen(app)
        for _ in range(4):  # the server, connect, GET /, GET /test.jpg
            text = await press_and_wait(pilot, screen, "space")
        assert "step 4 of 5" in text
        outcome = _pane(text, "Checks")[0]
        assert re.search(
            r"http_request returned \d+ B: HTTP/1\.1 200 OK, \d+ B, image/jpeg", outcome
        )
        assert "JFIF" not in outcome and "\\x" not in outcome and "␍␊" not in outcome
        chunks = _pane(text, "Bytes so far (4 chunks)")
        assert len(chunks) == 4  # one line each
        assert all(re.match(r"^ +browser (sent →|recv ←) +\d+ B  ", line) for line in chunks)
        assert all(line.rstrip().endswith("…") for line in chunks)  # cut, and saying so


def _palette_hits(text: str) -> set[str]:
    """The binding ids the palette lists (each hit's help line: `keys  ·  id`)."""
    return set(re.findall(r"  ·  (workshop\.\w+)", text))


async def test_the_command_palette_finds_the_lessons_actions_and_runs_them() -> None:
    """In `netbench workshop`, ctrl+p then "step" or "auto" said "No matches found"."""
    from textual.command import CommandPalette

    app = WorkshopApp(find_scenario("handshake"), capture=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await step_screen(app)
        await pilot.press("ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"step")
        await until(lambda: {"workshop.next", "workshop.back"} <= _palette_hits(screen_text(app)))
        assert "No matches found" not in screen_text(app)
        await pilot.press(*["backspace"] * 4, *"auto")
        await until(lambda: _palette_hits(screen_text(app)) == {"workshop.auto_play"})
        await pilot.press(*["backspace"] * 4, *"next step")
        await until(lambda: "workshop.next" in _palette_hits(screen_text(app)))
        await pilot.press("enter")  # run from the palette: the lesson's first step
        await until(
            lambda: app.screen is screen and bool(screen.runner.results) and not screen.busy
        )
        await until(lambda: "step 1 of 5" in screen_text(app))
