"""A real HTTP server on 127.0.0.1 for protocol tests: tests script what it answers
(JSON, SSE streams with pauses, cut-offs, stalls, resets) and read back what it received."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """What the server sends for one request."""

    status: int = 200
    body: Any = None  # dict/list → JSON, str/bytes → as is
    headers: dict[str, str] = field(default_factory=dict)
    events: list[bytes] | None = None  # raw SSE frames, each written and flushed
    delay: float = 0.0  # before the status line
    pause: float = 0.0  # between frames
    stall: float = 0.0  # after the frames, before closing
    reset: bool = False  # abort the TCP connection (RST) after the frames
    content_type: str | None = None


def sse(*objs: Any, done: bool = True, crlf: bool = False) -> list[bytes]:
    """Frames `data: {json}` for each object (str objects are sent as they are)."""
    sep = "\r\n" if crlf else "\n"
    frames = [(f"data: {o if isinstance(o, str) else json.dumps(o, ensure_ascii=False)}"
               f"{sep}{sep}").encode() for o in objs]
    if done:
        frames.append(f"data: [DONE]{sep}{sep}".encode())
    return frames


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # a client hanging up is normal


class LoopbackServer:
    """`app(received) -> Reply` answers requests unless a scripted reply is queued."""

    def __init__(self, app: Callable[[Received], Reply]) -> None:
        self.app = app
        self.received: list[Received] = []
        self.queue: deque[Reply | Callable[[Received], Reply]] = deque()
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"owner": self})
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def push(self, *replies: Reply | Callable[[Received], Reply]) -> None:
        self.queue.extend(replies)

    def reset(self) -> None:
        self.queue.clear()
        self.received.clear()
        self.max_active = 0

    def requests_to(self, fragment: str) -> list[Received]:
        return [r for r in self.received if fragment in r.path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    owner: LoopbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _handle(self) -> None:
        owner = self.owner
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        url = urlparse(self.path)
        rec = Received(self.command, url.path, parse_qs(url.query),
                       {k.lower(): v for k, v in self.headers.items()}, body, time.time())
        with owner._lock:
            owner.received.append(rec)
            owner.active += 1
            owner.max_active = max(owner.max_active, owner.active)
            item = owner.queue.popleft() if owner.queue else owner.app
        try:
            reply = item(rec) if callable(item) else item
            self._send(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with owner._lock:
                owner.active -= 1

    do_GET = do_POST = do_DELETE = _handle

    def _send(self, r: Reply) -> None:
        if r.delay:
            time.sleep(r.delay)
        if r.events is not None:
            self.send_response(r.status)
            self.send_header("Content-Type", r.content_type or "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            for k, v in r.headers.items():
                self.send_header(k, v)
            self.end_headers()
            for frame in r.events:
                self.wfile.write(frame)
                self.wfile.flush()
                if r.pause:
                    time.sleep(r.pause)
            if r.stall:
                time.sleep(r.stall)
            if r.reset:
                self._rst()
            self.close_connection = True
            return
        if isinstance(r.body, (dict, list)):
            data = json.dumps(r.body, ensure_ascii=False).encode()
            ctype = r.content_type or "application/json"
        else:
            data = r.body.encode() if isinstance(r.body, str) else (r.body or b"")
            ctype = r.content_type or "text/plain"
        self.send_response(r.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in r.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if r.stall:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            time.sleep(r.stall)
            return
        self.wfile.write(data)

    def _rst(self) -> None:
        sock = self.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
