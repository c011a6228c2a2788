"""Token estimates for when a provider reports no usage (and for --dry-run).

The rule, documented in the README: one token per CJK character, one per four other
characters (rounded up), plus four per message for the chat framing. It is within ~20% of
GLM's and Qwen's tokenizers on mixed Chinese/English text and is always marked estimated."""

from __future__ import annotations

import re
from typing import Any

_CJK_CLASS = r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]"
_CJK: re.Pattern[str] | None = None  # compiled on first use (a cell with usage needs none)
PER_MESSAGE = 4


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    global _CJK
    if _CJK is None:
        _CJK = re.compile(_CJK_CLASS)
    cjk = len(_CJK.findall(text))
    return cjk + -(-(len(text) - cjk) // 4)


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def estimate_messages(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(message_text(m)) + PER_MESSAGE for m in messages)


_COUNTED: dict[str, int] = {}  # digest of (provider, base URL, model, messages) → exact count
_COUNTED_MAX = 512


def count_prompt(client: Any, model: str, messages: list[dict[str, Any]]) -> tuple[int, bool]:
    """(tokens, exact): the provider's tokenizer when it has one and a key is set (one request
    per distinct prompt, remembered), else our estimate — `exact` False — offline, without a
    key, for other providers or when the tokenizer fails."""
    import hashlib
    import json

    from . import errors

    provider = client.provider
    if not getattr(provider, "counts_tokens", False):
        return estimate_messages(messages), False
    try:
        provider.require_credentials()
    except errors.GLMError:
        return estimate_messages(messages), False
    key = hashlib.sha256(json.dumps([provider.name, provider.base_url, model, messages],
                                    ensure_ascii=False, default=str, sort_keys=True
                                    ).encode("utf-8", "surrogatepass")).hexdigest()
    if key in _COUNTED:
        return _COUNTED[key], True
    try:
        counted = client.tokenizer.create(model=model, messages=messages).prompt_tokens
    except errors.GLMError:
        return estimate_messages(messages), False
    if len(_COUNTED) >= _COUNTED_MAX:
        _COUNTED.pop(next(iter(_COUNTED)))
    _COUNTED[key] = counted
    return counted, True
