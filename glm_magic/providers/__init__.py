"""Provider dialects by name. `register_provider` adds OpenAI-compatible presets at runtime."""

from __future__ import annotations

import importlib
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
_imported: dict[str, type[Provider]] = {}  # built-in dialects already imported (every call asks)
_ALIASES = {"glm": "zhipu", "bigmodel": "zhipu", "llama": "local", "llama_cpp": "local",
            "v3": "zhipu_v3", "baidu": "qianfan", "qwen": "dashscope", "aliyun": "dashscope"}

_notified_fallback = False


_plugins_loaded = False


def _load_plugins() -> None:
    """Third-party dialects: the `glm_magic.providers` entry point group, each entry a
    `Provider` subclass (loaded once, on the first lookup by name)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="glm_magic.providers"):
        try:
            cls = ep.load()
            register_provider(ep.name, cls)
        except Exception as exc:  # a broken plug-in must not break the built-in providers
            print(f"glm-magic: ignoring provider plug-in {ep.name!r} ({ep.value}): {exc}",
                  file=sys.stderr)


def names() -> list[str]:
    _load_plugins()
    return sorted({*_BUILTIN, *_PRESET_NAMES, *_registered})


def known(name: str) -> bool:
    key = name.lower()
    return _ALIASES.get(key, key) in names()


def provider_class(name: str) -> type[Provider]:
    key = _ALIASES.get(name.lower(), name.lower()) if name else ""
    if key not in _registered and key not in _BUILTIN and key not in _PRESET_NAMES:
        _load_plugins()
    if key in _registered:
        return _registered[key]
    if key in _PRESET_NAMES:
        from .openai import PRESETS, make_preset

        return _remember(key, make_preset(key, **PRESETS[key]))
    target = _BUILTIN.get(key)
    if target is None:
        raise errors.ConfigurationError(
            f"unknown provider {name!r}", hint=f"use one of: {', '.join(names())}")
    cls = _imported.get(key)
    if cls is None:
        mod, cls_name = target.split(":")
        cls = _imported[key] = getattr(importlib.import_module(f"{__name__}.{mod}"), cls_name)
    return cls


def register_provider(name: str, dialect: type[Provider] | None = None, *,
                      base_url: str | None = None, key_env: str | None = None,
                      default_model: str = "default", models: Any = (),
                      pricing_name: str | None = None) -> type[Provider]:
    """Make `name` a provider: `%%glm -p name`, `Client(provider=name)`.

    Either a `Provider` subclass of your own (`register_provider("mine", MyProvider)`; a
    package can also publish one under the `glm_magic.providers` entry point group), or an
    OpenAI-compatible server by `base_url=`, with `key_env` naming the environment variable
    holding its key (None: no key, e.g. a local server). Registering a name again replaces
    it."""
    key = name.lower()
    if not key.isidentifier():
        raise errors.ConfigurationError(f"provider names must be identifiers, not {name!r}")
    if key in _BUILTIN:
        raise errors.ConfigurationError(f"{name!r} is a built-in provider; choose another name")
    if dialect is not None:
        if not (isinstance(dialect, type) and issubclass(dialect, Provider)):
            raise errors.ConfigurationError(
                f"register_provider({name!r}, ...) needs a Provider subclass, not {dialect!r}")
        cls = type(dialect.__name__, (dialect,), {"name": key}) if dialect.name != key \
            else dialect
        _remember(key, cls)
        return cls
    if not base_url:
        raise errors.ConfigurationError(
            f"register_provider({name!r}) needs base_url= (an OpenAI-compatible server) or a "
            "Provider subclass")
    from .openai import make_preset

    return _remember(key, make_preset(key, base_url=base_url, key_env=key_env,
                                      default_model=default_model, models=models,
                                      pricing_name=pricing_name))


def _remember(key: str, cls: type[Provider]) -> type[Provider]:
    """Register `cls` as provider `key`; its key and base-URL variables may come from a
    project `.env` like the built-in ones (same-source rule)."""
    from .. import trust

    _registered[key] = cls
    trust.allow_from_dotenv(cls.key_env, cls.base_url_env)
    return cls


def registered_envs() -> set[str]:
    """The key and base-URL variables of the providers registered in user code."""
    return {v for cls in _registered.values() for v in (cls.key_env, cls.base_url_env) if v}


def default_provider_name() -> str:
    """The first provider that has credentials: zhipu (ZHIPUAI_API_KEY), then local."""
    global _notified_fallback
    from ..config import env_value

    if env_value("ZHIPUAI_API_KEY"):  # a key kept only in .env counts from the first call
        return "zhipu"
    if not _notified_fallback:
        _notified_fallback = True
        print("glm-magic: no ZHIPUAI_API_KEY set, using the bundled local model; "
              "set ZHIPUAI_API_KEY (environment or .env) to use GLM.")
    return "local"


def make_provider(name: str | None, **kwargs: Any) -> Provider:
    cls = provider_class(name or default_provider_name())
    made = cls(**{k: v for k, v in kwargs.items() if v is not None})
    made.chosen_by_default = not name  # no provider named: the fallback's errors say so
    return made
