"""HTTP/1.1 by hand over a loopback socket, for requests no client library sends: chunked bodies
that stop when the server answers, bodies that trickle in, oversized heads, bytes that are not UTF-8."""
from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass
from typing import Iterable


@dataclass
class RawReply:
    status: int | None  # None: the server closed the connection without an answer
    body: bytes
    sent: int  # body bytes handed to the kernel before the answer was seen (loopback buffers hold megabytes)
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def chunked(pieces: Iterable[bytes]) -> Iterable[bytes]:
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def exchange(host: str, port: int, request_head: bytes, body: Iterable[bytes] = (), pause: float = 0.0,
             timeout: float = 60.0) -> RawReply:
    """Send the head, then the body pieces (pausing between them), stopping as soon as the server
    answers; then read the whole answer (the server closes, or Content-Length is met)."""
    started = time.monotonic()
    sent = 0
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request_head)
        for piece in body:
            if _readable(sock):
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            if pause:
                time.sleep(pause)
        raw = _read_answer(sock, started + timeout)
    return _parse(raw, sent, time.monotonic() - started)


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def _read_answer(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        if _complete(data):
            break
    return data


def _complete(data: bytes) -> bool:
    head_bytes, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head_bytes.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def _parse(raw: bytes, sent: int, seconds: float) -> RawReply:
    if not raw.startswith(b"HTTP/1.1 "):
        return RawReply(None, raw, sent, seconds)
    head_bytes, _, body = raw.partition(b"\r\n\r\n")
    return RawReply(int(head_bytes.split(b" ", 2)[1]), body, sent, seconds)
