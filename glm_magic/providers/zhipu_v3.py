"""The legacy Zhipu v3 model API (retired for new keys): invoke, sse-invoke with
add/finish/error/interrupted events and usage in a `meta:` line, the {code,msg,data} envelope."""

from __future__ import annotations

import json
from typing import Any

from .. import errors
from .._json import loads
from ..sse import Event
from ..types import Choice, Completion, Message, Usage, as_text, text_chunk
from .base import HTTPRequest, ModelInfo, Provider
from .zhipu import JWTCache, make_jwt, zhipu_error_class

V3_TTL_MS = 180_000


def unwrap(content: str | None) -> str:
    """v3 often returns the text wrapped in quotes with escaped newlines: undo that."""
    if not content:
        return ""
    if not isinstance(content, str):
        return as_text(content) or ""
    s = content.strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        try:
            return json.loads(s).strip()
        except ValueError:
            return s[1:-1].replace("\\n", "\n").strip()
    return content


def _usage(data: dict | None) -> Usage | None:
    if not data:
        return None
    return Usage(data.get("prompt_tokens"), data.get("completion_tokens"),
                 data.get("total_tokens"))


class ZhipuV3Provider(Provider):
    name = "zhipu_v3"

    def embedding_request(self, params: dict[str, Any]) -> HTTPRequest:
        raise self._unsupported("embeddings API here")
    default_base_url = "https://open.bigmodel.cn/api/paas/v3/model-api"
    key_env = "ZHIPUAI_API_KEY"
    base_url_env = "ZHIPUAI_V3_BASE_URL"
    default_model = "chatglm_std"
    temperature_range = (0.0, 1.0)
    models = (ModelInfo("chatglm_pro", 8_000, "legacy"), ModelInfo("chatglm_std", 8_000, "legacy"),
              ModelInfo("chatglm_lite", 8_000, "legacy"))

    def __init__(self, api_key: str | None = None, base_url: str | None = None, **options: Any):
        options.pop("auth", None)  # v3 always signs a JWT
        super().__init__(api_key, base_url, **options)
        self._jwt: JWTCache | None = None

    def auth_headers(self) -> dict[str, str]:
        key = self.require_key()
        if self._jwt is None:
            make_jwt(key, ttl_ms=V3_TTL_MS)
            self._jwt = JWTCache(key, ttl_ms=V3_TTL_MS, reuse_s=150.0)
        return {"Authorization": self._jwt.get()}  # a bare JWT: no "Bearer"

    def validate(self, params: dict[str, Any]) -> None:
        for m in params.get("messages") or []:
            if m.get("role") not in ("user", "assistant"):
                raise errors.BadRequestError(
                    f"the v3 API takes only user/assistant messages, not {m.get('role')!r}",
                    provider=self.name, hint="drop the system prompt (-s) or use provider zhipu")

    def prepare(self, params: dict[str, Any], stream: bool) -> HTTPRequest:
        p = {k: v for k, v in params.items() if v is not None}
        p.pop("stream", None)
        model = p.pop("model")
        body: dict[str, Any] = {"prompt": p.pop("messages"), **p}
        if stream:
            body["incremental"] = True  # deltas, not the cumulative text so far
        op = "sse-invoke" if stream else "invoke"
        headers = {"Accept": "text/event-stream" if stream else "application/json",
                   **self.auth_headers()}
        return HTTPRequest("POST", f"{self.base_url}/{model}/{op}", headers, body)

    def raise_for_body(self, data: Any, status: int = 200) -> None:
        if not isinstance(data, dict):
            raise errors.ProtocolError("unexpected response body", provider=self.name)
        code = data.get("code")
        if code not in (None, 200) or data.get("success") is False:
            msg = data.get("msg") or "request failed"
            cls = zhipu_error_class(status if status >= 400 else 400, str(code))
            raise cls(msg, provider=self.name, code=str(code), status=status or None)

    def parse_completion(self, data: Any) -> Completion:
        self.raise_for_body(data)
        d = data.get("data") or {}
        choices = [Choice(i, Message(c.get("role") or "assistant", unwrap(c.get("content"))),
                          "stop") for i, c in enumerate(d.get("choices") or [])]
        rid = d.get("request_id") or d.get("task_id")
        return Completion(id=d.get("task_id") or rid or "", choices=choices,
                          usage=_usage(d.get("usage")), request_id=rid, provider=self.name,
                          raw=data)

    def parse_event(self, ev: Event):
        kind = ev.event
        # the event as it came (kind, id, plain-text data, meta): what zhipuai 1.x loops read
        raw = {"event": kind, "id": ev.id, "data": ev.data, "meta": ev.extra.get("meta")}
        if kind == "add" or kind == "message":
            return text_chunk(ev.data, id=ev.id or "", raw=raw)
        if kind == "finish":
            meta: dict[str, Any] = {}
            if ev.extra.get("meta"):
                try:
                    meta = loads(ev.extra["meta"])
                except ValueError as exc:
                    raise errors.ProtocolError("malformed meta in finish event",
                                               provider=self.name) from exc
            return text_chunk(ev.data, id=meta.get("request_id") or ev.id or "",
                              finish_reason="stop", raw=raw,
                              usage=_usage(meta.get("usage")))
        if kind in ("error", "interrupted"):
            err: errors.GLMError = (
                errors.ServerError(ev.data or "error event in stream", provider=self.name)
                if kind == "error" else
                errors.ContentFilterError(ev.data or "the stream was interrupted (moderation)",
                                          provider=self.name))
            err.sse_event = raw  # type: ignore[attr-defined]
            raise err
        return None

    def async_submit(self, params: dict[str, Any]) -> HTTPRequest:
        req = self.prepare(params, False)
        req.url = req.url.rsplit("/", 1)[0] + "/async-invoke"
        return req

    def async_result(self, task_id: str) -> HTTPRequest:
        return HTTPRequest("GET", f"{self.base_url}/-/async-invoke/{task_id}",
                           {"Accept": "application/json", **self.auth_headers()})

    def parse_task(self, data: Any) -> Completion:
        c = self.parse_completion(data)
        d = data.get("data") or {}
        c.task_status = d.get("task_status")
        c.id = d.get("task_id") or c.id
        return c

    def error_class(self, status: int, code: str | None) -> type[errors.GLMError]:
        return zhipu_error_class(status, code)
