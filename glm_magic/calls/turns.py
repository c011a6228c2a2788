"""A call's turn in its conversation, worked out without touching the conversation: what the
conversation will look like once the call starts (a `--new` reset, a changed system prompt, a
re-run cell's earlier exchange replaced, the prompt added), the messages to send (trimmed to
the history budget), and the notices to show. `Session.begin` applies it; a dry run, an async
task or a refused call simply drops it, so nothing has to be undone by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..tokens import estimate_messages
from ..types import Completion
from .conversation import Conversation
from .options import model_info


@dataclass
class PendingTurn:
    """The conversation `conversation` as it will be when the call starts (`messages`,
    `tokens_used`), checked against `before` — the list it was worked out from — so a
    conversation that changed in between is never overwritten."""

    conversation: str
    messages: list[dict[str, Any]]
    tokens_used: int
    before: list[dict[str, Any]]
    replaced: tuple[int, list[dict[str, Any]]] | None = None
    notices: list[str] = field(default_factory=list)

    def still_fits(self, conv: Conversation) -> bool:
        """True while `conv` holds exactly the messages this turn was worked out from."""
        now = conv.messages
        return len(now) == len(self.before) and all(a is b for a, b in zip(now, self.before,
                                                                            strict=True))


def draft_turn(conv: Conversation, prompt: Any, *, new: bool, system: str | None,
               cell_id: str | None, append: bool, history: tuple[int | None, str]
               ) -> tuple[PendingTurn, list[dict[str, Any]]]:
    """The turn `prompt` makes in `conv` and the messages to send, on a copy of `conv`."""
    draft = Conversation(conv.name, list(conv.messages), conv.tokens_used)
    turn = PendingTurn(conv.name, draft.messages, conv.tokens_used, list(conv.messages))
    if new:
        draft.reset(keep_system=system is None)
    if system is not None:
        draft.system = system or None
    if cell_id and not append and prompt is not None:
        turn.replaced = draft.take_cell(cell_id)  # a re-run replaces, not adds
        if turn.replaced is not None:
            turn.notices.append(f"this cell ran before: its earlier exchange in conversation "
                                f"{conv.name!r} was replaced (--append keeps both)")
    if prompt is not None:  # None: continue (e.g. after tool results)
        draft.add("user", prompt, cell_id=cell_id)
    limit, why = history
    msgs, dropped = draft.request_messages(limit)
    if dropped:
        turn.notices.append(f"{dropped} oldest turn(s) of conversation {conv.name!r} were left "
                            f"out to fit {why}")
    turn.messages, turn.tokens_used = draft.messages, draft.tokens_used
    return turn, msgs


def history_limit(provider: str, model: str, params: dict[str, Any],
                  max_history_tokens: int | None) -> tuple[int | None, str]:
    """How many tokens of conversation to send: `max_history_tokens` when set, else the
    model's context window less room for the answer (its `max_tokens`, or a quarter of the
    window up to the model's longest answer)."""
    if max_history_tokens:
        return max_history_tokens, f"max_history_tokens={max_history_tokens}"
    info = model_info(provider, model)
    if info is None or not info.context:
        return None, ""
    answer = params.get("max_tokens") or min(info.max_output or info.context // 4,
                                             info.context // 4)
    limit = max(1, info.context - int(answer))
    return limit, f"{model}'s context window ({info.context:,} tokens, {int(answer):,} " \
                  "kept for the answer)"


def window_notice(provider: str, model: str, msgs: list[dict[str, Any]]) -> str | None:
    """What to say before sending a prompt larger than the model's context window (counted
    only when the text is long enough to matter)."""
    info = model_info(provider, model)
    window = info.context if info is not None else None
    if not window or sum(len(str(m.get("content") or "")) for m in msgs) <= window:
        return None
    tokens = estimate_messages(msgs)
    if tokens <= window:
        return None
    return (f"the prompt (~{tokens:,} tokens) is larger than {model}'s context window "
            f"({window:,} tokens): the provider will likely refuse or cut it; shorten it, or "
            "set max_history_tokens to trim old turns")


def remember(conv: Conversation, call: Any, comp: Completion) -> list[str]:
    """What the call's answer leaves in its conversation (the answer, an interrupted answer
    marked, or nothing: a failed or filtered call takes its prompt back); the notices to
    show."""
    notices = []
    if comp.status == "ok":
        msg = comp.choices[0].message.to_dict() if comp.choices else {
            "role": "assistant", "content": ""}
        conv.messages.append(msg)
    elif comp.status == "interrupted":
        conv.add("assistant", comp.text, status="interrupted")
    elif comp.status == "filtered":
        forget_turn(conv, call)
        notices.append(f"the provider's moderation stopped this answer; the exchange was "
                       f"removed from conversation {conv.name!r} — rephrase to continue")
    else:
        forget_turn(conv, call)
    if comp.usage:
        conv.tokens_used += comp.usage.total_tokens
    if comp.extra and comp.extra.get("need_clear_history"):
        conv.reset()
        notices.append(f"{call.provider} judged this conversation unsafe (need_clear_history): "
                       f"conversation {conv.name!r} was cleared")
    return notices


def forget_turn(conv: Conversation, call: Any) -> None:
    """Take back the user turn `call` added to `conv`; a failed re-run of a cell puts the
    cell's earlier exchange back."""
    if call.messages and call.messages[-1].get("role") == "user":
        conv.pop_last_exchange()
        if call.replaced is not None:
            conv.put_back(*call.replaced)
            call.replaced = None
