"""The `response_format` each provider can take: JSON Schema where the API accepts one; else
its JSON-object mode plus the schema stated in the prompt; else the statement alone. A request
format, so it lives with the dialects; the check-and-repair loop is `calls.structured`."""

from __future__ import annotations

import copy
from typing import Any

from ..schema import Schema

OPENAI_KINDS = ("json_schema", "json_object", "text")
JSON_ONLY = "Reply with only a JSON object (no prose, no code fence)."


def as_response_format(value: Any) -> dict[str, Any]:
    """The OpenAI form of a `response_format=`: given as such, or any schema spec."""
    if isinstance(value, dict) and value.get("type") in OPENAI_KINDS:
        return value
    return Schema.of(value).response_format()


def adapt_request(body: dict[str, Any], provider: Any) -> dict[str, Any]:
    """The request with `response_format` in the form `provider` accepts: JSON Schema where
    the API takes one; else a JSON-object mode plus the schema stated in the prompt; else the
    statement alone. The caller's messages are never changed."""
    rf = as_response_format(body["response_format"])
    kind = rf.get("type")
    supported = getattr(provider, "response_formats", ())
    out = dict(body)
    if kind in supported or kind == "text":
        out["response_format"] = rf
        return out
    said = Schema.of(rf).instruction() if kind == "json_schema" else JSON_ONLY
    out["messages"] = with_instruction(body.get("messages") or [], said)
    if "json_object" in supported:
        out["response_format"] = {"type": "json_object"}
    else:
        out.pop("response_format", None)
    return out


def with_instruction(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The messages with `text` after the last user turn's own words (every API, including
    those refusing system prompts, reads that)."""
    msgs = [dict(m) for m in messages]
    for m in reversed(msgs):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):
                m["content"] = copy.deepcopy(content) + [{"type": "text", "text": text}]
            else:
                m["content"] = f"{content or ''}\n\n{text}"
            return msgs
    return msgs + [{"role": "user", "content": text}]
