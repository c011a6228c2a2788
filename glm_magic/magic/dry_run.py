"""`%%glm --dry-run`: the exact request a cell would send, with keys masked, and what it
would cost (exact counts from the provider's tokenizer when a key is set); nothing is sent."""

from __future__ import annotations

import json
from typing import Any

from .. import errors
from .._secrets import mask, redact
from ..sanitize import terminal_safe
from ..tokens import estimate_messages
from .output import GLMMagics


def dry_run(magics: GLMMagics, prompt: Any, kwargs: dict[str, Any], stream: bool = True
            ) -> dict[str, Any]:
    """Show the exact request that would be sent (key masked) and its estimated cost."""
    from ..accounting.pricing import format_cost
    from ..calls.estimates import estimate_requests
    from ..calls.options import model_info

    s = magics.session
    # prepared, never begun: the conversation stays exactly as it was
    call = s.prepare(prompt, check_credentials=False, claim=False, **kwargs)
    client = s.client(call.provider)
    prov = client.provider
    body = {"model": call.model, "messages": call.messages, **call.params}
    if body.get("response_format") is not None:  # the schema as this provider gets it
        from ..providers.formats import adapt_request

        body = adapt_request(body, prov)
    info = model_info(call.provider, call.model)
    window = info.context if info is not None else None
    schema = (body.get("response_format") or {}).get("json_schema")
    extra = estimate_messages([{"role": "user", "content": json.dumps(schema)}]) \
        if schema else 0
    est = estimate_requests(client, call.model, [body["messages"]], extra_tokens=extra,
                            window=window)
    tokens = est.prompt_tokens
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
    info: dict[str, Any] = {
        "provider": call.provider, "base_url": prov.base_url, "model": call.model,
        "api_key": getattr(prov, "masked_key", None) or mask(None), "stream": stream,
        "request": _shortened(body),
        "prompt_tokens": tokens,
        "prompt_tokens_counted_by": est.counted_by,
        "estimated_prompt_tokens": tokens,
        "estimated_prompt_cost": format_cost(est.cost, est.currency, est.cost_status,
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
