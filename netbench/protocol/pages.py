"""The page server of seeds 003/004, as a pure request -> reply function.

The seed program answers `GET /` with a page titled "WOW" saying "Wow, Python
Server", an `<IMG src="test.jpg"/>` and a one-field form posting `firstname`,
answers `GET /test.jpg` with the picture, and answers a POST with the same
page followed by what was posted. netbench keeps that page and those routes,
with a correct status line and Content-Length (the seed sent `HTTP/1.x`, which
no browser accepts today), and shows form or JSON bodies back decoded.
"""

from __future__ import annotations

from urllib.parse import unquote

from netbench.model import HttpRequest
from netbench.protocol.bodies import decode_body
from netbench.protocol.responses import Reply, build_response, error_page
from netbench.protocol.textsafe import page_text

SEED_PAGE = """<head>
<title>WOW</title>
</head>
<html>
<p>Wow, Python Server</p>
<IMG src="test.jpg"/>
<form name="input" action="/" method="post">
First name:<input type="text" name="firstname"><br>
<input type="submit" value="Submit">
</form>
</html>
"""

ALLOW = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_PAGE_PATHS = frozenset({"/", "/index.html"})
_IMAGE_PATH = "/test.jpg"
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH", b"DELETE"})


def request_path(target: bytes) -> str:
    """The decoded path of a request target, without query or fragment."""
    if target == b"/":
        return "/"
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    if path.startswith((b"http://", b"https://")):  # absolute-form (a proxy request)
        rest = path.split(b"://", 1)[1]
        slash = rest.find(b"/")
        path = rest[slash:] if slash != -1 else b"/"
    return unquote(path.decode("latin-1"), encoding="utf-8", errors="replace")


def request_query(target: bytes) -> bytes:
    """The raw query of a request target (after `?`, before any `#`), b"" if none."""
    return target.split(b"#", 1)[0].partition(b"?")[2]


class PageSite:
    """Routes of the page server; `jpeg` is the picture served at /test.jpg."""

    def __init__(self, jpeg: bytes) -> None:
        self.jpeg = jpeg
        self.page = SEED_PAGE.encode()
        self._page_replies: dict[tuple[bool, bool], Reply] = {}
        """The page's replies for the current Date (keep-alive, head only): it
        is the request every load test and browser sends, and the same bytes
        for a whole second."""
        self._page_date = b""

    def respond(self, request: HttpRequest, *, keep_alive: bool, date: bytes) -> Reply:
        method = request.method
        path = request_path(request.target)
        head_only = method == b"HEAD"
        if path in _PAGE_PATHS:
            if method in (b"GET", b"HEAD"):
                return self._page_reply(keep_alive, head_only, date)
            if method in _BODY_METHODS:
                body = self.page + _echo_section(request).encode()
                return build_response(200, body, keep_alive=keep_alive, date=date, source="page")
        elif path == _IMAGE_PATH:
            if method in (b"GET", b"HEAD"):
                return build_response(
                    200,
                    self.jpeg,
                    content_type=b"image/jpeg",
                    keep_alive=keep_alive,
                    head_only=head_only,
                    date=date,
                    source="page",
                )
        else:
            return error_page(
                404,
                f"Nothing at {path}. This server has / and /test.jpg.",
                keep_alive=keep_alive,
                head_only=head_only,
                date=date,
                source="page",
            )
        if method == b"OPTIONS":
            return build_response(
                204,
                content_type=None,
                headers=((b"Allow", ALLOW),),
                keep_alive=keep_alive,
                date=date,
                source="page",
            )
        return build_response(
            405,
            b"<p>Method not allowed here.</p>\n",
            headers=((b"Allow", ALLOW if path in _PAGE_PATHS else b"GET, HEAD"),),
            keep_alive=keep_alive,
            head_only=head_only,
            date=date,
            source="page",
        )

    def _page_reply(self, keep_alive: bool, head_only: bool, date: bytes) -> Reply:
        if date != self._page_date:
            self._page_date = date
            self._page_replies.clear()
        key = (keep_alive, head_only)
        reply = self._page_replies.get(key)
        if reply is None:
            reply = self._page_replies[key] = build_response(
                200, self.page, keep_alive=keep_alive, head_only=head_only, date=date, source="page"
            )
        return reply


def _echo_section(request: HttpRequest) -> str:
    """What the client sent, decoded, under the seed page; every part through `page_text`."""
    method = page_text(request.method)
    content_type = request.header(b"content-type")
    decoded = decode_body(content_type, request.body)
    shown_type = page_text(content_type) if content_type else "no Content-Type"
    parts = [f"\n<h2>{method}: {request.body_len} bytes, {shown_type}</h2>\n"]
    if decoded.fields:
        # The seed printed the posted value in a paragraph; keep that, then a table.
        parts.extend(f"<p>{page_text(value)}</p>\n" for _name, value in decoded.fields[:1])
        parts.append("<table>\n")
        parts.extend(
            f"<tr><th>{page_text(name)}</th><td>{page_text(value)}</td></tr>\n"
            for name, value in decoded.fields
        )
        parts.append("</table>\n")
    elif decoded.json_pretty is not None:
        parts.append(f"<pre>{page_text(decoded.json_pretty, line_breaks=True)}</pre>\n")
    elif decoded.text is not None:
        parts.append(f"<pre>{page_text(decoded.text, line_breaks=True)}</pre>\n")
    elif decoded.image is not None:
        parts.append(f"<p>{page_text(decoded.image.describe())}</p>\n")
    elif request.body_len:
        parts.append(f"<p>{request.body_len} bytes of binary data</p>\n")
    if decoded.error:
        parts.append(f"<p><em>{page_text(decoded.error)}</em></p>\n")
    return "".join(parts)
