"""A small incremental Server-Sent-Events decoder.

Why not httpx-sse: the legacy Zhipu v3 stream carries a non-standard `meta:` field that
standard decoders drop, DashScope sends `:HTTP_STATUS/200` comments, llama.cpp's server uses
CRLF framing — one decoder that keeps unknown fields and splits only on the three SSE line
endings (never on U+2028 inside JSON) serves every dialect, and it is the hot path of every
stream, so it works on whole network reads rather than line by line."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

_LINES = re.compile(r"\r\n|\r|\n")


_NO_EXTRA: dict[str, str] = {}  # shared, never written: most events have no extra fields
MAX_EVENT_CHARS = 16 * 2**20  # one line or one event; real events are a few hundred bytes


class SSELimitError(ValueError):
    """A line or an event passed MAX_EVENT_CHARS: the server is not sending an answer."""


@dataclass(slots=True)
class Event:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None
    extra: dict[str, str] = field(default_factory=lambda: _NO_EXTRA)


class SSEDecoder:
    """Feed raw bytes in any split; get complete events out (identical to an unsplit parse)."""

    __slots__ = ("_utf8", "_buf", "_event", "_data", "_id", "_retry", "_extra", "_has",
                 "_pending", "_pending_len", "_data_len", "limit")

    def __init__(self, limit: int = MAX_EVENT_CHARS) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._buf = ""
        self._pending: list[str] = []  # pieces of a line still waiting for its end
        self._pending_len = 0
        self.limit = limit
        self._reset()

    def _reset(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._data_len = 0
        self._id: str | None = None
        self._retry: int | None = None
        self._extra: dict[str, str] | None = None
        self._has = False

    def feed(self, raw: bytes) -> list[Event]:
        new = self._utf8.decode(raw)
        if not new:
            return []
        if "\n" not in new and "\r" not in new and not self._buf.endswith("\r"):
            # no line ends here: keep the piece (joining now would make a long line quadratic)
            self._pending.append(new)
            self._pending_len += len(new)
            if self._pending_len + len(self._buf) > self.limit:
                raise SSELimitError(f"a stream line passed {self.limit:,} characters")
            return []
        if self._pending:
            new = "".join(self._pending) + new
            self._pending.clear()
            self._pending_len = 0
        text = self._buf + new
        if not self._has and "\r" not in text:
            return self._feed_blocks(text)
        # hold back the unterminated last line; a trailing '\r' may be half of a '\r\n'
        held_cr = text.endswith("\r")
        if held_cr:
            text = text[:-1]
        lines = _LINES.split(text) if "\r" in text else text.split("\n")
        self._buf = lines.pop() + ("\r" if held_cr else "")
        return self._lines(lines)

    def _feed_blocks(self, text: str) -> list[Event]:
        """Fast path for LF-framed streams: whole events at once; a one-line `data:` event
        (nearly every event) costs one slice."""
        blocks = text.split("\n\n")
        rest = blocks.pop()  # the unfinished event, if any
        out: list[Event] = []
        for block in blocks:
            if block.startswith("data: ") and "\n" not in block:
                out.append(Event("message", block[6:]))
            elif block:
                out.extend(self._lines(block.split("\n") + [""]))
        if "\n" in rest:  # its complete lines now, so the buffer holds one line at most
            lines = rest.split("\n")
            rest = lines.pop()
            out.extend(self._lines(lines))
        self._buf = rest
        return out

    def flush(self) -> list[Event]:
        """End of stream: a final event without its blank line still counts (many servers)."""
        rest = "".join(self._pending) + self._buf + self._utf8.decode(b"", final=True)
        self._buf = ""
        self._pending.clear()
        self._pending_len = 0
        out = self._lines(_LINES.split(rest.rstrip("\r"))) if rest.strip("\r") else []
        if self._has:
            out.append(self._emit())
        return out

    def _emit(self) -> Event:
        data = self._data
        ev = Event(self._event or "message", data[0] if len(data) == 1 else "\n".join(data),
                   self._id, self._retry, self._extra or _NO_EXTRA)
        self._reset()
        return ev

    def _lines(self, lines: list[str]) -> list[Event]:
        out: list[Event] = []
        for line in lines:
            if line.startswith("data:"):  # the common case first
                self._data.append(line[6:] if line[5:6] == " " else line[5:])
                self._data_len += len(line)
                if self._data_len > self.limit:
                    raise SSELimitError(f"a stream event passed {self.limit:,} characters")
                self._has = True
                continue
            if not line:
                if self._has:
                    out.append(self._emit())
                continue
            if line[0] == ":":
                continue  # comment: keep-alive pings, DashScope's :HTTP_STATUS/200
            name, sep, value = line.partition(":")
            if sep and value[:1] == " ":
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id":
                self._id = value
            elif name == "retry":
                self._retry = int(value) if value.isdigit() else None
            else:
                if self._extra is None:
                    self._extra = {}
                self._extra[name] = value
            self._has = True
        return out
