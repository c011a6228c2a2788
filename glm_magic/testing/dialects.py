"""Loopback servers for the other dialects: OpenAI-compatible, Qianfan v1 (app-key tokens and
IAM-signed requests), DashScope native and legacy Zhipu v3 — each with its own auth, body
shapes, stream framing and error bodies. Tests and the tutorials run against them offline."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
import warnings
from typing import Any
from urllib.parse import quote

from .loopback import LoopbackServer, Received, Reply, sse
from .structured import structured_answer
from .vectors import fake_vector, openai_embeddings


def last_user(body: dict, key: str = "messages") -> str:
    given = body.get("input") or {}
    if "prompt" in given:
        return str(given["prompt"])
    msgs = body.get(key) or given.get("messages") or [{}]
    return str(msgs[-1].get("content"))


def words(text: str) -> list[str]:
    parts = text.split(" ")
    return [w + (" " if i < len(parts) - 1 else "") for i, w in enumerate(parts)]


# --- OpenAI-compatible ---------------------------------------------------------------------------
def labelled_reply(body: dict[str, Any], label: str, probability: float) -> Reply:
    """An OpenAI-shaped answer `{"label": label}` whose label token has `probability` (in
    `logprobs` when the request asked for them): the graded models behind the cascade tests
    and bench."""
    import math

    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": json.dumps({"label": label})}}
    if body.get("logprobs"):
        choice["logprobs"] = {"content": [{"token": label, "logprob": math.log(probability)}]}
    return Reply(body={"id": "x", "object": "chat.completion", "created": 1,
                       "model": body["model"], "choices": [choice],
                       "usage": {"prompt_tokens": 20, "completion_tokens": 5,
                                 "total_tokens": 25}})


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
    iam_ak, iam_sk = "iam-access-key-0123456789", "iam-secret-key-abcdefghij"

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.valid: set[str] = set()
        self.signed = 0  # requests that passed the IAM signature check
        super().__init__(self.answer)

    def signature_ok(self, rec: Received) -> bool:
        """Check a bce-auth-v1 signature the way Baidu's gateway does, from what arrived."""
        try:
            _, ak, date, expires, names, signature = rec.headers["authorization"].split("/")
        except (KeyError, ValueError):
            return False
        if ak != self.iam_ak or rec.headers.get("x-bce-date") != date:
            return False
        enc = lambda v, safe="-_.~": quote(v, safe=safe)  # noqa: E731
        query = "&".join(sorted(f"{enc(k)}={enc(v[0])}" for k, v in rec.query.items()))
        heads = "\n".join(sorted(f"{enc(n)}:{enc(rec.headers.get(n, '').strip())}"
                                 for n in names.split(";")))
        canonical = "\n".join([rec.method, enc(rec.path, "/-_.~"), query, heads])
        prefix = f"bce-auth-v1/{ak}/{date}/{expires}"
        key = hmac.new(self.iam_sk.encode(), prefix.encode(), hashlib.sha256).hexdigest()
        want = hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, signature) and "host" in names.split(";")

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
        if rec.headers.get("authorization", "").startswith("bce-auth-v1/"):
            if not self.signature_ok(rec):
                return Reply(401, {"error_code": 14, "error_msg": "IAM Certification failed"})
            self.signed += 1
        elif (rec.query.get("access_token") or [""])[0] not in self.valid:
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
        params = body.get("parameters") or {}
        as_text = params.get("result_format", "text") == "text"  # the service's default

        def output(piece: str, finish: str) -> dict[str, Any]:
            if as_text:
                return {"text": piece, "finish_reason": finish}
            return {"choices": [{"message": {"content": piece, "role": "assistant"},
                                 "finish_reason": finish}]}

        if rec.headers.get("x-dashscope-sse") != "enable":
            return Reply(body={"request_id": rid, "output": output(text, "stop"),
                               "usage": {"input_tokens": 8, "output_tokens": 3,
                                         "total_tokens": 11}})
        parts = words(text)
        frames = []
        for i, w in enumerate(parts):
            end = i == len(parts) - 1
            piece = w if params.get("incremental_output") else "".join(parts[:i + 1])
            data = {"output": output(piece, "stop" if end else "null"),
                    "usage": {"input_tokens": 8, "output_tokens": i + 1,
                              "total_tokens": 9 + i}, "request_id": rid}
            frames.append(f"id:{i + 1}\nevent:result\n:HTTP_STATUS/200\ndata:"
                          f"{json.dumps(data)}\n\n".encode())
        return Reply(events=frames)


# --- Zhipu v3 ----------------------------------------------------------------------------------------
class ZhipuV3Server(LoopbackServer):
    """`invoke`, `async-invoke` (+ the `-/async-invoke/{id}` query, PROCESSING for the first
    `polls` queries) and `sse-invoke`, whose stream ends with `finish`, or with an `error` or
    `interrupted` event when `stream_end` says so."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.stream_end = "finish"
        self.polls = 1
        self.tasks: dict[str, dict[str, Any]] = {}
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
            with warnings.catch_warnings():  # the test key is short on purpose
                warnings.simplefilter("ignore")
                claims = jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return False
        return claims["api_key"] == kid and claims["exp"] - claims["timestamp"] == 180_000

    def answer(self, rec: Received) -> Reply:
        if not self.check(rec):
            return Reply(200, {"code": 1002, "msg": "Authorization Token非法", "success": False})
        tid = f"{int(time.time() * 1000)}{uuid.uuid4().int % 10**6:06d}"
        if "/-/async-invoke/" in rec.path:
            return self.task(rec.path.rsplit("/", 1)[1])
        body = rec.json
        text = f"echo: {last_user(body, 'prompt')}\nline two"
        usage = {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10}
        answer = {"request_id": tid, "task_id": tid, "task_status": "SUCCESS",
                  # the real API's quoted, escaped content
                  "choices": [{"role": "assistant", "content": json.dumps(" " + text,
                                                                          ensure_ascii=False)}],
                  "usage": {"total_tokens": usage["total_tokens"]}}
        if rec.path.endswith("/async-invoke"):
            self.tasks[tid] = {"answer": answer, "polls": self.polls}
            return Reply(body={"code": 200, "msg": "操作成功", "success": True, "data": {
                "request_id": tid, "task_id": tid, "task_status": "PROCESSING"}})
        if rec.path.endswith("/invoke"):
            return Reply(body={"code": 200, "msg": "操作成功", "success": True, "data": answer})
        frames = []
        for w in words(text):
            data = "\n".join(f"data:{line}" for line in w.split("\n"))
            frames.append(f"event:add\nid:{tid}\n{data}\n\n".encode())
        if self.stream_end == "error":
            frames.append(f"event:error\nid:{tid}\ndata:服务内部错误\n\n".encode())
        elif self.stream_end == "interrupted":
            frames.append(f"event:interrupted\nid:{tid}\ndata:输出包含敏感内容\n\n".encode())
        else:
            meta = json.dumps({"request_id": tid, "task_id": tid, "task_status": "SUCCESS",
                               "usage": usage})
            frames.append(f"event:finish\nid:{tid}\ndata:\nmeta:{meta}\n\n".encode())
        return Reply(events=frames)

    def task(self, task_id: str) -> Reply:
        task = self.tasks.get(task_id)
        if task is None:
            return Reply(body={"code": 1001, "msg": f"任务不存在: {task_id}", "success": False})
        if task["polls"] > 0:
            task["polls"] -= 1
            return Reply(body={"code": 200, "msg": "操作成功", "success": True, "data": {
                "request_id": task_id, "task_id": task_id, "task_status": "PROCESSING"}})
        return Reply(body={"code": 200, "msg": "操作成功", "success": True,
                           "data": task["answer"]})
