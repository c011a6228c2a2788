"""Answers as data: each provider gets the strongest structured-output mechanism it has, every
answer is checked locally against the schema, and an invalid one is repaired — the model is
shown its answer and what is wrong — up to `max_repairs` times. Repairs are ordinary calls:
ledger rows (tagged "repair"), budgets and all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..schema import Schema
from ..types import Completion


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


class _Repairs:
    """The check-and-repair state `ask` and `aask` share: the answer so far, and the next
    repair to send (the model shown its last answer and what is wrong with it)."""

    def __init__(self, session: Any, prompt: Any, schema: Schema, kwargs: dict[str, Any],
                 first: Completion) -> None:
        self.session, self.prompt, self.schema, self.kwargs = session, prompt, schema, kwargs
        self.answer = StructuredAnswer(*schema.parse(first.text), [first])
        self._base: list[dict[str, Any]] | None = None
        self._call: dict[str, Any] = {}

    def next_call(self, max_repairs: int) -> dict[str, Any] | None:
        """The keywords of the next repair call, or None when the answer is done."""
        a = self.answer
        if not a.error or a.repairs >= max(0, max_repairs):
            return None
        self._base = self._base or _base_messages(self.session, self.prompt, self.kwargs,
                                                  a.completion.text)  # type: ignore[union-attr]
        self._call = _repair_kwargs(self.kwargs, self._base, a.error, self.schema)
        return self._call

    def take(self, comp: Completion) -> None:
        self._base = self._call["messages"] + [{"role": "assistant", "content": comp.text}]
        self.answer.completions.append(comp)
        self.answer.value, self.answer.error = self.schema.parse(comp.text)

    def done(self) -> StructuredAnswer:
        _keep_repaired(self.session, self.kwargs, self.answer)
        return self.answer


def ask(session: Any, prompt: Any, schema: Any, *, max_repairs: int = 1,
        **kwargs: Any) -> StructuredAnswer:
    """`session.complete` with the schema, checked, repaired up to `max_repairs` times."""
    schema = Schema.of(schema)
    first = session.complete(prompt, response_format=schema.response_format(), **kwargs)
    repairs = _Repairs(session, prompt, schema, kwargs, first)
    while (call := repairs.next_call(max_repairs)) is not None:
        repairs.take(session.complete(stream=False, **call))
    return repairs.done()


async def aask(session: Any, prompt: Any, schema: Any, *, max_repairs: int = 1,
               **kwargs: Any) -> StructuredAnswer:
    """The async twin of `ask` (batch rows)."""
    schema = Schema.of(schema)
    first = await session.acomplete(prompt, response_format=schema.response_format(),
                                    **kwargs)
    repairs = _Repairs(session, prompt, schema, kwargs, first)
    while (call := repairs.next_call(max_repairs)) is not None:
        repairs.take(await session.acomplete(stream=False, **call))
    return repairs.done()
