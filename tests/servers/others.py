"""Loopback servers for the other dialects: OpenAI-compatible, Qianfan v1, DashScope native
and legacy Zhipu v3 — each with its own auth, body shapes, stream framing and error bodies."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from glm_magic.testing.loopback import LoopbackServer, Received, Reply, sse
from glm_magic.testing.structured import structured_answer
from glm_magic.testing.vectors import fake_vector, openai_embeddings


def last_user(body: dict, key: str = "messages") -> str:
    msgs = body.get(key) or body.get("input", {}).get("messages") or [{}]
    return str(msgs[-1].get("content"))


def words(text: str) -> list[str]:
    parts = text.split(" ")
    return [w + (" " if i < len(parts) - 1 else "") for i, w in enumerate(parts)]


# --- OpenAI-compatible ---------------------------------------------------------------------------
class OpenAIServer(LoopbackServer):
    key = "sk-test-openai-0123456789abcdef"

    def __init__(self, *, usage_in_stream: bool = True, crlf: bool = False) -> None:
        self.usage_in_stream = usage_in_stream
        self.crlf = crlf
        super().__init__(self.answer)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def answer(self, rec: Received) -> Reply:
        if rec.headers.get("authorization") != f"Bearer {self.key}":
            return Reply(401, {"error": {"message": "Incorrect API key provided",
                                         "type": "invalid_request_error", "param": None,
                                         "code": "invalid_api_key"}})
        body = rec.json
        if rec.path.endswith("/embeddings"):
            return Reply(body=openai_embeddings(body))
        text = structured_answer(body) or f"echo: {last_user(body)}"
        model = body["model"]
        if not body.get("stream"):
            if "stream_options" in body:
                return Reply(400, {"error": {"message": "stream_options needs stream",
                                             "type": "BadRequestError", "code": 400}})
            return Reply(body={"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                               "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": text}}],
                               "usage": {"prompt_tokens": 9, "completion_tokens": 3,
                                         "total_tokens": 12}})
        chunks: list[Any] = [{"id": "c1", "object": "chat.completion.chunk", "model": model,
                              "choices": [{"index": 0, "delta": {"content": w},
                                           "finish_reason": None}]} for w in words(text)]
        chunks.append({"id": "c1", "model": model, "choices": [
            {"index": 0, "delta": {}, "finish_reason": "stop"}]})
        include = (body.get("stream_options") or {}).get("include_usage")
        if include and self.usage_in_stream:
            chunks.append({"id": "c1", "model": model, "choices": [],
                           "usage": {"prompt_tokens": 9, "completion_tokens": 3,
                                     "total_tokens": 12}})
        frames = sse(*chunks, crlf=self.crlf)
        frames.insert(1, b": ping\r\n\r\n" if self.crlf else b": ping\n\n")
        return Reply(events=frames)


# --- Qianfan v1 ------------------------------------------------------------------------------------
class QianfanServer(LoopbackServer):
    ak, sk = "qianfan-ak-0123456789", "qianfan-sk-abcdefghij"

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.valid: set[str] = set()
        super().__init__(self.answer)

    def issue_token(self) -> str:
        token = f"24.tok{uuid.uuid4().hex}"
        self.tokens.append(token)
        self.valid.add(token)
        return token

    def expire_tokens(self) -> None:
        self.valid.clear()

    def answer(self, rec: Received) -> Reply:
        if rec.path == "/oauth/2.0/token":
            q = {k: v[0] for k, v in rec.query.items()}
            if q.get("client_id") != self.ak or q.get("client_secret") != self.sk:
                return Reply(401, {"error": "invalid_client",
                                   "error_description": "unknown client id"})
            return Reply(body={"access_token": self.issue_token(), "expires_in": 2592000,
                               "scope": "public"})
        token = (rec.query.get("access_token") or [""])[0]
        if token not in self.valid:
            return Reply(200, {"error_code": 111, "error_msg": "Access token expired"})
        body = rec.json
        msgs = body.get("messages") or []
        text = f"echo: {msgs[-1]['content']}" + (f" [system: {body['system']}]"
                                                   if body.get("system") else "")
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        if not body.get("stream"):
            return Reply(body={"id": "as-1", "object": "chat.completion", "created": 1,
                               "result": text, "is_truncated": False,
                               "need_clear_history": False, "usage": usage})
        parts = words(text)
        frames = []
        for i, w in enumerate(parts):
            end = i == len(parts) - 1
            frames.append(("data: " + json.dumps({
                "id": "as-2", "object": "chat.completion", "created": 1, "sentence_id": i,
                "is_end": end, "is_truncated": False, "result": w,
                "need_clear_history": False, "usage": {**usage, "completion_tokens": i + 1}})
                + "\n\n").encode())
        return Reply(events=frames)


def qianfan_error(code: int, msg: str, status: int = 200) -> Reply:
    return Reply(status, {"error_code": code, "error_msg": msg})


# --- DashScope native ----------------------------------------------------------------------------
class DashScopeServer(LoopbackServer):
    key = "sk-dashscope-test-0123456789"

    def __init__(self) -> None:
        super().__init__(self.answer)

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/v1"

    def answer(self, rec: Received) -> Reply:
        if rec.headers.get("authorization") != f"Bearer {self.key}":
            return Reply(401, {"code": "InvalidApiKey", "message": "Invalid API-key provided.",
                               "request_id": "r-401"})
        body = rec.json
        rid = f"ds-{uuid.uuid4().hex[:8]}"
        if rec.path.endswith("/text-embedding/text-embedding"):
            texts = body["input"]["texts"]
            dims = (body.get("parameters") or {}).get("dimension") or 64
            return Reply(body={"request_id": rid, "output": {"embeddings": [
                {"text_index": i, "embedding": fake_vector(t, dims)}
                for i, t in reversed(list(enumerate(texts)))]},
                "usage": {"total_tokens": sum(len(t) for t in texts)}})
        text = f"echo: {last_user(body)}"
        if rec.headers.get("x-dashscope-sse") != "enable":
            return Reply(body={"request_id": rid, "output": {"choices": [
                {"finish_reason": "stop", "message": {"role": "assistant", "content": text}}]},
                "usage": {"input_tokens": 8, "output_tokens": 3, "total_tokens": 11}})
        parts = words(text)
        frames = []
        for i, w in enumerate(parts):
            end = i == len(parts) - 1
            data = {"output": {"choices": [{"message": {"content": w, "role": "assistant"},
                                            "finish_reason": "stop" if end else "null"}]},
                    "usage": {"input_tokens": 8, "output_tokens": i + 1,
                              "total_tokens": 9 + i}, "request_id": rid}
            frames.append(f"id:{i + 1}\nevent:result\n:HTTP_STATUS/200\ndata:"
                          f"{json.dumps(data)}\n\n".encode())
        return Reply(events=frames)


# --- Zhipu v3 ----------------------------------------------------------------------------------------
class ZhipuV3Server(LoopbackServer):
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        super().__init__(self.answer)

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/paas/v3/model-api"

    def check(self, rec: Received) -> bool:
        import jwt

        token = rec.headers.get("authorization", "")
        if token.startswith("Bearer "):
            return False
        kid, _, secret = self.api_key.partition(".")
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return False
        return claims["api_key"] == kid and claims["exp"] - claims["timestamp"] == 180_000

    def answer(self, rec: Received) -> Reply:
        if not self.check(rec):
            return Reply(200, {"code": 1002, "msg": "Authorization Token非法", "success": False})
        body = rec.json
        text = f"echo: {last_user(body, 'prompt')}\nline two"
        tid = f"{int(time.time() * 1000)}"
        usage = {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10}
        if rec.path.endswith("/invoke"):
            wrapped = json.dumps(" " + text)  # the real API's quoted, escaped content
            return Reply(body={"code": 200, "msg": "操作成功", "success": True, "data": {
                "request_id": tid, "task_id": tid, "task_status": "SUCCESS",
                "choices": [{"role": "assistant", "content": wrapped}], "usage": usage}})
        frames = []
        for w in words(text):
            data = "\n".join(f"data:{line}" for line in w.split("\n"))
            frames.append(f"event:add\nid:{tid}\n{data}\n\n".encode())
        meta = json.dumps({"request_id": tid, "task_id": tid, "task_status": "SUCCESS",
                           "usage": usage})
        frames.append(f"event:finish\nid:{tid}\ndata:\nmeta:{meta}\n\n".encode())
        return Reply(events=frames)
