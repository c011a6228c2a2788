"""How a call meets the response cache (`response_cache.py`): before it is sent, the answer
already stored for the same request (a hit: nothing is sent, the row says `cached`, cost 0 and
what it saved); in replay mode a miss is a `CacheMissError` and nothing is sent; after a live
answer, the answer stored for next time. `Recorder.settle` and the call observers use these;
every front-end gets the cache this way."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .. import errors
from ..sanitize import terminal_safe
from ..types import Completion
from ..types.chat import completion_from_openai
from .response_cache import MODES, cache_key, request_text

if TYPE_CHECKING:
    from ..providers.base import Provider
    from .recording import Call, Recorder


def cache_mode(value: Any) -> str | None:
    """`cache=` as a mode: True → "on", False → "off", a mode name, or None (the setting)."""
    if value is None:
        return None
    if value is True:
        return "on"
    if value is False:
        return "off"
    mode = str(value).strip().lower()
    if mode not in MODES:
        raise ValueError(f"cache must be one of {', '.join(MODES)} (or True/False), not "
                         f"{value!r}")
    return mode


def lookup(recorder: Recorder, call: Call, provider: Provider, body: dict[str, Any]
           ) -> Completion | None:
    """The cached answer to `body`, or None (then the call is sent and, unless the cache is
    off, its answer stored by `store`)."""
    mode = call.cache or recorder.cache_mode
    if mode == "off":
        return None
    cache = recorder.response_cache
    if cache is None:
        return None
    cache.read_only = mode == "replay"
    text = request_text(provider.name, provider.base_url, body)
    key = cache_key(text)
    if mode != "refresh":
        t0 = time.perf_counter()
        entry = cache.get(key)
        comp = cached_completion(entry.answer, provider.name) if entry is not None else None
        if comp is not None:
            comp.latency_s = time.perf_counter() - t0
            return comp
        if mode == "replay":
            raise errors.CacheMissError(
                f"{where(call)} is not in the response cache "
                f"({terminal_safe(cache.path)}) and replay sends nothing",
                provider=provider.name)
    call.cache_entry = (key, text)
    return None


def cached_completion(answer: dict[str, Any], provider: str) -> Completion | None:
    """A stored answer as a Completion, marked cached (None when it does not parse)."""
    try:
        comp = completion_from_openai(answer, provider)
    except (AttributeError, TypeError, ValueError, KeyError):
        return None  # a hand-edited or hostile entry: a miss
    comp.cached = True
    comp.raw = None
    return comp


def where(call: Call) -> str:
    """How a miss names what was asked: the row, the cell, or the front-end."""
    if call.where:
        return call.where
    if call.cell is not None:
        return f"cell [{call.cell}]"
    return f"this {call.source} call ({call.model})"


def store(recorder: Recorder, call: Call, comp: Completion) -> None:
    """Keep a live, complete answer for the next identical request."""
    entry, call.cache_entry = call.cache_entry, None
    if entry is None or comp.cached or comp.status != "ok" or not comp.choices:
        return
    cache = recorder.response_cache
    if cache is not None:
        key, text = entry
        cache.put(key, text, comp.model_dump(), comp.cost, comp.currency)
