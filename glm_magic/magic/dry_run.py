"""`%%glm --dry-run`: the exact request a cell would send, with keys masked, and what it
would cost (exact counts from the provider's tokenizer when a key is set); nothing is sent."""

from __future__ import annotations

import json
from typing import Any

from .. import errors
from .._secrets import mask, redact
from ..sanitize import terminal_safe
from ..tokens import count_prompt, estimate_messages
from ..types import Usage
from .output import GLMMagics


def dry_run(magics: GLMMagics, prompt: Any, kwargs: dict[str, Any], stream: bool = True
            ) -> dict[str, Any]:
    """Show the exact request that would be sent (key masked) and its estimated cost."""
    from ..accounting import pricing
    from ..calls.sessions import model_info

    s = magics.session
    conv = s.chats.get(kwargs.get("chat") or "default")
    saved = [dict(m) for m in conv.messages] if conv is not None else None
    notices = len(s.notices)
    try:
        call = s.prepare(prompt, check_credentials=False, claim=False, **kwargs)
    finally:  # nothing is sent: the conversation stays exactly as it was
        del s.notices[notices:]
        if saved is None:
            s.chats.pop(kwargs.get("chat") or "default", None)
        else:
            conv.messages[:] = saved
            s.chats[conv.name] = conv
    client = s.client(call.provider)
    prov = client.provider
    body = {"model": call.model, "messages": call.messages, **call.params}
    if body.get("response_format") is not None:  # the schema as this provider gets it
        from ..providers.formats import adapt_request

        body = adapt_request(body, prov)
    info = model_info(call.provider, call.model)
    window = info.context if info is not None else None
    tokens, exact = estimate_messages(body["messages"]), False
    if not window or tokens <= window:  # a prompt past the window is not worth counting
        tokens, exact = count_prompt(client, call.model, body["messages"])
    schema = (body.get("response_format") or {}).get("json_schema")
    if schema:
        tokens += estimate_messages([{"role": "user", "content": json.dumps(schema)}])
        exact = False
    note = None
    try:  # the body the dialect will put on the wire (its adjustments included)
        prov.validate(dict(body))
        wire = prov.prepare(dict(body), stream).json
        if isinstance(wire, dict):
            body = wire
    except errors.ConfigurationError:
        note = "no key is set, so the provider's own adjustments are not shown"
    except errors.GLMError as err:
        note = f"this request would be refused before sending: {err}"
    cost, currency, status = pricing.cost(call.price_key, call.model,
                                          Usage(tokens, 0, tokens), estimated=not exact)
    info: dict[str, Any] = {
        "provider": call.provider, "base_url": prov.base_url, "model": call.model,
        "api_key": mask(getattr(prov, "_api_key", None)), "stream": stream,
        "request": _shortened(body),
        "prompt_tokens": tokens,
        "prompt_tokens_counted_by": "the provider's tokenizer" if exact else "estimate",
        "estimated_prompt_tokens": tokens,
        "estimated_prompt_cost": pricing.format_cost(cost, currency, status,
                                                     s.exchange_rate),
    }
    if window and tokens > window:
        info["warning"] = (f"the prompt (~{tokens:,} tokens) is larger than {call.model}'s "
                           f"context window ({window:,} tokens)")
    if note:
        info["note"] = note
    print(terminal_safe(redact(json.dumps(info, ensure_ascii=False, indent=2))))
    return None


def _shortened(value: Any, limit: int = 2000) -> Any:
    """The request as shown: long strings cut for the display only (never for sending)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}… ({len(value) - limit:,} more characters, sent in full)"
    if isinstance(value, dict):
        return {k: _shortened(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shortened(v, limit) for v in value]
    return value


# --- %glm SUBCOMMAND ----------------------------------------------------------------------------
