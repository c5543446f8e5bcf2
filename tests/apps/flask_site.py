"""A Flask app, as a developer would write it: a form, a streamed download, a bug."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, Response, request, stream_with_context

app = Flask(__name__)
app.config["PROPAGATE_EXCEPTIONS"] = True  # as under a debugger: the server sees the bug

MEGABYTE = 1 << 20


@app.get("/")
def form() -> str:
    return '<form method="post" action="/hello"><input name="name"></form>'


@app.post("/hello")
def hello() -> str:
    return f"Hello, {request.form['name']}! ({len(request.form)} fields)"


@app.get("/download")
def download() -> Response:
    def chunks() -> Iterator[bytes]:
        for n in range(16):
            yield bytes([65 + n]) * (MEGABYTE // 16)

    return Response(stream_with_context(chunks()), mimetype="application/octet-stream")


@app.get("/bug")
def bug() -> str:
    return str(1 // 0)
