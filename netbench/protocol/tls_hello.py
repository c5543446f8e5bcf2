"""The server name (SNI) a TLS ClientHello asks for, read without decrypting. Sans-I/O.

A forward proxy's CONNECT tunnel passes TLS through untouched; the first
bytes the client sends are its ClientHello, in clear, and name the site
(RFC 8446 §4.1.2, RFC 6066 §3).
"""

from __future__ import annotations

_HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01
_SERVER_NAME = 0x0000


def client_hello_sni(data: bytes) -> str | None:
    """The host name in the ClientHello at the start of `data`: None while more bytes
    are needed, "" when the bytes are not a ClientHello or name no server."""
    if not data:
        return None
    if data[0] != _HANDSHAKE:
        return ""
    if len(data) < 9:
        return None
    record_len = int.from_bytes(data[3:5], "big")
    if data[5] != _CLIENT_HELLO:
        return ""
    body = data[5 : 5 + record_len]
    if len(body) < record_len:
        return None  # a hello longer than one record is rare; it waits for the record
    try:
        return _server_name(body)
    except IndexError:
        return ""


def _server_name(body: bytes) -> str:
    at = 4 + 2 + 32  # handshake header, legacy version, random
    at += 1 + body[at]  # session id
    at += 2 + int.from_bytes(body[at : at + 2], "big")  # cipher suites
    at += 1 + body[at]  # compression methods
    end = at + 2 + int.from_bytes(body[at : at + 2], "big")
    at += 2
    while at + 4 <= end:
        kind = int.from_bytes(body[at : at + 2], "big")
        size = int.from_bytes(body[at + 2 : at + 4], "big")
        if kind == _SERVER_NAME:
            names = body[at + 4 : at + 4 + size]
            if len(names) >= 5 and names[2] == 0:
                length = int.from_bytes(names[3:5], "big")
                return names[5 : 5 + length].decode("ascii", "replace")
            return ""
        at += 4 + size
    return ""
