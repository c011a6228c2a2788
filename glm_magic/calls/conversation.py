"""Named conversations: the messages exactly as the API sees them, trimmed to a token budget
from the oldest turns (the system prompt always stays), saved and loaded as JSON."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from .._json import nesting
from ..errors import BadRequestError
from ..tokens import estimate_messages

API_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")
MAX_NESTING = 32


def check_encodable(value: Any, path: str = "the prompt") -> None:
    """A lone surrogate (from a broken copy-paste or decode) cannot be sent as UTF-8: say
    where it is, before anything changes."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRequestError(
                f"{path} contains an unpaired surrogate {value[exc.start]!r} at character "
                f"{exc.start}, which cannot be sent as UTF-8",
                hint="remove or replace that character (it often comes from a broken "
                     "copy-paste or a bytes decode with 'surrogateescape')") from None
    elif isinstance(value, dict):
        for v in value.values():
            check_encodable(v, path)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_encodable(v, path)


ROLES = ("system", "user", "assistant", "tool")


@dataclass
class Conversation:
    """`messages` is a list of plain dicts usable in the raw API; a message may carry a
    `status` (e.g. "interrupted") that is never sent."""

    name: str = "default"
    messages: list[dict[str, Any]] = field(default_factory=list)
    tokens_used: int = 0
    # the call answering in this conversation now: one at a time (a cell, the panel, a
    # thread), or prompts would interleave and a failure would roll back the wrong exchange
    _owner: str | None = field(default=None, repr=False, compare=False)
    _claim: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def claim(self, call_id: str) -> None:
        """Reserve the conversation for one call; refuse while another call answers."""
        with self._claim:
            if self._owner is not None and self._owner != call_id:
                from ..errors import ConversationBusyError

                raise ConversationBusyError(
                    f"conversation {self.name!r} is still answering another prompt",
                    hint="wait for it (or stop it), or use another conversation: "
                         "--chat NAME in %%glm, chat= in Python")
            self._owner = call_id

    def release(self, call_id: str) -> None:
        with self._claim:
            if self._owner == call_id:
                self._owner = None

    @property
    def busy(self) -> bool:
        return self._owner is not None

    @property
    def system(self) -> str | None:
        if self.messages and self.messages[0].get("role") == "system":
            return self.messages[0].get("content")
        return None

    @system.setter
    def system(self, text: str | None) -> None:
        if self.messages and self.messages[0].get("role") == "system":
            self.messages.pop(0)
        if text:
            self.messages.insert(0, {"role": "system", "content": text})

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m.get("role") == "user")

    def add(self, role: str, content: Any, **extra: Any) -> dict[str, Any]:
        msg = {"role": role, "content": content, **{k: v for k, v in extra.items()
                                                     if v is not None}}
        self.messages.append(msg)
        return msg

    def pop_last_exchange(self) -> list[dict[str, Any]]:
        """Remove the last user message and everything after it."""
        for i in range(len(self.messages) - 1, -1, -1):
            if self.messages[i].get("role") == "user":
                dropped = self.messages[i:]
                del self.messages[i:]
                return dropped
        return []

    def take_cell(self, cell_id: str) -> tuple[int, list[dict[str, Any]]] | None:
        """Remove the exchange that cell `cell_id` made (its prompt and what followed up to the
        next prompt); returns (where it was, the messages) so it can be put back."""
        for i, m in enumerate(self.messages):
            if m.get("role") == "user" and m.get("cell_id") == cell_id:
                end = next((j for j in range(i + 1, len(self.messages))
                            if self.messages[j].get("role") == "user"), len(self.messages))
                taken = self.messages[i:end]
                del self.messages[i:end]
                return i, taken
        return None

    def put_back(self, where: int, messages: list[dict[str, Any]]) -> None:
        self.messages[where:where] = messages

    def reset(self, keep_system: bool = True) -> None:
        system = self.system if keep_system else None
        self.messages.clear()
        self.system = system
        self.tokens_used = 0

    def request_messages(self, max_tokens: int | None = None) -> tuple[list[dict], int]:
        """Messages to send (API keys only) and how many old turns were dropped to fit."""
        msgs = [{k: m[k] for k in API_KEYS if k in m} for m in self.messages]
        if not max_tokens:
            return msgs, 0
        head = msgs[:1] if msgs and msgs[0]["role"] == "system" else []
        body = msgs[len(head):]
        dropped = 0
        while estimate_messages(head + body) > max_tokens:
            # drop the oldest whole exchange, never the newest user message
            nxt = next((i for i in range(1, len(body)) if body[i]["role"] == "user"), None)
            if nxt is None:
                break
            body = body[nxt:]
            dropped += 1
        return head + body, dropped

    def transcript(self) -> str:
        lines = [f"# conversation {self.name!r}: {self.turns} turns"]
        for m in self.messages:
            content = m.get("content")
            if isinstance(content, list):
                content = " ".join(p.get("text", "[image]") if isinstance(p, dict) else str(p)
                                   for p in content)
            mark = f" [{m['status']}]" if m.get("status") else ""
            lines.append(f"\n{m.get('role', '?').upper()}{mark}:\n{content or ''}")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "messages": self.messages}, ensure_ascii=False,
                          indent=1)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically: a temp file beside `path`, fsync, then `os.replace`, so a full
        disk or an unencodable character never leaves the previous file partial or empty."""
        import tempfile

        data = self.to_json().encode("utf-8")  # fails here, before anything is touched
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".glm-save-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @classmethod
    def from_json(cls, text: str, name: str | None = None) -> Conversation:
        """Parse and validate completely before building anything (no partial state)."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        except RecursionError:
            raise ValueError("the JSON is nested too deeply to be a conversation") from None
        if nesting(data) > MAX_NESTING:
            raise ValueError(f"the JSON is nested more than {MAX_NESTING} levels deep; a "
                             "conversation file is not") from None
        if isinstance(data, list):
            data = {"messages": data}
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise ValueError("expected {\"name\": ..., \"messages\": [...]} or a list of messages")
        msgs = []
        for i, m in enumerate(data["messages"]):
            if not isinstance(m, dict) or m.get("role") not in ROLES:
                raise ValueError(f"message {i} needs a role in {ROLES}")
            if not isinstance(m.get("content", ""), (str, list, type(None))):
                raise ValueError(f"message {i}: content must be text or a list of parts")
            if m.get("content") is None and not (m["role"] == "assistant"
                                                 and m.get("tool_calls")):
                raise ValueError(f"message {i} ({m['role']}) has no content")
            msgs.append(dict(m))
        return cls(name=name or str(data.get("name") or "default"), messages=msgs)

    @classmethod
    def load(cls, path: str | os.PathLike[str], name: str | None = None) -> Conversation:
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read(), name)
