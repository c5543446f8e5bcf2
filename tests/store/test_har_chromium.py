"""HAR both ways with a real browser: headless Chromium's own DevTools.

Chromium loads netbench's page (its JPEG, the favicon) and posts two forms
while `netbench serve http` records. Then:
- DevTools' HAR of that traffic (tests/chromiumkit.py) imports as a session
  holding the same requests and bodies netbench recorded on the wire;
- netbench's HAR export of its session imports into DevTools (the Network
  panel's "Import HAR file" code) with every entry, status and body.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from chromiumkit import CHROMIUM, devtools_har, devtools_import

from netbench.engine.engine import load_test_jpeg
from netbench.store import SessionReader
from netbench.store.har import HarExport
from netbench.store.har_import import import_har

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium or chromium-browser binary on PATH"),
]


@pytest.fixture(scope="module")
def browsed(start_module_serve: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the session netbench recorded, the HAR Chromium's DevTools saved of the same traffic)."""
    session = tmp_path_factory.mktemp("browser") / "browser.netbench.sqlite"
    server = start_module_serve("http", "--session", str(session))
    har = devtools_har(server.url)
    assert server.stop() == 0
    return session, har


def requests_of(session: Path) -> dict[tuple[bytes, bytes], Any]:
    """(method, path) -> the exchange, for a recorded or an imported session."""
    with SessionReader(session) as reader:
        found = {}
        for row in reader.exchanges():
            if row.request is not None:
                path = row.request.target.split(b"://", 1)[-1]
                path = path if path.startswith(b"/") else b"/" + path.partition(b"/")[2]
                found[(row.request.method, path)] = row
        return found


def test_chromiums_har_imports_as_what_netbench_saw_on_the_wire(
    browsed: tuple[Path, str], tmp_path: Path
) -> None:
    session, har = browsed
    source = tmp_path / "chromium.har"
    source.write_text(har, encoding="utf-8")
    imported = tmp_path / "imported.netbench.sqlite"
    import_har(source, imported)
    seen, from_har = requests_of(session), requests_of(imported)
    wanted = {
        (b"GET", b"/"),
        (b"GET", b"/test.jpg"),
        (b"POST", b"/upload"),
        (b"POST", b"/form?lang=fr&q=caf%C3%A9"),
    }
    assert wanted <= set(seen) and wanted <= set(from_har)
    assert from_har[(b"GET", b"/test.jpg")].response.body == load_test_jpeg()
    assert seen[(b"GET", b"/test.jpg")].response.body == load_test_jpeg()
    form = (b"POST", b"/form?lang=fr&q=caf%C3%A9")
    assert from_har[form].request.body == seen[form].request.body == b"name=Zo%C3%AB"
    for key in wanted:
        assert from_har[key].response.status == seen[key].response.status


def test_devtools_imports_netbenchs_har(browsed: tuple[Path, str], tmp_path: Path) -> None:
    session, _har = browsed
    out = tmp_path / "netbench.har"
    with SessionReader(session) as reader:
        HarExport(reader).save(out)
    exported = json.loads(out.read_text(encoding="utf-8"))["log"]["entries"]
    loaded = devtools_import(out.read_text(encoding="utf-8"))
    assert [(r["method"], r["url"], r["status"]) for r in loaded] == [
        (e["request"]["method"], e["request"]["url"], e["response"]["status"]) for e in exported
    ]
    picture = next(r for r in loaded if r["url"].endswith("/test.jpg"))
    assert base64.b64decode(picture["base64"]) == load_test_jpeg()
    form = next(r for r in loaded if "/form?" in r["url"])
    assert form["requestBody"] == "name=Zo%C3%AB"
    page = next(r for r in loaded if r["url"].endswith("/"))
    assert "Wow, Python Server" in page["body"]
