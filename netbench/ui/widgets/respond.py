"""The Respond tab: write the raw response an HTTP server sends next, and its rules.

Saving writes the text to a per-server file next to the session
(`<session>.responses/server-<id>.http`) and points the server at it with
`Engine.set_response`: exactly what `serve --response FILE` does, so the
very next request gets it, and the file can be reused from the CLI.

The editor holds text, so a binary body (an image) is named, not pasted:
`#!netbench body-file PATH` (protocol/directives.py) makes a file's bytes the
body; the JPEG preset does this with the shipped test.jpg. The other
directives (drip, delay, close-after, reset-after) drive the slow, cut and
reset presets the same way.

`ctrl+r` swaps the editor to the server's TOML rules file (method + path ->
response); saving it validates, writes `server-<id>.rules.toml` and calls
`Engine.set_rules`. The rules in force are listed under the editor.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Button, Label, Select, Static, Switch, TextArea

from netbench.engine import registry
from netbench.engine.engine import EngineError, RunningServer
from netbench.protocol.directives import DirectiveError, parse_directives
from netbench.protocol.rules import RulesError, parse_rules
from netbench.protocol.textsafe import visible_text
from netbench.store.paths import make_private_dir

if TYPE_CHECKING:
    from netbench.ui.app import NetbenchApp

Mode = Literal["response", "rules"]

_JPEG = Path(str(resources.files("netbench").joinpath("assets/test.jpg")))
_TEXT = "Content-Type: text/plain; charset=utf-8\n\n"
_LINES = "".join(f"line {n:02d} of a slow answer\n" for n in range(1, 11))

PRESETS: tuple[tuple[str, str], ...] = (
    (
        "200 HTML",
        "HTTP/1.1 200 OK\nContent-Type: text/html; charset=utf-8\n\n"
        "<!DOCTYPE html>\n<html><head><title>netbench</title></head>\n"
        "<body><h1>Hello from the Respond editor</h1></body></html>\n",
    ),
    ("404 Not Found", "HTTP/1.1 404 Not Found\n" + _TEXT + "nothing here\n"),
    ("301 redirect", "HTTP/1.1 301 Moved Permanently\nLocation: /\n" + _TEXT + "moved to /\n"),
    (
        "JSON",
        'HTTP/1.1 200 OK\nContent-Type: application/json\n\n{"ok": true, "items": [1, 2, 3]}\n',
    ),
    (
        "JPEG image",
        f"#!netbench body-file {_JPEG}\nHTTP/1.1 200 OK\nContent-Type: image/jpeg\n\n",
    ),
    (
        # Chunk framing is in the body, which is never rewritten: it needs real CRLFs.
        "chunked",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        "7\r\nchunked\r\n9\r\n response\r\n0\r\n\r\n",
    ),
    ("slow drip", "#!netbench drip 0.2 8\nHTTP/1.1 200 OK\n" + _TEXT + _LINES),
    ("close before the body", "#!netbench close-after head\nHTTP/1.1 200 OK\n" + _TEXT + _LINES),
    ("reset mid-body", "#!netbench reset-after head+30\nHTTP/1.1 200 OK\n" + _TEXT + _LINES),
)
"""(label, raw response) shown in the preset menu; LF line ends are made CRLF on send."""

RULES_TEMPLATE = """\
# Rules: first match wins; unmatched requests get the response file, then the page.
# [[rule]]
# method = ["GET", "HEAD"]      # omitted: any method
# path = "/api/*"               # shell-style glob on the path
# response = "api.http"         # a raw response file, next to this one
#
# [[rule]]
# path = "/teapot"
# text = "HTTP/1.1 418 I'm a teapot\\n\\nshort and stout\\n"
"""


@dataclass(frozen=True, slots=True)
class ResponseDraft:
    """The response in the editor, as it would be sent (the Intercept tab uses it)."""

    raw: bytes
    raw_mode: bool
    fix_length: bool


def editable(data: bytes) -> str | None:
    """The file as editor text, or None if it holds bytes a text editor would mangle."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any((ord(c) < 0x20 and c not in "\t\r\n") or ord(c) == 0x7F for c in text):
        return None
    return text


def _answers(running: RunningServer) -> str:
    """Who answers the server's requests when no response file is saved."""
    kind = registry.find(running.config.kind)
    return (kind.answers if kind is not None else "") or "the server"


def write_atomically(path: Path, data: bytes) -> None:
    """Replace the file in one step: a request never reads half a save.

    The folder is netbench's own and private like the session beside it; the
    file is 0600 (mkstemp's mode, kept by the rename).
    """
    make_private_dir(path.parent, ours=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RespondPane(Vertical):
    """Edit what an HTTP server answers; saving applies to its very next request."""

    DEFAULT_CSS = """
    RespondPane { height: 1fr; }
    RespondPane > #respond-bar { height: 1; }
    RespondPane > #respond-bar > Select { width: 28; }
    RespondPane > #respond-bar > Switch {
        height: 1; width: auto; border: none; padding: 0; margin-left: 1;
    }
    RespondPane > #respond-bar > Label { margin-left: 1; }
    RespondPane > #respond-bar > Button { margin-left: 1; min-width: 6; }
    RespondPane > TextArea { height: 1fr; }
    RespondPane > #respond-status { height: auto; max-height: 2; color: $text-muted; }
    RespondPane > #respond-rules { height: auto; max-height: 6; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="respond.save", tooltip="Apply to the next request"),
        Binding("ctrl+r", "toggle_rules", "Rules/response", id="respond.rules"),
        Binding("ctrl+b", "revert", "Built-in page", id="respond.revert"),
        # Letters type into the editor; escape is the way out, so the footer says it.
        Binding("escape", "screen.focus_traffic", "Leave editor", id="respond.leave"),
    ]

    server_id: reactive[int | None] = reactive(None, init=False)
    """The HTTP server edited; None means the app's page server."""
    mode: reactive[Mode] = reactive("response", init=False)
    """What the editor holds: the raw response, or the TOML rules file."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._drafts: dict[tuple[int, Mode], str] = {}
        self._shown: tuple[int, Mode] | None = None
        self._response_draft = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="respond-bar"):
            yield Select(
                [(label, index) for index, (label, _raw) in enumerate(PRESETS)],
                prompt="Preset…",
                compact=True,
                id="respond-preset",
            )
            yield Switch(True, id="respond-auto-length", animate=False)
            yield Label("auto Content-Length")
            yield Switch(False, id="respond-raw", animate=False)
            yield Label("raw")
            yield Button("Save", id="respond-save", compact=True, action="save")
            yield Button("Rules", id="respond-rules-button", compact=True, action="toggle_rules")
            yield Button("Built-in page", id="respond-revert", compact=True, action="revert")
        yield TextArea(soft_wrap=False, show_line_numbers=True, id="respond-text")
        yield Static(id="respond-status", markup=False)
        yield Static(id="respond-rules", markup=False)

    def on_mount(self) -> None:
        self._load()

    # -- the server being edited -----------------------------------------------------

    @property
    def _app(self) -> NetbenchApp:
        return self.app  # type: ignore[return-value]

    @property
    def target(self) -> RunningServer | None:
        """The server edited: `server_id`'s, else the page server (None: read-only)."""
        return self._app.server_or_page(self.server_id)

    def files_for(self, server_id: int) -> tuple[Path, Path]:
        """Where the editor saves this server's response and rules files."""
        session = self._app.session_path
        base = (
            Path(f"{session}.responses")
            if session is not None
            else Path(tempfile.gettempdir()) / "netbench-responses"
        )
        return base / f"server-{server_id}.http", base / f"server-{server_id}.rules.toml"

    def watch_server_id(self) -> None:
        self._load()

    def watch_mode(self, mode: Mode) -> None:
        rules = mode == "rules"
        for selector in ("#respond-preset", "#respond-auto-length", "#respond-raw"):
            self.query_one(selector).disabled = rules
        button = self.query_one("#respond-rules-button", Button)
        button.label = "Response" if rules else "Rules"
        button.refresh(layout=True)
        self._show_title()

    def draft(self) -> ResponseDraft:
        """The response being edited (also while the rules are shown)."""
        text = self.query_one(TextArea).text if self.mode == "response" else self._response_draft
        return ResponseDraft(
            text.encode("utf-8"),
            raw_mode=self.query_one("#respond-raw", Switch).value,
            fix_length=self.query_one("#respond-auto-length", Switch).value,
        )

    # -- loading -------------------------------------------------------------------------

    def _load(self) -> None:
        """Show the current server's text for the current mode (a draft if any)."""
        if not self.is_mounted:
            return
        editor = self.query_one(TextArea)
        if self._shown is not None:
            self._drafts[self._shown] = editor.text
        running = self.target
        if running is None or not registry.is_http(running.config.kind):
            editor.read_only = True
            editor.text = ""
            self._shown = None
            self._status(
                "Read-only session: no server to answer."
                if running is None
                else f"{running.url} ({running.config.kind}) takes no response: only HTTP "
                "servers do."
            )
            self._show_title()
            self.query_one("#respond-rules", Static).update("")  # no rules either
            return
        key = (running.server_id, self.mode)
        text, note = self._drafts.get(key), None
        if text is None:
            text, note = self._from_disk(running)
            if self.mode == "response":
                live = running.live
                raw = live.raw if live is not None else running.config.raw
                self.query_one("#respond-raw", Switch).value = raw
                auto = live.fix_length if live is not None else True
                self.query_one("#respond-auto-length", Switch).value = auto
        editor.read_only = False
        editor.text = text
        self._shown = key
        self._show_title()
        self._show_rules(running)
        self._status(note or self._where(running))

    def _from_disk(self, running: RunningServer) -> tuple[str, str | None]:
        """The text of the server's file, or a starting point and why."""
        live = running.live
        path = None
        if live is not None:
            path = live.response_path if self.mode == "response" else live.rules_path
        fallback = PRESETS[0][1] if self.mode == "response" else RULES_TEMPLATE
        if path is None:
            return fallback, None
        try:
            text = editable(path.read_bytes())
        except OSError as error:
            return fallback, f"Cannot read {path}: {error.strerror}; showing a preset."
        if text is None:
            return fallback, f"{path} holds binary bytes; showing a preset (file untouched)."
        return text, None

    # -- actions ---------------------------------------------------------------------------

    def action_save(self) -> None:
        """Write the editor's text to the server's file and answer from it."""
        running, engine = self.target, self._app.engine
        if running is None or engine is None:
            self.notify("Read-only session: nothing to save.", severity="warning")
            return
        text = self.query_one(TextArea).text
        response_file, rules_file = self.files_for(running.server_id)
        data = text.encode("utf-8")
        try:
            if self.mode == "rules":
                parse_rules(text, rules_file.parent)
                write_atomically(rules_file, data)
                engine.set_rules(running.server_id, rules_file)
                self._status(f"Saved {rules_file.name}: rules apply from the next request.")
            else:
                write_atomically(response_file, data)
                engine.set_response(
                    running.server_id,
                    response_file,
                    raw=self.query_one("#respond-raw", Switch).value,
                    fix_length=self.query_one("#respond-auto-length", Switch).value,
                )
                self._status(f"Saved {response_file.name}: " + self._where(running))
                self._check_directives(data)
        except RulesError as error:
            message = visible_text(f"Not saved: {error}")  # it may quote the file
            self.notify(message, title="Rules", severity="error", markup=False)
            return
        except (OSError, EngineError) as error:
            message = visible_text(f"Not saved: {error}")
            self.notify(message, title="Respond", severity="error", markup=False)
            return
        self._drafts.pop((running.server_id, self.mode), None)
        self._show_rules(running)

    def action_toggle_rules(self) -> None:
        """Swap the editor between the response and the rules file."""
        if self.mode == "response":
            self._response_draft = self.query_one(TextArea).text
        self.mode = "rules" if self.mode == "response" else "response"
        self._load()

    def action_revert(self) -> None:
        """Stop answering from the response file: the server's own page answers again."""
        running, engine = self.target, self._app.engine
        if running is None or engine is None:
            return
        engine.set_response(running.server_id, None)
        rules = " (its rules still apply first)" if running.live is not None else ""
        self._status(f"{_answers(running).capitalize()} answers the next request{rules}.")

    @on(Select.Changed, "#respond-preset")
    def _preset_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, int) and self.mode == "response":
            self.query_one(TextArea).text = PRESETS[event.value][1]
            self._status(f"Preset {PRESETS[event.value][0]!r}: ctrl+s applies it.")
            self.query_one(TextArea).focus()

    # -- rendering -------------------------------------------------------------------------

    def _where(self, running: RunningServer) -> str:
        if self.mode == "rules":
            return f"Rules for {running.url}: ctrl+s checks and applies them."
        live = running.live
        if live is None or live.response_path is None:
            return f"{_answers(running)} answers {running.url} (ctrl+s answers with this text)."
        return f"the next request to {running.url} gets this response."

    def _check_directives(self, data: bytes) -> None:
        try:
            parse_directives(data)
        except DirectiveError as error:
            self._status(f"Saved, but requests get a 500 until fixed: {error}")

    def _show_title(self) -> None:
        running = self.target
        where = running.url if running is not None else "no server"
        what = "rules (TOML)" if self.mode == "rules" else "raw response"
        self.query_one(TextArea).border_title = f"{what} for {where}"

    def _show_rules(self, running: RunningServer) -> None:
        path = running.live.rules_path if running.live is not None else None
        if path is None:
            text = "No rules: every request gets the response above (ctrl+r writes rules)."
        else:
            text = self._describe_rules(path)
        self.query_one("#respond-rules", Static).update(text)

    @staticmethod
    def _describe_rules(path: Path) -> str:
        try:
            rules = parse_rules(path.read_text("utf-8"), path.parent)
        except (OSError, UnicodeDecodeError, RulesError) as error:
            return visible_text(f"Rules {path.name}: {error}")
        if not rules:
            return f"Rules {path.name}: none yet."
        lines = [f"Rules {path.name} (first match wins):"]
        for rule in rules:
            if rule.response_file is not None:
                answer = rule.response_file.name
            else:
                first = (rule.text or b"").split(b"\n", 1)[0]
                answer = "text " + first.decode("utf-8", "replace")
            lines.append(visible_text(f"  {rule.label:<24} -> {answer}"))
        return "\n".join(lines)

    def _status(self, text: str) -> None:
        self.query_one("#respond-status", Static).update(visible_text(text))
