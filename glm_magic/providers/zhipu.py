"""Zhipu open platform v4 (open.bigmodel.cn): the default provider."""

from __future__ import annotations

import threading
import time
from typing import Any

from .. import errors
from .._secrets import Secret, secret
from .base import ModelInfo, Provider

TOKEN_TTL_MS = 210_000  # what the official SDK signs into `exp`
TOKEN_CACHE_S = 180.0  # how long the SDK reuses one token


def make_jwt(api_key: str, *, ttl_ms: int = TOKEN_TTL_MS, now_ms: int | None = None) -> str:
    """The HS256 token the official SDK builds from an `id.secret` key (times in milliseconds)."""
    import warnings

    import jwt  # PyJWT: imported only when JWT auth is used

    parts = [Secret(p) for p in api_key.split(".")]  # masked in any traceback
    if len(parts) != 2 or not all(parts):
        raise errors.ConfigurationError(
            "this API key cannot be used for JWT auth: it must look like 'id.secret' "
            "(exactly one '.')", provider="zhipu", hint="use auth='key' or copy the whole key")
    kid, key_secret = parts
    now = int(time.time() * 1000) if now_ms is None else now_ms
    with warnings.catch_warnings():  # Zhipu's secrets are 16 bytes; PyJWT would warn
        warnings.simplefilter("ignore")
        token = jwt.encode({"api_key": str(kid), "exp": now + ttl_ms, "timestamp": now},
                           key_secret,
                           algorithm="HS256", headers={"alg": "HS256", "sign_type": "SIGN"})
    return secret(token)  # type: ignore[return-value]


class JWTCache:
    """One token reused until shortly before it expires, like the official SDK."""

    def __init__(self, api_key: str, ttl_ms: int = TOKEN_TTL_MS, reuse_s: float = TOKEN_CACHE_S):
        self._key = api_key
        self._ttl = ttl_ms
        self._reuse = reuse_s
        self._token: str | None = None
        self._made = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            now = time.monotonic()
            if self._token is None or now - self._made >= self._reuse:
                self._token = make_jwt(self._key, ttl_ms=self._ttl)
                self._made = now
            return self._token

    def __repr__(self) -> str:
        return "<JWTCache>"


_GUIDE = "https://docs.bigmodel.cn/cn/guide/models/"


def _m(name: str, context: int | None, max_output: int | None, kind: str = "text",
       thinking: bool = False, page: str = "", as_of: str = "2026-04-25",
       note: str = "", **reasoning: Any) -> ModelInfo:
    return ModelInfo(name, context, note, max_output, kind, thinking, _GUIDE + page, as_of,
                     **reasoning)


# The current line first (docs.bigmodel.cn model guides), then older models still served.
ZHIPU_MODELS = (
    # GLM-5.3 (2026-08): thinking always on, reasoning_effort low/high/max (default max)
    _m("glm-5.3", 1_048_576, 131_072, thinking=True, page="text/glm-5.3", as_of="2026-12-04",
       efforts=("low", "high", "max"), default_effort="max", thinking_always=True,
       note="always thinks; --effort low|high|max"),
    # GLM-5.2 (2026-06): 1M context, reasoning_effort high/max, thinking can be switched off
    _m("glm-5.2", 1_000_000, 128_000, thinking=True, page="text/glm-5.2", as_of="2026-12-04",
       efforts=("high", "max"), note="--effort high|max"),
    _m("glm-5.1", 200_000, 128_000, thinking=True, page="text/glm-5.1"),
    _m("glm-5", 200_000, 128_000, thinking=True, page="text/glm-5"),
    _m("glm-5-turbo", 200_000, 128_000, thinking=True, page="text/glm-5-turbo"),
    _m("glm-5v-turbo", 200_000, 32_000, "vision", True, "vlm/glm-5v-turbo"),
    _m("glm-4.7", 200_000, 128_000, thinking=True, page="text/glm-4.7"),
    _m("glm-4.7-flash", 200_000, 128_000, thinking=True, page="free/glm-4.7-flash",
       note="free"),
    _m("glm-4.6", 200_000, 128_000, thinking=True, page="text/glm-4.6"),
    _m("glm-4.6v", 128_000, 32_000, "vision", True, "vlm/glm-4.6v",
       note="vision; thinking on/off; function calling"),
    _m("glm-4.6v-flash", 128_000, 32_000, "vision", True, "free/glm-4.6v-flash", note="free"),
    _m("glm-4.5", 128_000, 96_000, thinking=True, page="text/glm-4.5"),
    _m("glm-4.5-air", 128_000, 96_000, thinking=True, page="text/glm-4.5"),
    _m("glm-4.5-flash", 128_000, 96_000, thinking=True, page="free/glm-4.5-flash",
       note="free"),
    _m("glm-4-plus", 128_000, 4_000, page="text/glm-4", as_of="2025-09-01"),
    _m("glm-4-air", 128_000, 4_000, page="text/glm-4", as_of="2025-09-01"),
    _m("glm-4-airx", 8_000, 4_000, page="text/glm-4", as_of="2025-09-01"),
    _m("glm-4-flash", 128_000, 4_000, page="free/glm-4-flash", as_of="2025-09-01",
       note="free"),
    _m("glm-4-flashx", 128_000, 4_000, page="text/glm-4", as_of="2025-09-01"),
    _m("glm-4-long", 1_000_000, 4_000, page="text/glm-4-long", as_of="2025-09-01"),
    _m("glm-4", 128_000, 4_000, page="text/glm-4", as_of="2025-09-01"),
    _m("glm-3-turbo", 128_000, 4_000, as_of="2025-09-01", note="legacy"),
    _m("glm-4v", 2_000, 1_000, "vision", as_of="2025-09-01"),
    _m("glm-4v-plus", 8_000, 1_000, "vision", as_of="2025-09-01"),
    _m("glm-4v-flash", 8_000, 1_000, "vision", page="free/glm-4v-flash", as_of="2025-09-01",
       note="free"),
    _m("cogview-4", None, None, "image", page="image-generation/cogview-4"),
    _m("cogview-3-plus", None, None, "image", as_of="2025-09-01"),
    _m("cogview-3", None, None, "image", as_of="2025-09-01"),
    _m("cogvideox-3", None, None, "video", page="video-generation/cogvideox-3"),
    _m("embedding-3", 8_000, None, "embedding", page="embedding/embedding-3",
       note="vectors of 256–2048 dimensions"),
)


class ZhipuProvider(Provider):
    name = "zhipu"
    response_formats = ("json_object",)
    # docs.bigmodel.cn: embedding-3 takes up to 64 texts of 3072 tokens, embedding-2 512
    embedding_limits = {"embedding-3": (64, 3072), "embedding-2": (64, 512)}
    default_embedding_model = "embedding-3"
    counts_tokens = True
    supports_batches = True
    batch_line_url = "/v4/chat/completions"
    default_base_url = "https://open.bigmodel.cn/api/paas/v4"
    key_env = "ZHIPUAI_API_KEY"
    base_url_env = "ZHIPUAI_BASE_URL"
    default_model = "glm-4-flash"
    models = ZHIPU_MODELS
    temperature_range = (0.0, 1.0)

    def __init__(self, api_key: str | None = None, base_url: str | None = None,
                 auth: str | None = None, **options: Any) -> None:
        super().__init__(api_key, base_url, **options)
        self.auth = auth or "key"
        if self.auth not in ("key", "jwt"):
            raise errors.ConfigurationError(f"auth must be 'key' or 'jwt', not {auth!r}",
                                            provider=self.name)
        self._jwt: JWTCache | None = None

    def pricing_key(self) -> str:
        """api.z.ai (the international platform) bills in USD with its own price rows."""
        return "zai" if "api.z.ai" in self.base_url else self.name

    def auth_headers(self) -> dict[str, str]:
        key = self.require_key()
        if self.auth == "jwt":
            if self._jwt is None:
                make_jwt(key)  # fail early and clearly on a key that is not id.secret
                self._jwt = JWTCache(key)
            return {"Authorization": f"Bearer {self._jwt.get()}"}
        return {"Authorization": f"Bearer {key}"}

    def prepare(self, params, stream):
        p = dict(params)
        t = p.get("temperature")
        # the official SDK's clamps: the API rejects the open interval's ends
        if t is not None:
            if t <= 0:
                p["temperature"], p["do_sample"] = 0.01, False
            elif t >= 1:
                p["temperature"] = 0.99
        tp = p.get("top_p")
        if tp is not None:
            p["top_p"] = min(max(tp, 0.01), 0.99)
        return super().prepare(p, stream)

    def async_submit(self, params: dict[str, Any]):
        req = self.prepare({k: v for k, v in params.items() if k != "stream"}, False)
        req.url = f"{self.base_url}/async/chat/completions"
        return req

    def async_result(self, task_id: str):
        from .base import HTTPRequest

        if not task_id or "/" in task_id:
            raise errors.BadRequestError(f"not a task id: {task_id!r}", provider=self.name)
        return HTTPRequest("GET", f"{self.base_url}/async-result/{task_id}",
                           {"Accept": "application/json", **self.auth_headers()})

    def parse_task(self, data: Any):
        """A task's state as the SDKs show it: `AsyncTaskStatus` while it has no answer,
        `AsyncCompletion` (choices, usage) once it has one."""
        import dataclasses

        from ..types import AsyncCompletion, AsyncTaskStatus, completion_from_openai

        self.raise_for_body(data)
        c = completion_from_openai(data, self.name)
        shape = AsyncCompletion if data.get("choices") else AsyncTaskStatus
        task = shape(**{f.name: getattr(c, f.name) for f in dataclasses.fields(c)})
        task.task_status = data.get("task_status")
        task.id = data.get("id") or c.id
        return task

    def image_request(self, params: dict[str, Any]):
        from .base import HTTPRequest

        return HTTPRequest("POST", f"{self.base_url}/images/generations",
                           {"Accept": "application/json", **self.auth_headers()}, params)

    def parse_images(self, data: Any):
        from ..types import ImageData, ImagesResponse

        self.raise_for_body(data)
        items = [ImageData(d.get("url"), d.get("b64_json"), d.get("revised_prompt"))
                 for d in data.get("data") or []]
        return ImagesResponse(data.get("created") or 0, items, data.get("model") or "", data)

    def error_class(self, status: int, code: str | None) -> type[errors.GLMError]:
        return zhipu_error_class(status, code)


def zhipu_error_class(status: int, code: str | None) -> type[errors.GLMError]:
    """Zhipu's business codes (v4 and the legacy v3 share them) → our exception classes."""
    from .base import class_for_status

    c = int(code) if code and code.isdigit() else None
    if c in (1113, 1304):
        return errors.QuotaExceededError
    if c == 1301:
        return errors.ContentFilterError
    if c in (1302, 1303, 1305):
        return errors.RateLimitError
    if c in (1000, 1001, 1002, 1003, 1004, 1005):
        return errors.AuthenticationError
    if c == 1220:
        return errors.PermissionDeniedError
    if c in (1211, 1221, 1222):
        return errors.NotFoundError
    if c in (1200, 1230, 1234):
        return errors.ServerError
    if c is not None and 1210 <= c <= 1261:
        return errors.BadRequestError
    return class_for_status(status)
