"""The add-server form offers the app kinds: wsgi with its MODULE:APP field, asgi needing one."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Select
from uikit import Running

from netbench.ui.screens.add_server import AddServerScreen, build_config
from netbench.ui.widgets.servers import ServersPanel

APPS = Path(__file__).resolve().parents[1] / "apps"


async def _form(running: Running, kind: str) -> AddServerScreen:
    running.app.screen.query_one(ServersPanel).focus()
    await running.pilot.press("a")
    await running.until(lambda: isinstance(running.app.screen, AddServerScreen))
    screen = running.app.screen
    assert isinstance(screen, AddServerScreen)
    screen.query_one("#kind", Select).value = kind
    await running.pilot.pause()
    return screen


def _set(screen: AddServerScreen, **values: str) -> None:
    for name, value in values.items():
        screen.query_one(f"#{name}", Input).value = value


async def test_the_wsgi_kind_starts_the_seed_app_from_the_form(running: Running) -> None:
    screen = await _form(running, "wsgi")
    assert screen.query_one("#row-app").display and screen.query_one("#row-app_dir").display
    assert not screen.query_one("#row-text").display
    assert screen.query_one("#app", Input).value == "netbench.engine.kinds.wsgi:application"
    await running.pilot.press("ctrl+s")
    await running.until(lambda: not isinstance(running.app.screen, AddServerScreen), timeout=10)
    panel = running.app.screen.query_one(ServersPanel)
    (row,) = [row for row in panel.rows_by_id.values() if row.kind == "wsgi"]
    assert row.url.startswith("http://127.0.0.1:")
    assert await running.get("/", port=row.address.port) == (200, b"Hello World")


async def test_asgi_needs_an_app_and_says_why_one_fails(running: Running) -> None:
    screen = await _form(running, "asgi")
    assert screen.query_one("#app", Input).value == ""  # the WSGI seed app is no ASGI app
    await running.pilot.press("ctrl+s")
    await running.pilot.pause()
    assert running.app.screen is screen
    assert "asgi needs the application" in str(screen.query_one("#error-app").render())
    _set(screen, app="asgi_cases:a_wsgi_app", app_dir=str(APPS))
    await running.pilot.press("ctrl+s")
    await running.until(
        lambda: "not an ASGI application" in str(screen.query_one("#error-form").render()),
        timeout=10,
    )
    assert running.app.screen is screen  # the form stays open to fix it
    _set(screen, app="starlette_site:app")
    await running.pilot.press("ctrl+s")
    await running.until(lambda: not isinstance(running.app.screen, AddServerScreen), timeout=10)
    (row,) = [
        r
        for r in running.app.screen.query_one(ServersPanel).rows_by_id.values()
        if r.kind == "asgi"
    ]
    assert await running.get("/", port=row.address.port) == (200, b"started by the lifespan")


def test_build_config_checks_the_app_fields() -> None:
    form = {
        "host": "127.0.0.1",
        "port": "0",
        "backlog": "5",
        "recv_size": "1024",
        "idle_timeout": "1",
    }
    config, errors = build_config("wsgi", form | {"app": "not a spec", "app_dir": ""})
    assert config is None and "is not MODULE:APP" in errors["app"]
    config, errors = build_config("wsgi", form | {"app": "", "app_dir": "/no/such/dir"})
    assert config is None and "is not a directory" in errors["app_dir"]
    config, errors = build_config("asgi", form | {"app": "main:app", "app_dir": str(APPS)})
    assert errors == {} and config is not None
    assert (config.value("app"), config.value("app_dir")) == ("main:app", APPS)


def test_the_http_tab_shows_an_apps_traceback_under_its_error() -> None:
    from netbench.model import HttpRequest, HttpResponse
    from netbench.store.reader import ExchangeRow
    from netbench.ui.widgets.http_view import exchange_document

    error = "the app raised KeyError: 'x\x1b[2J'\nTraceback (most recent call last):\n  File \"app.py\", line 3"
    response = HttpResponse(500, b"Internal Server Error", "1.1", (), b"", 0, error=error)
    request = HttpRequest(b"GET", b"/", "1.1", (), b"", 0)
    row = ExchangeRow(1, 1, 0, request, response, 0, 0, 1, 1, 0.0, 0.0, 0.0, 0.0)
    lines = exchange_document(None, row).plain.splitlines()
    banner = next(line for line in lines if "⚠" in line)
    assert "response error: the app raised KeyError: 'x␛[2J'" in banner  # escaped
    assert "Traceback (most recent call last):" in lines
    assert '  File "app.py", line 3' in lines
