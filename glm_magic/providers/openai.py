"""Any OpenAI-compatible endpoint: OpenAI, DeepSeek, Qianfan v2, DashScope
compatible mode, vLLM, Ollama, llama.cpp's server, any gateway — and named presets."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlparse

from .base import ModelInfo, Provider


class OpenAIProvider(Provider):
    name = "openai"
    default_base_url = "https://api.openai.com/v1"
    key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_model = "gpt-4o-mini"
    models = (ModelInfo("gpt-4o-mini", 128_000), ModelInfo("gpt-4o", 128_000),
              ModelInfo("glm-4.7", 200_000, "via an OpenAI-compatible gateway"))
    # servers on this machine (Ollama, llama.cpp, vLLM) usually need no key
    key_optional_for_loopback: ClassVar[bool] = True
    response_formats: ClassVar[tuple[str, ...]] = ("json_schema", "json_object")
    supports_batches: ClassVar[bool] = True  # /v1/files and /v1/batches
    # platform.openai.com: up to 2048 inputs of 8191 tokens (300k tokens per request)
    embedding_limits: ClassVar[dict[str, tuple[int, int]]] = {
        "text-embedding-3-small": (2048, 8191), "text-embedding-3-large": (2048, 8191)}
    default_embedding_model: ClassVar[str] = "text-embedding-3-small"

    def _loopback(self) -> bool:
        host = urlparse(self.base_url).hostname or ""
        return host in ("localhost", "::1") or host.startswith("127.")

    def require_credentials(self) -> None:
        if not (self.key_optional_for_loopback and self._loopback()):
            self.require_key()

    def auth_headers(self) -> dict[str, str]:
        if not self._api_key and self.key_optional_for_loopback and self._loopback():
            return {}
        return super().auth_headers()

    # we ask for usage on streams ourselves; the usage-only chunk that brings is not yielded
    # to loops written for the SDK (`chunk.choices[0]`), unless the caller asked for it
    adds_usage_chunk: bool = True

    def prepare(self, params: dict[str, Any], stream: bool):
        p = dict(params)
        if stream and "stream_options" not in p:
            p["stream_options"] = {"include_usage": True}  # vLLM/Ollama then send usage
        elif not stream:
            p.pop("stream_options", None)  # vLLM rejects it on non-stream requests
        return super().prepare(p, stream)


PRESETS: dict[str, dict[str, Any]] = {
    "deepseek": {"base_url": "https://api.deepseek.com", "key_env": "DEEPSEEK_API_KEY",
                 "default_model": "deepseek-chat",
                 "models": [("deepseek-chat", 128_000), ("deepseek-reasoner", 128_000)]},
    "qianfan_v2": {"base_url": "https://qianfan.baidubce.com/v2", "key_env": "QIANFAN_API_KEY",
                   "default_model": "ernie-speed-8k", "pricing_name": "qianfan",
                   "models": [("ernie-speed-8k", 8_000), ("ernie-3.5-8k", 8_000),
                              ("ernie-4.0-8k", 8_000)]},
    "dashscope_compat": {"base_url": "https://dashscope.aliyuncs.com/compatible-mode/v1",
                         "key_env": "DASHSCOPE_API_KEY", "default_model": "qwen-turbo",
                         "pricing_name": "dashscope",
                         "models": [("qwen-turbo", 1_000_000), ("qwen-plus", 131_072),
                                    ("qwen-max", 32_768)]},
    "ollama": {"base_url": "http://localhost:11434/v1", "key_env": "OLLAMA_API_KEY",
               "default_model": "llama3.2", "models": []},
    "llamacpp_server": {"base_url": "http://127.0.0.1:8000/v1", "key_env": "LLAMA_API_KEY",
                        "default_model": "default", "models": []},
}


def make_preset(name: str, *, base_url: str, key_env: str | None = None,
                default_model: str = "default", models: Any = (),
                pricing_name: str | None = None, base_url_env: str | None = None
                ) -> type[OpenAIProvider]:
    """A named OpenAI-compatible endpoint: just a base URL and the env var holding its key."""
    attrs = {
        "name": name, "default_base_url": base_url.rstrip("/"), "key_env": key_env,
        "base_url_env": base_url_env or f"{name.upper()}_BASE_URL",
        "default_model": default_model, "pricing_name": pricing_name,
        "models": tuple(m if isinstance(m, ModelInfo) else ModelInfo(*m) for m in models),
        "__doc__": f"OpenAI-compatible preset {name!r} ({base_url}).",
    }
    return type(f"{name.title().replace('_', '')}Provider", (OpenAIProvider,), attrs)
