"""Alibaba DashScope native text generation (the Qwen `Generation` API)."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..sse import Event
from ..types import Choice, Completion, Message, ToolCall, Usage, as_text, text_chunk
from .base import HTTPRequest, ModelInfo, Provider

PARAMETERS = ("temperature", "top_p", "top_k", "seed", "max_tokens", "stop",
              "repetition_penalty", "presence_penalty", "enable_search", "tools",
              "tool_choice", "result_format", "incremental_output", "n", "response_format")


def _usage(data: dict | None) -> Usage | None:
    if not data:
        return None
    details = data.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(data.get("input_tokens"), data.get("output_tokens"), data.get("total_tokens"),
                 cached_tokens=cached)


def _finish(value: Any) -> str | None:
    return None if value in (None, "null", "") else str(value)


class DashScopeProvider(Provider):
    name = "dashscope"
    response_formats = ("json_object",)
    # help.aliyun.com text-embedding: v3 takes 10 texts of 8192 tokens; v1/v2 25 of 2048
    embedding_limits = {"text-embedding-v3": (10, 8192), "text-embedding-v2": (25, 2048),
                        "text-embedding-v1": (25, 2048)}
    default_embedding_model = "text-embedding-v3"

    def embedding_request(self, params: dict[str, Any]) -> HTTPRequest:
        """The native text-embedding API: texts under `input`, options under `parameters`."""
        p = dict(params)
        texts = p.pop("input")
        parameters = {}
        if p.get("dimensions") is not None:
            parameters["dimension"] = p.pop("dimensions")
        p.pop("dimensions", None)
        if p.get("encoding_format") is not None:
            parameters["output_type"] = "dense"
        p.pop("encoding_format", None)
        body = {"model": p.pop("model"), "input": {"texts": texts if isinstance(texts, list)
                                                   else [texts]},
                "parameters": {**parameters, **(p.pop("parameters", {}) or {})}, **p}
        return HTTPRequest("POST",
                           f"{self.base_url}/services/embeddings/text-embedding/text-embedding",
                           {"Accept": "application/json", **self.auth_headers()}, body)

    def parse_embeddings(self, data: Any) -> Any:
        from ..types import Embedding, EmbeddingsResponse, EmbeddingUsage

        self.raise_for_body(data)
        out = data.get("output") if isinstance(data, dict) else None
        if not isinstance(out, dict) or not isinstance(out.get("embeddings"), list):
            raise errors.ProtocolError("the embeddings answer has no output.embeddings",
                                       provider=self.name)
        items = sorted(out["embeddings"], key=lambda e: e.get("text_index") or 0)
        tokens = int((data.get("usage") or {}).get("total_tokens") or 0)
        return EmbeddingsResponse([Embedding(int(e.get("text_index") or i),
                                             list(e.get("embedding") or []))
                                   for i, e in enumerate(items)],
                                  str(data.get("model") or ""), EmbeddingUsage(tokens, tokens),
                                  raw=data)
    default_base_url = "https://dashscope.aliyuncs.com/api/v1"
    key_env = "DASHSCOPE_API_KEY"
    base_url_env = "DASHSCOPE_BASE_URL"
    default_model = "qwen-turbo"
    temperature_range = (0.0, 1.99)
    models = (ModelInfo("qwen-turbo", 1_000_000), ModelInfo("qwen-plus", 131_072),
              ModelInfo("qwen-max", 32_768))

    def prepare(self, params: dict[str, Any], stream: bool) -> HTTPRequest:
        # result_format=None (the SDK drop-in) sends none, as the SDK does; otherwise ask for
        # the message shape, which every model answers in
        unset = "result_format" in params and params["result_format"] is None
        p = {k: v for k, v in params.items() if v is not None}
        model = p.pop("model")
        messages = p.pop("messages")
        prompt = p.pop("prompt", None)  # the SDK's prompt= mode: input.prompt, not messages
        parameters: dict[str, Any] = {} if unset else {"result_format": "message"}
        parameters.update(p.pop("parameters", {}) or {})
        for k in list(p):
            if k in PARAMETERS:
                parameters[k] = p.pop(k)
        if stream:
            parameters.setdefault("incremental_output", True)
        given = {"prompt": prompt} if prompt is not None else {"messages": messages}
        body = {"model": model, "input": given, "parameters": parameters, **p}
        headers = {"Accept": "text/event-stream" if stream else "application/json",
                   **self.auth_headers()}
        if stream:
            headers["X-DashScope-SSE"] = "enable"
        return HTTPRequest("POST", f"{self.base_url}/services/aigc/text-generation/generation",
                           headers, body)

    def raise_for_body(self, data: Any, status: int = 200) -> None:
        if isinstance(data, dict) and data.get("code") and not data.get("output"):
            raise self.error_from(status if status >= 400 else 400, data, {})

    def parse_completion(self, data: Any) -> Completion:
        self.raise_for_body(data)
        out = data.get("output") or {}
        choices = []
        for i, c in enumerate(out.get("choices") or []):
            m = c.get("message") or {}
            tcs = m.get("tool_calls")
            choices.append(Choice(i, Message(m.get("role") or "assistant",
                                             as_text(m.get("content")),
                                             as_text(m.get("reasoning_content")),
                                             [ToolCall.from_dict(t) for t in tcs] if tcs
                                             else None), _finish(c.get("finish_reason"))))
        if not choices and "text" in out:
            choices.append(Choice(0, Message("assistant", out.get("text")),
                                  _finish(out.get("finish_reason"))))
        rid = data.get("request_id")
        return Completion(id=rid or "", model=data.get("model") or "", choices=choices,
                          usage=_usage(data.get("usage")), request_id=rid, provider=self.name,
                          raw=data)

    def parse_event(self, ev: Event):
        if not ev.data:
            return None
        data = self.event_json(ev.data)
        if ev.event == "error" or (data.get("code") and not data.get("output")):
            raise self.error_from(_status(ev, data), data, {})
        out = data.get("output") or {}
        choice = (out.get("choices") or [{}])[0]
        msg = choice.get("message") or {}
        text = as_text(msg.get("content") if msg else out.get("text"))
        finish = _finish(choice.get("finish_reason") if msg else out.get("finish_reason"))
        chunk = text_chunk(text or "", model=data.get("model") or "", id=data.get("request_id")
                           or "", finish_reason=finish, usage=_usage(data.get("usage")),
                           raw=data, reasoning=as_text(msg.get("reasoning_content")))
        return chunk

    def error_from(self, status: int, body: Any, headers: Any) -> errors.GLMError:
        if isinstance(body, dict) and "code" in body and "error" not in body:
            code = str(body.get("code"))
            cls = self.error_class(status, code)
            return cls(body.get("message") or code, provider=self.name, code=code,
                       status=status or None, request_id=body.get("request_id"))
        return super().error_from(status, body, headers)

    def error_class(self, status: int, code: str | None) -> type[errors.GLMError]:
        c = code or ""
        if c in ("InvalidApiKey", "Unauthorized"):
            return errors.AuthenticationError
        if c.startswith("Throttling"):
            return errors.RateLimitError
        if c in ("Arrearage",):
            return errors.QuotaExceededError
        if c == "DataInspectionFailed":
            return errors.ContentFilterError
        if c in ("InternalError", "ServiceUnavailable") or c.startswith("InternalError"):
            return errors.ServerError
        if c in ("ModelNotFound",):
            return errors.NotFoundError
        if c.startswith("Invalid") or c == "BadRequest":
            return errors.BadRequestError
        return super().error_class(status, code)


def _status(ev: Event, data: dict) -> int:
    code = str(data.get("code") or "")
    return 429 if code.startswith("Throttling") else 401 if code == "InvalidApiKey" else 400
