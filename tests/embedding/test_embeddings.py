"""Embeddings: the SDK-shaped resource on every provider, `embed()` packing, caching, pricing,
NaN rows, limits and rate limits against loopback servers, and the local model end to end."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pandas as pd
import pytest

import glm_magic
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import zhipu_error


def test_the_client_resource_has_the_sdk_shape(zhipu):
    resp = glm_magic.Client("zhipu").embeddings.create(model="embedding-3",
                                                       input=["a cat", "a dog"], dimensions=8)
    assert len(resp.data) == 2 and len(resp.data[0].embedding) == 8
    assert resp.data[1].index == 1 and resp.usage.prompt_tokens > 0
    sent = zhipu.received[-1]
    assert sent.path.endswith("/embeddings")
    assert sent.json == {"model": "embedding-3", "input": ["a cat", "a dog"], "dimensions": 8}

    async def main():
        async with glm_magic.AsyncClient("zhipu") as c:
            return await c.embeddings.create(model="embedding-3", input="one text")

    assert len(asyncio.run(main()).data) == 1


def test_openai_and_dashscope_native_shapes(oai, ds):
    resp = glm_magic.Client("openai").embeddings.create(input=["x y"],
                                                        model="text-embedding-3-small")
    assert len(resp.data[0].embedding) == 256
    assert oai.received[-1].path == "/v1/embeddings"
    resp = glm_magic.Client("dashscope").embeddings.create(
        input=["first", "second"], model="text-embedding-v3", dimensions=16)
    body = ds.received[-1].json
    assert body["input"] == {"texts": ["first", "second"]}
    assert body["parameters"] == {"dimension": 16}
    assert [d.index for d in resp.data] == [0, 1]  # the server answered in reverse order
    assert len(resp.data[0].embedding) == 16 and resp.usage.total_tokens == 11


def test_providers_without_embeddings_say_so(qf):
    with pytest.raises(glm_magic.ConfigurationError, match="has no embeddings API"):
        glm_magic.Client("qianfan").embeddings.create(input=["x"], model="m")


def test_embed_packs_caches_and_records(zhipu, tmp_path, capsys):
    texts = pd.Series([f"text number {i}" for i in range(150)], index=range(100, 250))
    out = glm_magic.embed(texts, progress=False)
    assert out.shape == (150, 256) and out.dtype == np.float32
    # embedding-3 takes 64 texts per request (the requests run concurrently: any order)
    assert sorted(len(batch) for batch in zhipu.embedded) == [22, 64, 64]
    rows = glm_magic.usage()
    assert list(rows["source"]) == ["embed"] * 3 and (rows["cost"] > 0).all()
    assert set(rows["currency"]) == {"CNY"} and set(rows["model"]) == {"embedding-3"}
    assert "150 sent in 3 request(s)" in capsys.readouterr().out
    again = glm_magic.embed(list(texts[:10]) + ["a new text"], progress=False)
    assert zhipu.embedded[-1] == ["a new text"] and len(zhipu.embedded) == 4
    assert np.array_equal(again[:10], out[:10])
    assert "10 cached, 1 sent" in capsys.readouterr().out
    assert len(glm_magic.usage()) == 4  # cache hits are not ledger rows
    frame = glm_magic.embed(texts, as_frame=True, progress=False)
    assert list(frame.index) == list(texts.index) and frame.shape == (150, 256)


def test_empty_rows_stay_nan_and_are_not_sent(zhipu):
    out = glm_magic.embed(["a", None, float("nan"), "", "  ", "a", pd.NA], progress=False,
                          cache=False)
    assert zhipu.embedded == [["a"]]  # duplicates sent once, empties never
    assert np.isnan(out[1:5]).all() and np.isnan(out[6]).all()
    assert np.array_equal(out[0], out[5])


def test_a_text_over_the_limit_names_its_row(zhipu):
    long = "word " * 20_000
    with pytest.raises(ValueError, match=r"row 'b': ~25,000 tokens, over embedding-3's limit "
                                         r"of 3,072 per text"):
        glm_magic.embed(pd.Series(["ok", long], index=["a", "b"]), progress=False)
    assert zhipu.embedded == []
    glm_magic.embed(pd.Series(["ok", long], index=["a", "b"]), truncate=True, progress=False)
    assert len(zhipu.embedded[-1][1]) < len(long)


def test_rate_limits_are_waited_out_and_recorded(zhipu):
    zhipu.push(zhipu_error("1302", "rate limited", 429, **{"Retry-After": "0"}))
    out = glm_magic.embed(["one", "two"], progress=False, cache=False)
    assert not np.isnan(out).any()
    rows = glm_magic.usage()
    assert list(rows["status"]) == ["error", "ok"] and rows["cost"].iloc[0] == 0


def test_a_failure_keeps_what_was_done(zhipu, tmp_path):
    cache = str(tmp_path / "vectors.sqlite")
    zhipu.push(lambda rec: Reply(body=__import__("glm_magic.testing.vectors", fromlist=["x"])
                                 .openai_embeddings(rec.json)),
               zhipu_error("1214", "bad input", 400))
    texts = [f"t{i}" for i in range(100)]
    with pytest.raises(glm_magic.BadRequestError) as info:
        glm_magic.embed(texts, batch_size=50, concurrency=1, cache=cache, progress=False)
    assert "50 of 100 texts were embedded and cached" in str(info.value.hint)
    glm_magic.embed(texts, batch_size=50, cache=cache, progress=False)
    assert zhipu.embedded[-1] == texts[50:]  # the re-run sends only the rest


def test_dry_run_estimates_without_sending(zhipu):
    est = glm_magic.embed(["a b c", "d e f", None], dry_run=True)
    assert est["to_send"] == 2 and est["empty_rows"] == 1 and est["requests"] == 1
    assert est["estimated_tokens"] > 0 and est["currency"] == "CNY"
    assert zhipu.received == []


def test_similar_ranks_by_cosine(zhipu):
    texts = pd.Series(["the cat sat on the mat", "stock prices fell", "a cat and a mat",
                       None], index=["a", "b", "c", "d"])
    top = glm_magic.similar("cat on a mat", texts, k=2, progress=False)
    assert list(top.columns) == ["text", "score"] and list(top.index) == ["c", "a"]
    assert top["score"].is_monotonic_decreasing and top["score"].iloc[0] <= 1.0
    vectors = glm_magic.embed(texts, progress=False)
    again = glm_magic.similar("cat on a mat", texts, vectors=vectors, k=10, progress=False)
    assert len(again) == 3  # the empty row is never a neighbour
    with pytest.raises(ValueError, match="rows"):
        glm_magic.similar("x", texts, vectors=vectors[:2])


def test_the_local_model_embeds_offline():
    texts = ["the cat sat on the mat", "a kitten on a rug", "quarterly stock market report"]
    out = glm_magic.embed(texts, provider="local", progress=False, cache=False)
    assert out.shape[0] == 3 and out.shape[1] > 100 and not np.isnan(out).any()
    unit = out / np.linalg.norm(out, axis=1, keepdims=True)
    sims = unit @ unit.T
    assert sims[0, 1] > sims[0, 2]  # cats are nearer each other than the stock report
    row = glm_magic.usage().iloc[-1]
    assert row["source"] == "embed" and row["cost_status"] == "free" and \
        not math.isnan(row["latency_s"])
