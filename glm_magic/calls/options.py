"""What a call may be asked: the routing options that say where it goes and how it is
recorded (every other keyword is an API parameter), `provider:model` targets, what the model
list knows of a model, and the check that a cut-off JSON answer is no answer."""

from __future__ import annotations

from typing import Any, Protocol

from .. import errors
from ..accounting.recording import Call
from ..providers import known, provider_class
from ..types import Chunk, Completion


class View(Protocol):
    """Where a streamed answer goes while it arrives (notebook, terminal, widget)."""

    def update(self, chunk: Chunk) -> None: ...

    def finish(self, completion: Completion) -> None: ...


# the routing options of a call (where it goes, what it remembers, how it is recorded); every
# other keyword is an API parameter and goes to the provider as given
ROUTING = ("messages", "provider", "model", "chat", "system", "once", "new", "source", "cell",
           "tags", "check_credentials", "call_id", "attempt", "claim", "cell_id", "append",
           "stream", "view", "max_retries", "client", "cache")
# what people reach for instead (`conversation=` meant `chat=`)
ROUTING_ALIASES = {"conversation": "chat", "chat_name": "chat", "conv": "chat",
                    "system_prompt": "system", "provider_name": "provider",
                    "model_name": "model", "tag": "tags", "fresh": "new", "reset": "new"}
# API parameters the providers document, never mistaken for a routing option
API_PARAMS = {"temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "tools",
               "tool_choice", "response_format", "thinking", "reasoning_effort", "tool_stream",
               "do_sample", "user_id",
               "request_id", "n", "presence_penalty", "frequency_penalty", "logprobs",
               "top_logprobs", "repetition_penalty", "enable_search", "stream_options",
               "extra_headers", "extra_body", "timeout", "user", "logit_bias", "endpoint",
               "meta", "incremental", "return_type", "ref", "min_p", "repeat_penalty"}


def mark_cut_off_json(call: Call, comp: Completion) -> None:
    """A JSON answer that `max_tokens` cut off before it ended is `invalid`, not `ok`: the
    ledger and the conversation must not count it as an answer."""
    fmt = call.params.get("response_format")
    if comp.status != "ok" or comp.finish_reason != "length" or not isinstance(fmt, dict) or \
            fmt.get("type") not in ("json_schema", "json_object"):
        return
    from ..schema import extract_json

    _, problem = extract_json(comp.text)
    if problem:
        comp.status = "invalid"
        comp.error = f"the answer was cut off by max_tokens before its JSON ended ({problem})"


def check_options(params: dict[str, Any]) -> None:
    """A keyword that looks like a routing option but is not one is a mistake, not an API
    parameter: raise TypeError naming the option meant (it would go to the vendor)."""
    import difflib

    for key in params:
        if key in API_PARAMS:
            continue
        meant = ROUTING_ALIASES.get(key) or next(iter(difflib.get_close_matches(
            key, ROUTING, n=1, cutoff=0.75)), None)
        if meant:
            raise TypeError(f"unknown option {key}=; did you mean {meant}=? (unknown keywords "
                            "are sent to the provider as API parameters)")


def split_target(provider: str | None, model: str | None) -> tuple[str | None, str | None]:
    """`qianfan:ChatGLM3-6B` → ('qianfan', 'ChatGLM3-6B'); a plain model keeps the provider."""
    if model and ":" in model and not model.endswith(".gguf"):
        head, _, tail = model.partition(":")
        if known(head):
            return head, tail or None
    return provider, model


REASONING_PROVIDERS = ("zhipu", "zhipu_v3")  # whose model list says which take an effort


def check_reasoning(provider: str, model: str | None, params: dict[str, Any]) -> None:
    """Refuse, in one line and before anything is sent, the reasoning settings a listed model
    does not take: a `reasoning_effort` outside its values (or on a model without any), and
    `thinking={"type": "disabled"}` on a model that always thinks. Unlisted (new) models are
    sent as asked."""
    if provider not in REASONING_PROVIDERS:
        return
    info = model_info(provider, model)
    if info is None:
        return
    effort = params.get("reasoning_effort")
    if effort is not None and effort not in info.efforts:
        takers = [m for m in provider_class(provider).models if m.efforts]
        if not info.efforts:
            listed = ", ".join(f"{m.name} ({'|'.join(m.efforts)})" for m in takers)
            raise errors.BadRequestError(
                f"{info.name} takes no reasoning_effort", provider=provider,
                hint=f"leave it out, or use a model that takes one: {listed}")
        raise errors.BadRequestError(
            f"{info.name} takes reasoning_effort {' | '.join(info.efforts)}, not {effort!r}",
            provider=provider, hint=f"e.g. reasoning_effort={info.efforts[-1]!r}")
    thinking = params.get("thinking")
    if info.thinking_always and isinstance(thinking, dict) and \
            thinking.get("type") == "disabled":
        effort_hint = f"; reasoning_effort={info.efforts[0]!r} thinks least" \
            if info.efforts else ""
        raise errors.BadRequestError(
            f"{info.name} always thinks: thinking cannot be switched off", provider=provider,
            hint=f"leave thinking (--no-thinking) out{effort_hint}")


# model tuples by name: id(tuple) -> (the tuple, {lower-case name: ModelInfo}); a call asks
# three or four times (reasoning rules, context window, typo hint) and lists are long
_by_name: dict[int, tuple[Any, dict[str, Any]]] = {}


def model_info(provider: str, model: str | None) -> Any:
    """The provider's `ModelInfo` for `model` (None when the list does not know it)."""
    try:
        models = provider_class(provider).models
    except errors.GLMError:
        return None
    name = (model or "").lower()
    if not isinstance(models, tuple):  # a list someone may still change: searched each time
        return next((m for m in models if m.name.lower() == name), None)
    index = _by_name.get(id(models))
    if index is None or index[0] is not models:  # a provider's tuple, indexed once
        index = _by_name[id(models)] = (models, {m.name.lower(): m for m in reversed(models)})
    return index[1].get(name)
