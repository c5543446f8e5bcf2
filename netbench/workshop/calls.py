"""The bytes a lesson's steps write: its data, HTTP requests and responses, server configs.

Pure: a step's TOML arguments in, bytes or a `ServerConfig` out. HTTP is
written by hand (not by a library) so a lesson can show exactly what goes on
the wire, down to writing the headers and the body in two calls.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from netbench.engine.config import ServerConfig


def step_data(args: dict[str, Any]) -> bytes:
    if "data_hex" in args:
        data = bytes.fromhex(str(args["data_hex"]))
    else:
        data = str(args.get("data", "")).encode("utf-8")
    return data * int(args.get("repeat", 1))


def _headers(args: dict[str, Any]) -> list[str]:
    return [str(h) for h in args.get("headers", [])]


def http_request_bytes(args: dict[str, Any], port: int) -> tuple[bytes, bytes]:
    method = str(args.get("method", "GET"))
    path = str(args.get("path", "/"))
    body = str(args.get("body", "")).encode("utf-8")
    lines = [f"{method} {path} HTTP/1.1"]
    headers = _headers(args)
    if not any(h.lower().startswith("host:") for h in headers):
        lines.append(f"Host: 127.0.0.1:{port}")
    lines += headers
    if body and not any(h.lower().startswith("content-length:") for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"), body


def http_response_bytes(args: dict[str, Any]) -> tuple[bytes, bytes]:
    status = int(args.get("status", 200))
    reason = str(args.get("reason", "OK"))
    body = str(args.get("body", "")).encode("utf-8")
    lines = [f"HTTP/1.1 {status} {reason}", *_headers(args)]
    if not any(h.lower().startswith("content-length:") for h in lines[1:]):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"), body


def server_config(args: dict[str, Any], upstream_port: int | None = None) -> ServerConfig:
    config = ServerConfig(kind=str(args["kind"]), port=int(args.get("port", 0)))
    values: dict[str, Any] = {}
    for key in ("backlog", "recv_size"):
        if key in args:
            values[key] = int(args[key])
    if "idle_timeout" in args:
        values["idle_timeout"] = float(args["idle_timeout"])
    if "keep_alive" in args:
        values["keep_alive"] = bool(args["keep_alive"])
    if "text" in args:
        values["text"] = str(args["text"])
    if upstream_port is not None:  # a proxy in front of another of the lesson's servers
        values["kind_options"] = {"upstream": f"127.0.0.1:{upstream_port}"}
    return replace(config, **values)
