"""How the fake servers answer a structured request: a deterministic JSON value of the asked
shape, derived from the prompt's words, so tutorials and tests run offline and still show a
real schema at work (the schema from `response_format`, or the one stated in the prompt)."""

from __future__ import annotations

import json
import re
from typing import Any

_STATED = "matches this JSON Schema:\n"
_SPAMMY = ("spam", "free", "win", "click", "prize", "offer")
_MOOD = {"positive": ("love", "great", "excellent", "good", "wonderful", "happy", "best"),
         "negative": ("terrible", "broken", "awful", "bad", "hate", "worst", "horrible")}


def requested_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema a request asks for, or None when it asks for no JSON at all;
    `{}` when it asks for any JSON object."""
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_schema":
        return (rf.get("json_schema") or {}).get("schema") or {}
    text = _last_user(body)
    if _STATED in text:
        try:
            return json.loads(text.split(_STATED, 1)[1].split("\n", 1)[0])
        except ValueError:
            return {}
    return {} if rf.get("type") == "json_object" else None


def _last_user(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, list):
                return " ".join(p.get("text", "") for p in c if isinstance(p, dict))
            return str(c or "")
    return ""


def structured_answer(body: dict[str, Any]) -> str | None:
    """The JSON text to answer with, or None for an ordinary (echo) answer."""
    schema = requested_schema(body)
    if schema is None:
        return None
    prompt = _last_user(body).split("\n\nReply with only", 1)[0]
    if not schema:
        return json.dumps({"answer": f"echo: {prompt}"}, ensure_ascii=False)
    return json.dumps(instance(schema, prompt), ensure_ascii=False)


def _verdict(text: str, lower: str) -> bool:
    """A yes/no answer: two items are the same when their words are (a dedup question), a
    pair matches when its two sides share a word (a join question), else spam words."""
    if lower.startswith("first:") and "\n\nsecond:" in lower:
        one, two = lower.split("\n\nsecond:", 1)
        return set(re.findall(r"\w+", one.split(":", 2)[-1])) == \
            set(re.findall(r"\w+", two.split(":", 1)[-1]))
    if lower.startswith("left ") and "\nright " in lower:
        one, two = lower.split("\nright ", 1)
        words = {w for w in re.findall(r"\w+", one.split(":", 1)[-1]) if len(w) > 3}
        return bool(words & set(re.findall(r"\w+", two.split(":", 1)[-1])))
    return any(w in lower for w in _SPAMMY)


def instance(schema: dict[str, Any], text: str) -> Any:
    """A value valid for `schema`, chosen from `text` the way a (very simple) model would."""
    for option in schema.get("anyOf") or ():
        if option.get("type") != "null":
            return instance(option, text)
    lower = text.lower()
    if "enum" in schema:
        options = schema["enum"]
        named = [o for o in options if re.search(rf"\b{re.escape(str(o).lower())}", lower)]
        if named:
            return named[0]
        moods = [o for o in options if any(w in lower for w in _MOOD.get(str(o).lower(), ()))]
        if moods:
            return moods[0]
        return "neutral" if "neutral" in options else options[0]
    t = schema.get("type")
    words = re.findall(r"\w+", text)
    if t == "object":
        props = schema.get("properties") or {}
        return {k: instance(v, text) for k, v in props.items()}
    if t == "array":
        long = list(dict.fromkeys(w.lower() for w in words if len(w) > 4))[:3]
        return [instance(schema.get("items") or {"type": "string"}, w) for w in long]
    if t == "boolean":
        return _verdict(text, lower)
    if t == "integer":
        return min(5, max(1, len(words) // 3))
    if t == "number":
        return round(min(1.0, len(text) / 100), 2)
    if t == "string":
        return " ".join(words[:5]) or "n/a"
    return None
