"""The semantic operators' planners against the plain methods, on one in-process loopback
server that answers from a hidden truth table and bills like a provider with a prefix cache
(a prompt sharing 1,024 or more leading tokens with an earlier one has that prefix reported
as `cached_tokens`, in steps of 128)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path

from glm_magic.testing import API_KEY, FakeGLM
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import completion_body

BLOCK = 512  # characters (128 tokens at four a token) a cached prefix grows by


def _server():
    fake = FakeGLM()
    echo, seen = fake.app, set()

    def billed(text: str) -> int:
        cached = 0
        for end in range(BLOCK, len(text) + 1, BLOCK):
            h = hashlib.blake2b(text[:end].encode(), digest_size=12).digest()
            if h in seen:
                cached = end
            seen.add(h)
        return cached // 4 if cached >= 4096 else 0

    def app(rec):
        if not rec.path.endswith("/chat/completions"):
            return echo(rec)
        body = rec.json
        msgs = body["messages"]
        system, user = msgs[0]["content"], msgs[-1]["content"]
        text = "".join(m["content"] for m in msgs)
        if "Score the item" in system:
            answer = {"score": int(re.search(r"value (\d+)", user)[1]) // 10}
        elif "A or B" in system:
            a, b = re.findall(r"value (\d+)", user)
            answer = {"better": "A" if int(a) >= int(b) else "B"}
        elif "true of the pair" in system:
            left = re.search(r"left review: .*?product (\w+)", user)
            right = re.search(r"right name: (\w+)", user)
            answer = {"verdict": bool(left and right and left[1] == right[1])}
        elif "label" in text:
            answer = {"label": "spam" if "offer" in user else "ham"}
        else:
            return echo(rec)
        reply = completion_body(json.dumps(answer), body.get("model", "glm-4-plus"))
        prompt = len(text) // 4
        reply["usage"] = {"prompt_tokens": prompt, "completion_tokens": 8,
                          "total_tokens": prompt + 8,
                          "prompt_tokens_details": {"cached_tokens": billed(text)}}
        return Reply(body=reply)

    fake.app = app
    return fake


def _billed(rows) -> int:
    cached = rows["cached_tokens"].fillna(0).astype(int)
    return int((rows["prompt_tokens"] - cached + rows["completion_tokens"]).sum())


def run(results: dict, rows: int = 10_000) -> None:
    import pandas as pd

    import glm_magic

    fake = _server()
    os.environ["ZHIPUAI_API_KEY"] = API_KEY
    os.environ["ZHIPUAI_BASE_URL"] = fake.base_url
    os.environ["GLM_MAGIC_LEDGER"] = str(Path(tempfile.mkdtemp()) / "semantic.sqlite")
    guide = " ".join(f"Guideline {i}: judge the message by its intent, not its words."
                     for i in range(70))  # about 1,000 tokens of shared instruction
    distinct = int(rows * 0.6)
    texts = [f"message {i % distinct}: " + ("special offer inside" if i % 7 == 0 else
                                             "see you at lunch") for i in range(rows)]
    df = pd.DataFrame({"text": texts})
    start = len(glm_magic.usage())
    glm_magic.batch(df, template="Is this message spam? {text}\n" + guide + "\nAnswer with "
                    "the label.", schema={"label": ["spam", "ham"]}, model="glm-4-plus",
                    concurrency=32, progress=False)
    naive = glm_magic.usage().iloc[start:]
    start = len(glm_magic.usage())
    df.glm.classify("whether {text} is spam. " + guide, labels=["spam", "ham"],
                    model="glm-4-plus", concurrency=32)
    ours = glm_magic.usage().iloc[start:]
    results[f"tokens billed, {rows:,}-row classify, 40 % duplicates, 1,000-token instruction"] = {
        "batch": _billed(naive), "glm_magic": _billed(ours)}

    # join: 300 reviews x 300 products, each review about one product
    names = [f"p{i:03d}x" for i in range(300)]
    left = pd.DataFrame({"review": [f"I bought product {names[(i * 7) % 300]} and it "
                                    "works" for i in range(300)]})
    right = pd.DataFrame({"name": names})
    truth = {(i, (i * 7) % 300) for i in range(300)}
    fake.received.clear()
    pairs = left.glm.join(right, "{review:left} is about {name:right}", prefilter=5,
                          concurrency=32)
    calls = sum(r.path.endswith("/chat/completions") for r in fake.received)
    index = {n: j for j, n in enumerate(names)}
    found = {(left.index[left["review"] == r][0], index[n]) for r, n in
             zip(pairs["review"], pairs["name"], strict=True)}
    results["300 x 300 join with prefilter=5: calls (share of the nested loop)"] = {
        "nested": 1.0, "glm_magic": calls / 90_000}
    results["300 x 300 join with prefilter=5: pairs found (share of the nested loop's)"] = {
        "glm_magic": len(found & truth) / len(truth), "higher_is_better": True}

    # topk(10) over 1,000 rows: scores 0-9 (many ties), ties settled by comparison
    values = [(i * 7919) % 1000 for i in range(1000)]
    table = pd.DataFrame({"item": [f"value {v}" for v in values]})
    fake.received.clear()
    top = table.glm.topk(10, "{item} is large", concurrency=32)
    calls = sum(r.path.endswith("/chat/completions") for r in fake.received)
    best = sorted(range(1000), key=lambda i: -values[i])[:10]
    results["topk(10) over 1,000 rows: calls (x rows)"] = {"glm_magic": calls / 1000}
    results["topk(10) over 1,000 rows: same top 10 as the model's own order"] = {
        "glm_magic": float(list(top.index) == best), "higher_is_better": True}

    # client CPU per row: map vs batch over the same 2,000 distinct rows
    items = pd.DataFrame({"text": [f"row {i}" for i in range(2000)]})
    t = time.process_time()
    glm_magic.batch(items, template="{text}", concurrency=32, progress=False)
    plain = (time.process_time() - t) / 2000 * 1e6
    t = time.process_time()
    items.glm.map("Answer {text}", concurrency=32)
    mapped = (time.process_time() - t) / 2000 * 1e6
    results["df.glm.map, process CPU per row (µs)"] = {"batch": plain, "glm_magic": mapped}
    fake.close()
