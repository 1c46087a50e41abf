"""How a fork server and the executor talk: length-prefixed messages on a Unix socket.

Each message is an 8-byte length and a JSON payload; file descriptors (a task's log, its
control socket) travel with the header as SCM_RIGHTS. A fork request is an envelope line
(`op`, `id`) and the rest (`encode_request`): the server decodes only the envelope and reads
messages into one buffer it zeroes (`Inbox`), so no step's inputs stay in its memory for a
later child to find. Standard library only (copied with the rest of the runtime).
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

_HEADER = struct.Struct("!Q")
#: most descriptors one message carries
_MAX_FDS = 4


def send_message(sock: socket.socket, message: dict[str, Any], fds: list[int] = ()) -> None:  # type: ignore[assignment]
    """Send one message; `fds` travel with its header."""
    send_payload(sock, json.dumps(message, separators=(",", ":")).encode(), fds)


def send_payload(sock: socket.socket, payload: bytes, fds: list[int] = ()) -> None:  # type: ignore[assignment]
    """Send one message already encoded (a request the server hands on as it came)."""
    header = _HEADER.pack(len(payload))
    if fds:
        socket.send_fds(sock, [header], list(fds))
    else:
        sock.sendall(header)
    sock.sendall(payload)


def recv_message(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors sent with it; (None, []) at end of input."""
    payload, fds = recv_payload(sock)
    return (None if payload is None else json.loads(payload)), fds


def recv_payload(sock: socket.socket) -> tuple[bytes | None, list[int]]:
    """One message, still encoded, and its descriptors; (None, []) at end of input."""
    header, fds, _flags, _addr = socket.recv_fds(sock, _HEADER.size, _MAX_FDS)
    if not header:
        return None, fds
    while len(header) < _HEADER.size:
        more = sock.recv(_HEADER.size - len(header))
        if not more:
            return None, fds
        header += more
    (size,) = _HEADER.unpack(header)
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None, fds
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks), fds


def encode_request(request: dict[str, Any]) -> bytes:
    """A fork request as sent: its envelope (`op`, `id`) on a first line, then the rest.

    The server reads only the envelope; the rest (arguments, variables: the step's inputs)
    goes to the child undecoded, and the server zeroes its copy once the child has it (see
    `Inbox`). JSON written this way holds no newline, so the first one ends the envelope.
    """
    envelope = {"op": request.get("op"), "id": request.get("id")}
    body = {k: v for k, v in request.items() if k not in envelope}
    encode = json.JSONEncoder(separators=(",", ":")).encode
    return f"{encode(envelope)}\n{encode(body)}".encode()


def decode_request(payload: bytes) -> dict[str, Any]:
    """A request as `encode_request` (or `send_message`) sent it."""
    envelope, newline, body = payload.partition(b"\n")
    if not newline:
        return dict(json.loads(payload))
    return {**json.loads(body), **json.loads(envelope)}


class Inbox:
    """Where the server reads the executor's messages: one buffer, zeroed after each one.

    A fork request holds the step's inputs. The server never decodes them (no Python object
    of it is made in the server) and zeroes the buffer once the child has the request, so
    that no later child, a copy of the server's memory, finds an earlier step's inputs in it.
    """

    def __init__(self) -> None:
        self.buffer = bytearray(1 << 16)
        self.size = 0

    def read(self, sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
        """The next message's envelope (a whole message, not a fork request); None at end."""
        header = bytearray(_HEADER.size)
        view = memoryview(header)
        got, ancillary, _flags, _addr = sock.recvmsg_into([view], socket.CMSG_SPACE(_MAX_FDS * 4))
        fds: list[int] = []
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(data) - len(data) % 4
                fds += list(struct.unpack(f"{usable // 4}i", data[:usable]))
        if not got:
            return None, fds
        while got < _HEADER.size:
            more = sock.recv_into(view[got:])
            if not more:
                return None, fds
            got += more
        (size,) = _HEADER.unpack(header)
        if size > len(self.buffer):
            self.scrub(len(self.buffer))
            self.buffer = bytearray(max(size, 2 * len(self.buffer)))
        view, got = memoryview(self.buffer), 0
        while got < size:
            more = sock.recv_into(view[got:size])
            if not more:
                return None, fds
            got += more
        self.size = size
        end = self.buffer.find(b"\n", 0, size)
        return json.loads(bytes(self.buffer[: size if end < 0 else end])), fds

    def payload(self) -> memoryview:
        return memoryview(self.buffer)[: self.size]

    def scrub(self, size: int | None = None) -> None:
        """Zero what the last message left in the buffer."""
        size = self.size if size is None else size
        self.buffer[:size] = bytes(size)
        self.size = 0
