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
    "zhipu_v3": "zhipu_v3:ZhipuV3Provider",
    "openai": "openai:OpenAIProvider",
    "qianfan": "qianfan:QianfanProvider",
    "dashscope": "dashscope:DashScopeProvider",
    "local": "local:LocalProvider",
}
_PRESET_NAMES = ("deepseek", "qianfan_v2", "dashscope_compat", "ollama", "llamacpp_server")
_registered: dict[str, type[Provider]] = {}
_ALIASES = {"glm": "zhipu", "bigmodel": "zhipu", "llama": "local", "llama_cpp": "local",
            "v3": "zhipu_v3", "baidu": "qianfan", "qwen": "dashscope", "aliyun": "dashscope"}

_notified_fallback = False


def names() -> list[str]:
    return sorted({*_BUILTIN, *_PRESET_NAMES, *_registered})


def known(name: str) -> bool:
    key = name.lower()
    return _ALIASES.get(key, key) in names()


def provider_class(name: str) -> type[Provider]:
    key = _ALIASES.get(name.lower(), name.lower()) if name else ""
    if key in _registered:
        return _registered[key]
    if key in _PRESET_NAMES:
        from .openai import PRESETS, make_preset

        cls = _registered[key] = make_preset(key, **PRESETS[key])
        return cls
    target = _BUILTIN.get(key)
    if target is None:
        raise errors.ConfigurationError(
            f"unknown provider {name!r}", hint=f"use one of: {', '.join(names())}")
    mod, cls_name = target.split(":")
    return getattr(importlib.import_module(f"{__name__}.{mod}"), cls_name)


def register_provider(name: str, *, base_url: str, key_env: str | None = None,
                      default_model: str = "default", models: Any = (),
                      pricing_name: str | None = None) -> type[Provider]:
    """Make `name` an OpenAI-compatible provider: `%%glm -p name`, `Client(provider=name)`.

    `key_env` names the environment variable holding its key (None: no key, e.g. a local
    server). Registering a name again replaces it."""
    from .openai import make_preset

    key = name.lower()
    if not key.isidentifier():
        raise errors.ConfigurationError(f"provider names must be identifiers, not {name!r}")
    if key in _BUILTIN:
        raise errors.ConfigurationError(f"{name!r} is a built-in provider; choose another name")
    cls = _registered[key] = make_preset(key, base_url=base_url, key_env=key_env,
                                         default_model=default_model, models=models,
                                         pricing_name=pricing_name)
    return cls


def default_provider_name() -> str:
    """The first provider that has credentials: zhipu (ZHIPUAI_API_KEY), then local."""
    global _notified_fallback
    from ..config import load_dotenv

    load_dotenv()  # a key kept only in .env counts from the first call
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
