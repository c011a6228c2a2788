"""Provider dialects by name. `register_provider` adds OpenAI-compatible presets at runtime."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .. import errors
from .base import Provider

# name -> "module:Class"; imported on first use so `import glm_magic` stays light
_BUILTIN = {
    "zhipu": "zhipu:ZhipuProvider",
    "local": "local:LocalProvider",
}
_ALIASES = {"glm": "zhipu", "bigmodel": "zhipu", "llama": "local", "llama_cpp": "local"}

_notified_fallback = False


def names() -> list[str]:
    return sorted(_BUILTIN)


def known(name: str) -> bool:
    key = name.lower()
    return _ALIASES.get(key, key) in _BUILTIN


def provider_class(name: str) -> type[Provider]:
    key = _ALIASES.get(name.lower(), name.lower()) if name else ""
    target = _BUILTIN.get(key)
    if target is None:
        raise errors.ConfigurationError(
            f"unknown provider {name!r}", hint=f"use one of: {', '.join(names())}")
    mod, cls = target.split(":")
    return getattr(importlib.import_module(f"{__name__}.{mod}"), cls)


def default_provider_name() -> str:
    """The first provider that has credentials: zhipu (ZHIPUAI_API_KEY), then local."""
    global _notified_fallback
    if os.environ.get("ZHIPUAI_API_KEY"):
        return "zhipu"
    if not _notified_fallback:
        _notified_fallback = True
        print("glm-magic: no ZHIPUAI_API_KEY set, using the bundled local model; "
              "set ZHIPUAI_API_KEY (environment or .env) to use GLM.", file=sys.stderr)
    return "local"


def make_provider(name: str | None, **kwargs: Any) -> Provider:
    cls = provider_class(name or default_provider_name())
    return cls(**{k: v for k, v in kwargs.items() if v is not None})
