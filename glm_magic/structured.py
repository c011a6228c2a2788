"""Answers as data: each provider gets the strongest structured-output mechanism it has, every
answer is checked locally against the schema, and an invalid one is repaired — the model is
shown its answer and what is wrong — up to `max_repairs` times. Repairs are ordinary calls:
ledger rows (tagged "repair"), budgets and all."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .schema import Schema
from .types import Completion

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


def repair_request(error: str) -> str:
    return (f"That answer is not valid: {error}. Reply again with only the corrected JSON "
            "object, matching the schema exactly.")


@dataclass
class StructuredAnswer:
    """The outcome of a structured call: `value` (a dict, or the pydantic instance) when the
    answer is valid, else `error`; `completions` holds the first call and every repair."""

    value: Any
    error: str | None
    completions: list[Completion] = field(default_factory=list)

    @property
    def completion(self) -> Completion | None:
        return self.completions[-1] if self.completions else None

    @property
    def repairs(self) -> int:
        return max(0, len(self.completions) - 1)

    @property
    def ok(self) -> bool:
        return self.error is None


def _base_messages(session: Any, prompt: Any, kwargs: dict[str, Any],
                   answer: str) -> list[dict[str, Any]]:
    """What the model saw and said: the conversation (when one was used), else the prompt."""
    if kwargs.get("messages") is not None:
        msgs = [dict(m) for m in kwargs["messages"]]
    elif kwargs.get("once"):
        system = kwargs.get("system")
        msgs = ([{"role": "system", "content": system}] if system else []) + \
            [{"role": "user", "content": prompt}]
    else:
        conv = session.chat(kwargs.get("chat") or "default")
        msgs, _ = conv.request_messages(session.max_history_tokens)
        if msgs and msgs[-1].get("role") == "assistant":
            return msgs
    return msgs + [{"role": "assistant", "content": answer}]


def _repair_kwargs(kwargs: dict[str, Any], base: list[dict[str, Any]], error: str,
                   schema: Schema) -> dict[str, Any]:
    out = {k: v for k, v in kwargs.items()
           if k not in ("chat", "once", "new", "system", "messages", "cell_id", "append",
                        "view", "stream", "tags", "call_id", "attempt")}
    out.update(messages=base + [{"role": "user", "content": repair_request(error)}],
               once=True, tags="repair", response_format=schema.response_format())
    return out


def _keep_repaired(session: Any, kwargs: dict[str, Any], answer: StructuredAnswer) -> None:
    """A conversation remembers the valid answer, not the one that was repaired."""
    if answer.repairs and answer.ok and not kwargs.get("once") and \
            kwargs.get("messages") is None:
        conv = session.chats.get(kwargs.get("chat") or "default")
        if conv is not None and conv.messages and conv.messages[-1].get("role") == "assistant":
            conv.messages[-1]["content"] = answer.completion.text  # type: ignore[union-attr]


def ask(session: Any, prompt: Any, schema: Any, *, max_repairs: int = 1,
        **kwargs: Any) -> StructuredAnswer:
    """`session.complete` with the schema, checked, repaired up to `max_repairs` times."""
    schema = Schema.of(schema)
    comp = session.complete(prompt, response_format=schema.response_format(), **kwargs)
    answer = StructuredAnswer(*schema.parse(comp.text), [comp])
    base = None
    while answer.error and answer.repairs < max(0, max_repairs):
        base = base or _base_messages(session, prompt, kwargs, comp.text)
        repair = _repair_kwargs(kwargs, base, answer.error, schema)
        comp = session.complete(stream=False, **repair)
        base = repair["messages"] + [{"role": "assistant", "content": comp.text}]
        answer.completions.append(comp)
        answer.value, answer.error = schema.parse(comp.text)
    _keep_repaired(session, kwargs, answer)
    return answer


async def aask(session: Any, prompt: Any, schema: Any, *, max_repairs: int = 1,
               **kwargs: Any) -> StructuredAnswer:
    """The async twin of `ask` (batch rows)."""
    schema = Schema.of(schema)
    comp = await session.acomplete(prompt, response_format=schema.response_format(), **kwargs)
    answer = StructuredAnswer(*schema.parse(comp.text), [comp])
    base = None
    while answer.error and answer.repairs < max(0, max_repairs):
        base = base or _base_messages(session, prompt, kwargs, comp.text)
        repair = _repair_kwargs(kwargs, base, answer.error, schema)
        comp = await session.acomplete(stream=False, **repair)
        base = repair["messages"] + [{"role": "assistant", "content": comp.text}]
        answer.completions.append(comp)
        answer.value, answer.error = schema.parse(comp.text)
    _keep_repaired(session, kwargs, answer)
    return answer
