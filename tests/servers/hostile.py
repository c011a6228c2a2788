"""A raw TCP server that answers HTTP requests with scripted bytes: broken status lines,
oversized or endless headers, bad chunk sizes, trickles, gzip bombs. `script(request)` returns
the pieces to write, each an item `bytes` or `(bytes, pause_seconds)`."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

Piece = bytes | tuple[bytes, float]


class HostileServer:
    def __init__(self, script: Callable[[bytes], Iterable[Piece]]) -> None:
        self.script = script
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/paas/v4"

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            request = _read_request(conn)
            self.requests.append(request)
            for piece in self.script(request):
                data, pause = piece if isinstance(piece, tuple) else (piece, 0.0)
                if data:
                    conn.sendall(data)
                if pause:
                    time.sleep(pause)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def body_of(request: bytes) -> Any:
    return json.loads(request.partition(b"\r\n\r\n")[2] or b"null")


def response(body: bytes, status: str = "200 OK", ctype: str = "application/json",
             extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n{extra}\r\n").encode() + body


def completion(text: str) -> bytes:
    return json.dumps({"id": "x", "created": 1, "model": "glm-4-flash", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": text},
         "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}).encode()


def sse_head() -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
            b"\r\n")


def delta(text: str) -> bytes:
    return ("data: " + json.dumps({"id": "x", "created": 1, "model": "glm-4-flash",
                                   "choices": [{"index": 0, "delta": {"content": text}}]})
            + "\n\n").encode()


MALFORMED: dict[str, list[Piece]] = {
    "bad status line": [b"HTTP/1.1 2OO NOT OK\r\n\r\n"],
    "garbage instead of HTTP": [b"\x00\x01\x02 this is not http\r\n\r\n"],
    "oversized header": [b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"],
    "too many headers": [b"HTTP/1.1 200 OK\r\n" + b"".join(
        f"X-H{i}: v\r\n".encode() for i in range(20_000)) + b"\r\n"],
    "bad chunk size": [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n"],
}


def gzip_bomb(decompressed_mb: int) -> bytes:
    packed = gzip.compress(b"\0" * (decompressed_mb * 2**20), compresslevel=9)
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            + f"Content-Length: {len(packed)}\r\nConnection: close\r\n\r\n".encode() + packed)
