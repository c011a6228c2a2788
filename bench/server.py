"""A fast loopback server for the benchmarks: raw ASGI under uvicorn, speaking the
Zhipu/OpenAI chat format. The model name picks the answer: `stream-N` streams N chunks,
`big-MB` streams MB megabytes; anything else answers a short completion."""

from __future__ import annotations

import json
import sys

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
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
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


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False, lifespan="off")
