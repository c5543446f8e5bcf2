"""The handout: one HTML file, every step's screen inline as SVG, every explanation, escaped."""

from __future__ import annotations

import html
import re
from pathlib import Path

from netbench.ui.handout import write_handout
from netbench.workshop import find_scenario, parse_scenario

LESSON = """
name = "tags"
title = "A <b>bold</b> title & more"
summary = "Summary with <script>alert(1)</script>."
takeaway = "Take <i>this</i> away."

[[step]]
do = "listen"
socket = "listener"
title = "listen <em>now</em>"
explain = "A <script>alert('x')</script> & [bold]markup[/] stay text."

[[step]]
do = "connect"
socket = "client"
to = "listener"
title = "connect"
explain = "Connected."
"""


def test_the_handshake_handout_has_every_step(tmp_path: Path) -> None:
    out = tmp_path / "handshake.html"
    scenario = find_scenario("handshake")
    assert write_handout(scenario, out) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["handshake.html"]  # one file
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 5
    assert len(re.findall(r'<section class="step" id="step-\d">', page)) == 5
    assert "<h1>The three-way handshake: connect() returns before accept()</h1>" in page
    assert "Step 2 of 5" in page
    assert "client: send(b&#x27;hello&#x27;)" in page
    assert "recv(1024) returns what was queued: &#x27;hello&#x27;." in page  # filled in, escaped
    assert "accept() only dequeues a connection that is already ESTABLISHED" in page
    assert "cdnjs" not in page and 'url("http' not in page  # opens offline
    for step in scenario.steps:
        first_words = " ".join(step.explain.split()[:4])
        assert html.escape(first_words) in page


def test_text_in_the_handout_is_escaped(tmp_path: Path) -> None:
    out = tmp_path / "tags.html"
    assert write_handout(parse_scenario(LESSON, "test"), out) == 2
    page = out.read_text(encoding="utf-8")
    assert "<script>" not in page and "<b>bold" not in page and "<em>now" not in page
    assert "A &lt;b&gt;bold&lt;/b&gt; title &amp; more" in page
    assert (
        "A &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; [bold]markup[/] stay text."
        in page
    )
    assert "Take &lt;i&gt;this&lt;/i&gt; away." in page
    assert "[bold]markup[/]" in page.split("<svg", 1)[1]  # on screen too, never parsed as markup
