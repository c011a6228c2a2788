"""A fast loopback server for the benchmarks: raw ASGI under uvicorn, speaking the
Zhipu/OpenAI chat format. The model name picks the answer: `stream-N` streams N chunks,
`big-MB` streams MB megabytes; `md-BYTES` streams a Markdown report of BYTES bytes in 4-byte
pieces at MD_RATE bytes a second; anything else answers a short completion."""

from __future__ import annotations

import json
import sys
from pathlib import Path

COMPLETION = json.dumps({
    "id": "bench-1", "request_id": "bench-1", "created": 1, "model": "glm-4-flash",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello from the bench server."}}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}}).encode()


def chunk(text: str) -> bytes:
    return b"data: " + json.dumps({"id": "b", "created": 1, "model": "m", "choices": [
        {"index": 0, "delta": {"role": "assistant", "content": text}}]}).encode() + b"\n\n"


LAST = (b"data: " + json.dumps({"id": "b", "created": 1, "model": "m", "choices": [
    {"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {
    "prompt_tokens": 9, "completion_tokens": 2000, "total_tokens": 2009}}).encode()
    + b"\n\ndata: [DONE]\n\n")
STRUCTURED = json.dumps({
    "id": "bench-2", "request_id": "bench-2", "created": 1, "model": "glm-4-flash",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": json.dumps({"label": "positive", "score": 0.75,
                                                    "tags": ["fast", "cheap"], "spam": False})}}],
    "usage": {"prompt_tokens": 60, "completion_tokens": 20, "total_tokens": 80}}).encode()
CHUNKS = [chunk(f"t{i} ") for i in range(10_000)]
VECTOR = [round(0.001 * i, 3) for i in range(256)]  # distinct: litellm rejects repeats


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    first = scope["path"].strip("/").split("/", 1)[0]
    if first == "stats":
        return await stats(send, scope["path"].rstrip("/").rsplit("/", 1)[-1])
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    if first in ("limited", "halving"):
        return await limited(scope, send, first)
    req = json.loads(body or b"{}")
    model = str(req.get("model", ""))
    if scope["path"].endswith("/embeddings"):
        texts = req.get("input") or []
        answer = json.dumps({"object": "list", "model": model, "data": [
            {"object": "embedding", "index": i, "embedding": VECTOR} for i in range(len(texts))],
            "usage": {"prompt_tokens": 4 * len(texts), "total_tokens": 4 * len(texts)}}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})
        return
    if not req.get("stream"):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        answer = STRUCTURED if req.get("response_format") else COMPLETION
        await send({"type": "http.response.body", "body": answer})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    if model.startswith("md-"):
        await markdown_report(send, int(model[3:]))
        return
    if model.startswith("big-"):
        piece = chunk("x" * 65_536)
        for _ in range(int(float(model[4:]) * 16)):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
    else:
        n = min(int(model[7:]) if model.startswith("stream-") else 20, len(CHUNKS))
        for i in range(0, n, 50):
            await send({"type": "http.response.body", "body": b"".join(CHUNKS[i:min(i + 50, n)]),
                        "more_body": True})
    await send({"type": "http.response.body", "body": LAST})


# --- a long Markdown answer in 4-byte pieces, for the browser benchmark ---------------------------
MD_RATE = 50_000  # bytes a second: 100× a fast model, so that rendering is what is measured
MD_TICK = 0.01


async def markdown_report(send, size: int) -> None:
    import asyncio
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support
    from tests.support.answers import long_markdown, pieces

    frames = [chunk(p) for p in pieces(long_markdown(size))]
    per_tick = max(1, int(MD_RATE * MD_TICK / 4))
    start = time.monotonic()
    for i in range(0, len(frames), per_tick):
        await send({"type": "http.response.body", "body": b"".join(frames[i:i + per_tick]),
                    "more_body": True})
        ahead = start + (i + per_tick) * 4 / MD_RATE - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)
    await send({"type": "http.response.body", "body": LAST})


# --- a rate-limited route for the goodput benchmark ----------------------------------------------
# `/limited/...`: at most 16 requests in flight and 200 per second (a token bucket); beyond that
# HTTP 429 with Zhipu's code 1302 and a Retry-After of when a slot frees. `/halving/...` is the
# same, with both caps halved after HALVE_AFTER_S seconds. Each answer takes LATENCY_S.
LATENCY_S = 0.04
HALVE_AFTER_S = 12.0
LIMITED = {}


class Limit:
    def __init__(self, inflight: int, rate: float, halving: bool) -> None:
        import time

        self.inflight, self.rate, self.halving = inflight, rate, halving
        self.active = 0
        self.tokens = rate / 20
        self.stamp = self.started = time.monotonic()
        self.ok = self.refused = 0
        self.done: list[float] = []  # when each answer was sent (monotonic)

    def caps(self, now: float) -> tuple[int, float]:
        if self.halving and now - self.started >= HALVE_AFTER_S:
            return max(1, self.inflight // 2), self.rate / 2
        return self.inflight, self.rate

    def admit(self, now: float) -> float | None:
        """None when admitted, else the seconds to wait."""
        inflight, rate = self.caps(now)
        self.tokens = min(rate / 20, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.active >= inflight:
            return LATENCY_S / 2
        if self.tokens < 1:
            return (1 - self.tokens) / rate
        self.tokens -= 1
        self.active += 1
        return None


REFUSED = json.dumps({"error": {"code": "1302", "message": "您当前使用该API的并发数过高"}}).encode()


async def limited(scope, send, prefix: str) -> None:
    import asyncio
    import time

    lim = LIMITED.get(prefix)
    if lim is None:
        lim = LIMITED[prefix] = Limit(16, 200.0, prefix == "halving")
    wait = lim.admit(time.monotonic())
    if wait is not None:
        lim.refused += 1
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"application/json"), (b"retry-after", f"{wait:.3f}".encode())]})
        await send({"type": "http.response.body", "body": REFUSED})
        return
    try:
        await asyncio.sleep(LATENCY_S)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": COMPLETION})
        lim.ok += 1
        lim.done.append(time.monotonic())
    finally:
        lim.active -= 1


async def stats(send, prefix: str) -> None:
    lim = LIMITED.pop(prefix, None)
    body = {"ok": 0, "refused": 0, "done": [], "started": 0.0}
    if lim is not None:
        body = {"ok": lim.ok, "refused": lim.refused, "started": lim.started,
                "done": [t - lim.started for t in lim.done]}
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False, lifespan="off")
