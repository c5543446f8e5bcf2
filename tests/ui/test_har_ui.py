"""HAR in the TUI: a browser's HAR opened read-only, and the traffic saved as HAR (E)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from uikit import Running, started

from netbench.store import SessionReader
from netbench.store.har_import import import_har
from netbench.ui.app import NO_RAW_BYTES, AppConfig, NetbenchApp
from netbench.ui.screens.export_har import ExportHarScreen, recorded_since
from netbench.ui.widgets.bytes_view import BytesView
from netbench.ui.widgets.http_view import HttpView
from netbench.ui.widgets.tcp_ladder import IMPORTED as NO_PACKETS
from netbench.ui.widgets.tcp_ladder import TcpLadder
from netbench.ui.widgets.traffic import TrafficList, column_widths, row_cells

CHROMIUM_HAR = Path(__file__).resolve().parent.parent / "data" / "chromium-devtools.har"
SIZE = (160, 50)


async def test_a_chromium_har_opens_in_the_same_screens_marked_imported(tmp_path: Path) -> None:
    session = tmp_path / "chromium.netbench.sqlite"
    import_har(CHROMIUM_HAR, session)
    app = NetbenchApp(AppConfig(open_path=session))
    async with app.run_test(size=SIZE) as pilot:
        await started(app)
        await pilot.pause()
        assert app.engine is None
        assert app.sub_title == "chromium-devtools.har  ·  imported from HAR  ·  read-only"
        traffic = app.screen.query_one(TrafficList)
        rows = [traffic.model.row_at(i, app.reader()) for i in range(len(traffic.model))]
        assert [row.target for row in rows if row is not None] == [
            b"http://127.0.0.1:43379/",
            b"http://127.0.0.1:43379/test.jpg",
            b"http://127.0.0.1:43379/favicon.ico",
            b"http://127.0.0.1:43379/upload",
            b"http://127.0.0.1:43379/form?lang=fr&q=caf%C3%A9",
        ]
        assert rows[0] is not None
        label = traffic.model.server_label(rows[0])
        shown = "".join(
            text
            for text, _style in row_cells(
                rows[0], column_widths(160, len(label)), label, imported=True
            )
        )
        assert shown.rstrip().endswith("imported")
        assert "→ :43379" in shown  # the browser was the client, of the server on 43379
        line = traffic.render_line(1).text  # what the screen shows, row 2: the picture
        assert "GET …/test.jpg -> 200" in line  # the path, when the URL does not fit
        assert line.rstrip().endswith("imported")

        await pilot.press("home", "down", "enter")  # the JPEG
        bytes_view = app.screen.query_one(BytesView)
        await pilot.pause(0.3)
        assert bytes_view.render_line(0).text.strip() == NO_RAW_BYTES
        assert len(bytes_view.chunks) == 0

        await pilot.press("h")
        http_view = app.screen.query_one(HttpView)
        async_done = lambda: http_view.exchange is not None  # noqa: E731
        for _ in range(60):
            if async_done():
                break
            await pilot.pause(0.05)
        document = http_view.document.plain
        assert "GET http://127.0.0.1:43379/test.jpg HTTP/1.1" in document
        assert "Referer: http://127.0.0.1:43379/" in document
        assert "JPEG" in document and "13714 bytes" in document

        await pilot.press("p")
        ladder = app.screen.query_one(TcpLadder)
        await pilot.pause(0.3)
        assert ladder.message == NO_PACKETS
        assert ladder.ladder is None


async def test_entries_the_import_skipped_are_told(tmp_path: Path) -> None:
    log = json.loads(CHROMIUM_HAR.read_text(encoding="utf-8"))
    log["log"]["entries"][1]["startedDateTime"] = "\x1b]0;not a date\x07"
    source = tmp_path / "partly.har"
    source.write_text(json.dumps(log))
    session = tmp_path / "partly.netbench.sqlite"
    import_har(source, session)
    app = NetbenchApp(AppConfig(open_path=session))
    async with app.run_test(size=SIZE) as pilot:
        await started(app)
        await pilot.pause()
        assert len(app.screen.query_one(TrafficList).model) == 4
        [notice] = [n for n in app._notifications if n.title == "HAR"]
        assert notice.message.startswith("1 entry of the HAR could not be read and is left out")
        assert "entry 2: startedDateTime" in notice.message
        assert "\x1b" not in notice.message and "\x07" not in notice.message  # inert


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory, where the export proposes its file."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


async def export_with_e(running: Running) -> tuple[Path, str]:
    """Press E, accept the proposed file; (the file, the notification)."""
    running.app.screen.query_one(TrafficList).focus()
    await running.pilot.press("E")
    await running.until(lambda: isinstance(running.app.screen, ExportHarScreen))
    dialog = running.app.screen
    proposed = Path(dialog.query_one("#har-path").value)  # type: ignore[attr-defined]
    before = len(running.app._notifications)
    await running.pilot.press("enter")
    await running.until(lambda: len(running.app._notifications) > before, timeout=10)
    message = list(running.app._notifications)[-1].message
    return proposed, message


async def test_e_saves_every_exchange_as_har(running: Running, here: Path) -> None:
    for path in ("/", "/test.jpg", "/missing"):
        await running.get(path)
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= 3)
    # At once: E waits for the session file (~100 ms behind) to hold what the list shows.
    proposed, message = await export_with_e(running)
    assert proposed.parent == here
    assert proposed.name.endswith(".har") and "-filtered" not in proposed.name
    assert message.startswith(f"3 entries written to {proposed}")
    entries = json.loads(proposed.read_text(encoding="utf-8"))["log"]["entries"]
    assert [e["request"]["url"].rsplit("/", 1)[-1] for e in entries] == ["", "test.jpg", "missing"]
    assert [e["response"]["status"] for e in entries] == [200, 200, 404]


async def test_e_with_a_filter_saves_what_the_filter_shows(running: Running, here: Path) -> None:
    for path in ("/", "/test.jpg", "/missing"):
        await running.get(path)
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= 3)
    await running.pilot.pause(0.2)  # the filter searches the session file
    await running.pilot.press("slash", *"missing", "enter")
    await running.until(lambda: len(traffic.model) == 1)
    proposed, message = await export_with_e(running)
    assert "-filtered" in proposed.name
    assert message.startswith(f"1 entry written to {proposed}")
    [entry] = json.loads(proposed.read_text(encoding="utf-8"))["log"]["entries"]
    assert entry["request"]["url"].endswith("/missing")


async def test_e_into_a_missing_folder_says_why(running: Running, here: Path) -> None:
    await running.get("/")
    await running.pilot.pause(0.2)
    running.app.screen.query_one(TrafficList).focus()
    await running.pilot.press("E")
    await running.until(lambda: isinstance(running.app.screen, ExportHarScreen))
    field = running.app.screen.query_one("#har-path")
    blocked = here / "file"
    blocked.write_text("a file, not a folder")
    field.value = str(blocked / "out.har")  # type: ignore[attr-defined]
    before = len(running.app._notifications)
    await running.pilot.press("enter")
    await running.until(lambda: len(running.app._notifications) > before, timeout=10)
    notification = list(running.app._notifications)[-1]
    assert notification.severity == "error"
    assert notification.message.startswith(f"Cannot write {blocked / 'out.har'}")
    assert running.app.is_running


async def test_export_har_is_in_the_palette(running: Running) -> None:
    titles = [command.title for command in running.app.get_system_commands(running.app.screen)]
    assert "Export HAR" in titles


async def test_e_waits_for_the_session_file_to_hold_what_the_list_shows(running: Running) -> None:
    """The list learns of a request as the session writer does; the file is ~100 ms behind."""
    for attempt in range(5):
        await running.get(f"/just-now-{attempt}")
        asked = time.monotonic()
        await recorded_since(running.app, asked)
        assert running.app.session_path is not None
        with SessionReader(running.app.session_path) as reader:
            targets = [row.request.target for row in reader.exchanges() if row.request]
        assert f"/just-now-{attempt}".encode() in targets


async def test_a_set_cookie_whose_date_overflows_is_exported(
    running: Running, here: Path, tmp_path: Path
) -> None:
    """An Expires year of 20 digits raised OverflowError in the export's worker:
    no file, and no word to the user."""
    engine = running.app.engine
    page = running.app.page_server
    assert engine is not None and page is not None
    response = tmp_path / "hostile.http"
    response.write_bytes(
        b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=1; Expires=Wed, 21 Oct 99999999999999999999"
        b" 07:28:00 GMT; Path=/\r\nContent-Length: 2\r\n\r\nok"
    )
    engine.set_response(page.server_id, response)
    assert await running.get("/") == (200, b"ok")
    traffic = running.app.screen.query_one(TrafficList)
    await running.until(lambda: len(traffic.model) >= 1)
    proposed, message = await export_with_e(running)
    assert message.startswith(f"1 entry written to {proposed}")
    [entry] = json.loads(proposed.read_text(encoding="utf-8"))["log"]["entries"]
    assert entry["response"]["cookies"] == [{"name": "sid", "value": "1", "path": "/"}]
