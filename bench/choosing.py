"""Choosing a model: a cascade's guarantee and savings over seeded runs, and `evaluate()`'s
overhead over the batches it runs, on one in-process loopback server speaking the OpenAI wire
format with log-probabilities.

The "strong" model answers from a truth table. The "cheap" one is right on 80 % of rows; its
answer probability is drawn per row and run from overlapping ranges (right: 0.6–1.0, wrong:
0.3–0.7), so no threshold separates right from wrong exactly and the calibration has to trade
agreement against the rows it keeps. With these ranges the best threshold that keeps the
wrong answers under 5 % of rows leaves about a quarter of the rows to the strong model; wider
overlap raises that share, and the guarantee holds either way."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from pathlib import Path

from glm_magic.testing.dialects import OpenAIServer, labelled_reply

LABELS = ["spam", "ham"]
RIGHT_SHARE = 0.8


def _uniform(*parts: object) -> float:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def truth(i: int) -> str:
    return LABELS[i % 2]


def _server() -> OpenAIServer:
    server = OpenAIServer()

    def app(rec):
        body = rec.json
        user = body["messages"][-1]["content"]
        run, i = map(int, re.search(r"run (\d+) message #(\d+)", user).groups())
        label, p = truth(i), 0.99
        if body["model"] == "cheap":
            right = _uniform("right", run, i) < RIGHT_SHARE
            v = _uniform("p", run, i)
            label = truth(i) if right else LABELS[(i + 1) % 2]
            p = 0.6 + 0.4 * v if right else 0.3 + 0.4 * v
        return labelled_reply(body, label, p)

    server.app = app
    return server


def run(results: dict, rows: int = 5_000, runs: int = 20, agreement: float = 0.95) -> None:
    import pandas as pd

    import glm_magic

    server = _server()
    os.environ["OPENAI_API_KEY"] = server.key
    os.environ["OPENAI_BASE_URL"] = server.base_url
    os.environ["GLM_MAGIC_LEDGER"] = str(Path(tempfile.mkdtemp()) / "choosing.sqlite")
    glm_magic.session().reset_clients()
    glm_magic.pricing.set_price("cheap", provider="openai", input=0.1, output=0.1,
                                currency="CNY")
    glm_magic.pricing.set_price("medium", provider="openai", input=1, output=1, currency="CNY")
    glm_magic.pricing.set_price("strong", provider="openai", input=5, output=5, currency="CNY")
    expected = [truth(i) for i in range(rows)]
    met, strong_shares, agreements = 0, [], []
    for seed in range(runs):
        df = pd.DataFrame({"text": [f"run {seed} message #{i}" for i in range(rows)]})
        out = glm_magic.batch(df, schema={"label": LABELS}, cascade=("openai:cheap",
                              "openai:strong"), agreement=agreement, seed=seed,
                              concurrency=32, progress=False, summary=False)
        share = float((out["label"].astype(str) == expected).mean())
        agreements.append(share)
        met += share >= agreement
        strong_shares.append(float((out["model"] == "openai:strong").mean()))
    strong_shares.sort()
    results[f"cascade over {rows:,} rows: runs agreeing ≥ {agreement} with the strong model "
            f"(of {runs})"] = {"glm_magic": met, "higher_is_better": True}
    results[f"cascade over {rows:,} rows: share the strong model answers (median of "
            f"{runs})"] = {"glm_magic": strong_shares[len(strong_shares) // 2]}

    # evaluate() over 3 models x 1,000 rows against the three batches alone
    table = pd.DataFrame({"text": [f"run 99 message #{i}" for i in range(1000)],
                          "label": [truth(i) for i in range(1000)]})
    models = ["openai:cheap", "openai:strong", "openai:medium"]
    alone, together = [], []
    for _ in range(3):
        t = time.perf_counter()
        for m in models:
            glm_magic.batch(table, template="{text}", model=m, schema={"label": LABELS},
                            concurrency=8, progress=False)
        alone.append(time.perf_counter() - t)
        t = time.perf_counter()
        glm_magic.evaluate(table, template="{text}", truth="label", models=models,
                           schema={"label": LABELS}, concurrency=8)
        together.append(time.perf_counter() - t)
    alone.sort()
    together.sort()
    results["evaluate() over 3 models x 1,000 rows, wall (s)"] = {
        "batch": alone[1], "glm_magic": together[1]}
    server.close()
