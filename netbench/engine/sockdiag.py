"""Who owns a local TCP socket, asked of the kernel: one sock_diag netlink lookup.

The capture agent asks for each new connection it captures, so that it hands
each user only the packets of their own connections (capture/owners.py). An
exact lookup (not a dump) is a hash lookup in the kernel, tens of
microseconds whatever the machine holds, where reading /proc/net/tcp has the
kernel format every socket, TIME_WAIT ones too: measured ~25 ms with 10,000
of them, so a table read per batch of new connections delayed their packets
by seconds under load. Linux only; no privilege needed.

Rules:
- `owner(local, remote)` is the uid of the socket whose own end is `local`
  and whose peer is `remote`; failing that, of the socket listening on
  `local` (a connection not accept()ed yet has no owner of its own). A
  remote of 0.0.0.0:0 or [::]:0 asks for the listener straight away;
- a socket without an inode has no owner: TIME_WAIT entries, closed
  (orphaned) sockets and not-yet-accepted ones all say uid 0, which must not
  make them root's;
- any failure (no such socket, a netlink error) is None: unknown, which the
  agent treats as nobody's.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import struct

from netbench.model import Endpoint

__all__ = ["TcpOwners"]

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_ALL_STATES = 0xFFFFFFFF
_NO_COOKIE = 0xFFFFFFFF
# nlmsghdr (len, type, flags, seq, pid), then inet_diag_req_v2: family,
# protocol, ext, pad, states, and its inet_diag_sockid: ports and addresses
# in network order, interface, cookie.
_REQUEST = struct.Struct("=IHHII BBBBI 2s2s16s16s III")
_HEADER = struct.Struct("=IHHII")
# inet_diag_msg after the header: family, state, timer, retrans, the sockid,
# then expires, rqueue, wqueue, uid, inode.
_REPLY = struct.Struct("=BBBB 2s2s16s16s III IIIII")
_ANY = {socket.AF_INET: "0.0.0.0", socket.AF_INET6: "::"}


@functools.lru_cache(maxsize=256)
def _address(host: str) -> tuple[socket.AddressFamily, bytes]:
    address = ipaddress.ip_address(host)
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    return family, address.packed.ljust(16, b"\0")


class TcpOwners:
    """A netlink socket that answers `owner(local, remote)`; close it when done."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
        self._sock.settimeout(1.0)  # the kernel answers within the send; never hang
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def owner(self, local: Endpoint, remote: Endpoint) -> int | None:
        uid = self._ask(local, remote)
        if uid is None and remote.port:  # (a remote port 0 asked for the listener already)
            family, _ = _address(local.host)
            uid = self._ask(local, Endpoint(_ANY[family], 0))
        return uid

    __call__ = owner

    def _ask(self, local: Endpoint, remote: Endpoint) -> int | None:
        family, source = _address(local.host)
        remote_family, destination = _address(remote.host)
        if remote_family != family:
            return None
        self._seq = seq = (self._seq + 1) & 0xFFFFFFFF
        request = _REQUEST.pack(
            _REQUEST.size,
            _SOCK_DIAG_BY_FAMILY,
            _NLM_F_REQUEST,
            seq,
            0,
            family,
            socket.IPPROTO_TCP,
            0,
            0,
            _ALL_STATES,
            local.port.to_bytes(2, "big"),
            remote.port.to_bytes(2, "big"),
            source,
            destination,
            0,
            _NO_COOKIE,
            _NO_COOKIE,
        )
        try:
            self._sock.send(request)
            while True:
                reply = self._sock.recv(4096)
                if len(reply) < _HEADER.size:
                    return None
                _length, kind, _flags, reply_seq, _pid = _HEADER.unpack_from(reply)
                if reply_seq == seq:
                    break  # an older answer (a timed-out ask) is skipped
        except OSError:
            return None
        if kind == _NLMSG_ERROR or len(reply) < _HEADER.size + _REPLY.size:
            return None  # ENOENT: no such socket
        fields = _REPLY.unpack_from(reply, _HEADER.size)
        uid, inode = fields[-2], fields[-1]
        return int(uid) if inode else None
