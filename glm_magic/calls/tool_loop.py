"""Function calling as a loop on the call path: ask, run the functions the model calls (with
their arguments checked against each function's schema), send the results back, until the
model answers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..types import Completion

if TYPE_CHECKING:
    from .sessions import Session


def complete_with_tools(session: Session, prompt: Any, functions: dict[str, Callable[..., Any]], *,
                        max_rounds: int = 5,
                        on_tool: Callable[[str, str, str], None] | None = None,
                        **kwargs: Any) -> Completion:
    """Ask, run the functions the model calls, send their results back, until it answers
    (at most `max_rounds` rounds). A function that raises reports the error to the model."""
    from ..tools import call_tool, tool_schema

    tools = [tool_schema(f) for f in functions.values()] + list(kwargs.pop("tools", []))
    once = kwargs.pop("once", False)
    chat = kwargs.pop("chat", "default")
    if once:  # a private conversation that is dropped afterwards
        chat = f"_once_{uuid.uuid4().hex[:8]}"
    try:
        comp = session.complete(prompt, tools=tools, chat=chat, **kwargs)
        kwargs.pop("new", None)
        kwargs.pop("system", None)
        rounds = 0
        while comp.finish_reason == "tool_calls" and _functions_called(comp):
            if rounds >= max_rounds:
                session.notice(f"stopped after {max_rounds} tool rounds (max_rounds)")
                break
            rounds += 1
            conv = session.chat(chat)
            for tc in _functions_called(comp):
                name = tc.function.name
                result = call_tool(functions.get(name), name, tc.function.arguments)
                conv.add("tool", result, tool_call_id=tc.id or None)
                if on_tool is not None:
                    on_tool(name, tc.function.arguments, result)
            comp = session.complete(None, tools=tools, chat=chat, **kwargs)
        return comp
    finally:
        if once:
            session.chats.pop(chat, None)


def _functions_called(comp: Completion) -> list[Any]:
    """The calls of our functions in an answer (a server-side MCP step is not one: the
    server ran it, and its result is already in the answer)."""
    calls = comp.choices[0].message.tool_calls if comp.choices else None
    return [tc for tc in calls or () if tc.mcp is None and tc.type == "function"]
