"""A loopback server that speaks Zhipu v4: completions, SSE streams with
usage on the last chunk, JWT checking, and the error body `{"error": {"code", "message"}}`."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt

from .batches import BatchAPI
from .loopback import LoopbackServer, Received, Reply, sse
from .structured import structured_answer
from .vectors import openai_embeddings
from .zhipu_tools import FileParserAPI, mcp_steps, search_agent_reply

API_KEY = "0123456789abcdef0123456789abcdef.TESTSECRETvalue12"


def zhipu_error(code: str, message: str, status: int, **headers: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, headers=dict(headers))


def completion_body(text: str, model: str, *, prompt_tokens: int = 11,
                    finish_reason: str = "stop", **extra: Any) -> dict[str, Any]:
    rid = f"req-{uuid.uuid4().hex[:10]}"
    return {"id": rid, "request_id": rid, "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": text, **extra}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                      "total_tokens": prompt_tokens + len(text.split())}}


def stream_frames(text: str, model: str, *, pieces: int | None = None, done: bool = True,
                  finish_reason: str = "stop", usage: bool = True, crlf: bool = False,
                  tool_calls: list[dict[str, Any]] | None = None):
    words = text.split(" ")
    parts = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
    if pieces:
        parts = parts[:pieces]
    rid = f"req-{uuid.uuid4().hex[:10]}"
    chunks: list[Any] = [{"id": rid, "created": 1, "model": model,
                          "choices": [{"index": 0, "delta": {"role": "assistant",
                                                             "content": p}}]} for p in parts]
    if tool_calls:  # server-side tool steps come before the answer
        chunks.insert(0, {"id": rid, "created": 1, "model": model, "choices": [
            {"index": 0, "delta": {"role": "assistant", "tool_calls": tool_calls}}]})
    if finish_reason is not None and pieces is None:
        last: dict[str, Any] = {"id": rid, "created": 1, "model": model,
                                "choices": [{"index": 0, "finish_reason": finish_reason,
                                             "delta": {"role": "assistant", "content": ""}}]}
        if usage:
            last["usage"] = {"prompt_tokens": 11, "completion_tokens": len(parts),
                             "total_tokens": 11 + len(parts)}
        chunks.append(last)
    return sse(*chunks, done=done, crlf=crlf)


# a 1×1 PNG
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4f70000"
                    "000049454e44ae426082")


class ZhipuServer(BatchAPI, FileParserAPI, LoopbackServer):
    """Default behaviour: answer 'echo: <last user text>'; check the key (or JWT). The Batch
    API (files, batches) is there too: see `testing/batches.py`; the search agent and the file
    parser: `testing/zhipu_tools.py`."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.tasks: dict[str, dict[str, Any]] = {}
        self.embedded: list[Any] = []  # the input of every embeddings request
        self.cached_tokens = 0  # report this many prompt tokens as served from the cache
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.parser_tasks: dict[str, dict[str, Any]] = {}
        super().__init__(self.answer)

    @staticmethod
    def count_tokens(messages: list[dict[str, Any]]) -> int:
        """The fake tokenizer: a token per CJK character, per other word, and 3 per message."""
        import re

        total = 0
        for m in messages:
            text = m.get("content")
            if isinstance(text, list):
                text = " ".join(p.get("text", "") for p in text if isinstance(p, dict))
            text = str(text or "")
            cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
            total += 3 + cjk + len(re.sub(r"[\u4e00-\u9fff]", " ", text).split())
        return total

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/paas/v4"

    def check_auth(self, rec: Received) -> Reply | None:
        auth = rec.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return zhipu_error("1001", "Authorization header missing", 401)
        token = auth[7:]
        if token == self.api_key:
            return None
        kid, _, secret = self.api_key.partition(".")
        try:
            head = jwt.get_unverified_header(token)
            claims = jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return zhipu_error("1002", "invalid token", 401)
        now_ms = time.time() * 1000
        if (head.get("sign_type") != "SIGN" or claims.get("api_key") != kid
                or not claims["timestamp"] <= now_ms + 5000 < claims["exp"] + 5000
                or claims["exp"] - claims["timestamp"] != 210_000):
            return zhipu_error("1004", "token check failed", 401)
        return None

    def reset(self) -> None:
        super().reset()
        self.embedded.clear()
        self.files.clear()
        self.batches.clear()
        self.parser_tasks.clear()
        self.batch_outcome = "completed"

    @staticmethod
    def batch_line(request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """One Batch API output line for one input line: an echo, or an error for a prompt
        that says 'fail'. (line, ok)."""
        body = request.get("body") or {}
        last = (body.get("messages") or [{}])[-1].get("content")
        rid = f"req-{uuid.uuid4().hex[:10]}"
        if "fail" in str(last):
            return {"id": f"batch_req_{rid}", "custom_id": request.get("custom_id"),
                    "response": {"status_code": 400, "request_id": rid, "body": {
                        "error": {"code": "1301", "message": "the prompt asked to fail"}}},
                    "error": None}, False
        answer = completion_body(f"echo: {last}", body.get("model", "glm-4-flash"))
        return {"id": f"batch_req_{rid}", "custom_id": request.get("custom_id"),
                "response": {"status_code": 200, "request_id": rid, "body": answer},
                "error": None}, True

    def answer(self, rec: Received) -> Reply:
        if rec.path.startswith("/files/"):  # generated images: public URLs, no auth
            return Reply(body=PNG, content_type="image/png")
        denied = self.check_auth(rec)
        if denied is not None:
            return denied
        parsed = self.parser_reply(rec)
        if parsed is not None:
            return parsed
        batch = self.batch_reply(rec, self.batch_line)
        if batch is not None:
            return batch
        if rec.path.endswith("/async/chat/completions"):
            return self.submit(rec.json)
        if "/async-result/" in rec.path:
            return self.poll(rec.path.rsplit("/", 1)[-1])
        if rec.path.endswith("/embeddings"):
            body = rec.json or {}
            texts = body.get("input")
            if not texts or (isinstance(texts, list) and (len(texts) > 64 or not all(
                    isinstance(t, str) and t for t in texts))):
                return zhipu_error("1214", "input must hold 1 to 64 non-empty strings", 400)
            self.embedded.append(texts)
            return Reply(body=openai_embeddings(body))
        if rec.path.endswith("/tokenizer"):
            body = rec.json or {}
            if not isinstance(body.get("messages"), list) or not body["messages"]:
                return zhipu_error("1214", "messages must be a non-empty list", 400)
            rid = f"tok-{uuid.uuid4().hex[:8]}"
            return Reply(body={"id": rid, "request_id": rid, "created": int(time.time()),
                               "usage": {"prompt_tokens": self.count_tokens(body["messages"])}})
        tool = self.tool_reply(rec)
        if tool is not None:
            return tool
        if rec.path.endswith("/images/generations"):
            body = rec.json
            n = body.get("n") or 1
            return Reply(body={"created": 1, "data": [
                {"url": f"{self.url}/files/img{i}.png"} for i in range(n)]})
        body = rec.json or {}
        msgs = body.get("messages") or [{}]
        last = msgs[-1].get("content")
        if isinstance(last, list):
            last = " ".join(p.get("text", "") for p in last if isinstance(p, dict))
        text = structured_answer(body) or f"echo: {last}"
        model = body.get("model", "glm-4-flash")
        thinking = (body.get("thinking") or {}).get("type") == "enabled"
        steps = mcp_steps(body, str(last))
        if body.get("stream"):
            return Reply(events=stream_frames(text, model, tool_calls=steps))
        extra: dict[str, Any] = {"reasoning_content": f"thinking about {last}"} if thinking else {}
        if steps:
            extra["tool_calls"] = steps
        answer = completion_body(text, model, **extra)
        usage = answer["usage"]
        if self.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if thinking:
            usage["completion_tokens_details"] = {"reasoning_tokens": 3}
            usage["completion_tokens"] += 3
            usage["total_tokens"] += 3
        return Reply(body=answer)

    def tool_reply(self, rec: Received) -> Reply | None:
        """The tool APIs: web search (results made from the query), the reader (a page made
        from the URL) and moderation (anything saying 'unsafe' is high risk)."""
        body = rec.json or {}
        rid = f"req-{uuid.uuid4().hex[:8]}"
        if rec.path.endswith("/web_search"):
            query = str(body.get("search_query") or "")
            if not query or not body.get("search_engine"):
                return zhipu_error("1214", "search_query and search_engine are required", 400)
            n = int(body.get("count") or 3)
            return Reply(body={"id": rid, "request_id": rid, "created": int(time.time()),
                               "search_intent": [{"query": query, "intent": "SEARCH_ALL",
                                                  "keywords": query}],
                               "search_result": [{
                                   "title": f"{query} — result {i + 1}",
                                   "link": f"https://example.com/search/{i + 1}",
                                   "content": f"What page {i + 1} says about {query}.",
                                   "icon": "", "media": "example.com", "refer": f"ref_{i + 1}",
                                   "publish_date": "2026-11-30"} for i in range(n)]})
        if rec.path.endswith("/tools"):
            return search_agent_reply(rec)
        if rec.path.endswith("/reader"):
            url = str(body.get("url") or "")
            if not url.startswith(("http://", "https://")):
                return zhipu_error("1214", "url must be an http(s) URL", 400)
            return Reply(body={"id": rid, "request_id": rid, "created": int(time.time()),
                               "reader_result": {
                                   "url": url, "title": f"The page at {url}",
                                   "description": "A page the loopback server made up.",
                                   "content": f"# The page at {url}\n\nIts text.",
                                   "metadata": {}, "external": {}}})
        if rec.path.endswith("/videos/generations"):
            if not body.get("prompt") and not body.get("image_url"):
                return zhipu_error("1214", "prompt or image_url is required", 400)
            tid = f"task-{uuid.uuid4().hex[:8]}"
            self.tasks[tid] = {"body": body, "polls": 0, "fail": "fail" in str(
                body.get("prompt")), "video": True}
            return Reply(body={"id": tid, "request_id": rid, "model": body.get("model"),
                               "task_status": "PROCESSING"})
        if rec.path.endswith("/moderations"):
            text = json.dumps(body.get("input"), ensure_ascii=False)
            risky = "unsafe" in text
            return Reply(body={"id": rid, "request_id": rid, "created": int(time.time()),
                               "result_list": [{"content_type": "text",
                                                "risk_level": "high" if risky else "none",
                                                "risk_type": ["violence"] if risky else []}],
                               "usage": {"moderation_text": {"call_count": 1}}})
        return None

    def submit(self, body: dict[str, Any]) -> Reply:
        """Async tasks: PROCESSING for `polls_needed` polls, then SUCCESS (or FAIL on 'fail')."""
        tid = f"task-{uuid.uuid4().hex[:8]}"
        last = body["messages"][-1]["content"]
        self.tasks[tid] = {"body": body, "polls": 0, "fail": "fail" in str(last)}
        return Reply(body={"id": tid, "request_id": tid, "model": body["model"],
                           "task_status": "PROCESSING"})

    def poll(self, tid: str) -> Reply:
        task = self.tasks.get(tid)
        if task is None:
            return zhipu_error("1214", f"task {tid} does not exist", 400)
        task["polls"] += 1
        if task["polls"] < 3:
            return Reply(body={"id": tid, "task_status": "PROCESSING", "model": "glm-4"})
        if task["fail"]:
            return Reply(body={"id": tid, "task_status": "FAIL", "model": "glm-4"})
        if task.get("video"):
            return Reply(body={"id": tid, "request_id": tid, "model": task["body"]["model"],
                               "task_status": "SUCCESS", "video_result": [{
                                   "url": f"{self.url}/files/{tid}.mp4",
                                   "cover_image_url": f"{self.url}/files/{tid}.png"}]})
        text = f"async echo: {task['body']['messages'][-1]['content']}"
        return Reply(body={**completion_body(text, task["body"]["model"]), "id": tid,
                           "task_status": "SUCCESS"})
