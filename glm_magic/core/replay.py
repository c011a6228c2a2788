"""A stored answer handed back as if the server sent it: whole, or as a stream of chunks (so a
cell streams a cached answer as it would a live one, only fast). The client does this when its
observer already holds the answer (`CallObserver.cached`: the response cache)."""

from __future__ import annotations

import time

from ..providers.base import Provider
from ..types import Chunk, Completion, text_chunk
from .streams import AsyncStream, Stream, StreamCore, aiter_items

PIECE = 2048  # characters of a replayed chunk: a view updates a few times, not per token


def replay_chunks(comp: Completion) -> list[Chunk]:
    """The answer as chunks: its text in pieces; the reasoning, tool calls, references,
    usage and finish reason in the chunks an SDK stream carries them in."""
    msg = comp.choices[0].message if comp.choices else None
    text = (msg.content or "") if msg is not None else ""
    pieces = [text[i:i + PIECE] for i in range(0, len(text), PIECE)] or [""]
    chunks = [text_chunk(p, model=comp.model, id=comp.id) for p in pieces]
    first, last = chunks[0], chunks[-1]
    if msg is not None and msg.reasoning_content and first.choices:
        first.choices[0].delta.reasoning_content = msg.reasoning_content
    if last.choices:
        last.choices[0].finish_reason = (comp.choices[0].finish_reason if comp.choices
                                         else None) or "stop"
        if msg is not None and msg.tool_calls:
            last.choices[0].delta.tool_calls = msg.tool_calls
    last.usage = comp.usage
    last.web_search = comp.web_search
    last.request_id = comp.request_id
    if comp.extra:
        last.extra = dict(comp.extra)
    return chunks


def replayed(provider: Provider, comp: Completion, stream: bool, is_async: bool
             ) -> Completion | Stream | AsyncStream:
    """`comp` (a cached answer) as the client returns a live one."""
    if not stream:
        return comp
    core = StreamCore(provider, time.perf_counter(), 1)
    core.cached = True
    chunks = replay_chunks(comp)
    if not is_async:
        return Stream(core, None, lambda: None, iter(chunks))
    return AsyncStream(core, None, lambda: None, aiter_items(chunks))
