"""A batch re-run answered from the response cache before any worker starts: every row's
request is worked out as the client would send it, all looked up in one pass, and each hit
becomes its row and its ledger row (`cached`, cost 0, what it saved) at once — the rest go
to the workers. 2,000 cached rows take a fraction of a second instead of a call each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..accounting.caching import cached_completion
from ..accounting.recording import Call, new_call_id
from ..accounting.response_cache import cache_key, request_text
from ..core.resources.chat import chat_body
from .plan import row_messages

if TYPE_CHECKING:
    from ..calls.sessions import Session
    from .plan import Plan


def answer_from_cache(s: Session, plan: Plan, system: str | None, params: dict[str, Any],
                      mode: str | None, results: list[dict[str, Any] | None],
                      row: Any, source: str = "batch", tags: str | None = None) -> int:
    """Fill `results` with the rows the cache answers (`row(completion, attempts)` makes a
    result row); returns how many. Only for "on" and "replay": "refresh" sends every row."""
    mode = mode or s.recorder.cache_mode
    cache = s.recorder.response_cache if mode in ("on", "replay") else None
    if cache is None:
        return 0
    cache.read_only = mode == "replay"
    provider = s.client(plan.provider).provider
    sent = {k: v for k, v in params.items() if v is not None}
    todo = [i for i, r in enumerate(results) if r is None]
    keys, messages = {}, {}
    for i in todo:
        messages[i] = row_messages(system, plan.prompts[i])
        body = chat_body(provider, plan.model, messages[i], sent)
        keys[i] = cache_key(request_text(provider.name, provider.base_url, body))
    found = cache.get_many(list(keys.values()), count_misses=False)  # the workers ask again
    answered = 0
    for i, key in keys.items():
        entry = found.get(key)
        comp = cached_completion(entry.answer, provider.name) if entry is not None else None
        if comp is None:
            continue
        comp.latency_s = 0.0
        call = Call(new_call_id(), plan.provider, plan.model, source, None, messages[i],
                    sent, tags=tags)
        call.pricing = provider.pricing_key()
        s.recorder.settle(call, comp)
        results[i] = row(comp, 1)
        answered += 1
    return answered
