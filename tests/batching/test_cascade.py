"""Cascades over loopback: the "strong" model answers from a truth table, the "cheap" one is
right on four rows in five with known log-probabilities (or a known self-reported
confidence), so the calibrated threshold, the agreement and the routing are checked exactly."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

import glm_magic
from glm_magic.batching.cascade import (
    Calibration,
    calibration_size,
    choose_thresholds,
    wilson_lower,
)
from glm_magic.testing import FakeGLM, Reply
from glm_magic.testing.dialects import OpenAIServer, labelled_reply
from glm_magic.testing.zhipu import completion_body

LABELS = ["spam", "ham"]
N = 1000
RIGHT, WRONG = 0.9, 0.6  # the cheap model's answer probability when right / wrong


def truth(i: int) -> str:
    return LABELS[i % 2]


def cheap_label(i: int) -> str:
    return truth(i) if i % 5 else LABELS[(i + 1) % 2]


def rows() -> pd.DataFrame:
    return pd.DataFrame({"text": [f"message #{i}" for i in range(N)]})


@pytest.fixture
def graded_openai(monkeypatch):
    server = OpenAIServer()

    def app(rec):
        body = rec.json
        i = int(re.search(r"#(\d+)", body["messages"][-1]["content"])[1])
        cheap = body["model"] == "cheap"
        label = cheap_label(i) if cheap else truth(i)
        p = (RIGHT if label == truth(i) else WRONG) if cheap else 0.99
        return labelled_reply(body, label, p)

    server.app = app
    glm_magic.pricing.set_price("cheap", provider="openai", input=1, output=1, currency="CNY")
    glm_magic.pricing.set_price("strong", provider="openai", input=10, output=10,
                                currency="CNY")
    monkeypatch.setenv("OPENAI_API_KEY", server.key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    glm_magic.session().reset_clients()
    yield server
    server.close()


def asked(server, model):
    return [r for r in server.received if r.json.get("model") == model]


def test_the_threshold_the_guarantee_and_the_routing_with_logprobs(graded_openai, capsys):
    result = glm_magic.batch(rows(), schema={"label": LABELS},
                             cascade=("openai:cheap", "openai:strong"), agreement=0.95)
    cal = result.attrs["calibration"]
    size = calibration_size(0.95, 0.95, N)
    assert size == 463 and cal.sample_size == size
    # right and wrong answers are told apart exactly: the threshold is the "right" probability
    assert cal.thresholds["openai:cheap"] == pytest.approx(RIGHT)
    assert cal.sources == {"openai:cheap": "logprobs"}
    assert cal.sample_agreement == 1.0 and cal.lower_bound >= 0.95
    expected = [truth(i) for i in range(N)]
    assert result["label"].astype(str).tolist() == expected  # every final answer agrees
    cheap_requests = asked(graded_openai, "cheap")
    assert len(cheap_requests) == N and all(r.json["logprobs"] for r in cheap_requests)
    sample = set(
        int(re.search(r"#(\d+)", r.json["messages"][-1]["content"])[1])
        for r in asked(graded_openai, "strong")[:size])
    wrong_outside = sum(1 for i in range(N) if i % 5 == 0 and i not in sample)
    assert len(asked(graded_openai, "strong")) == size + wrong_outside
    answered = result["model"].value_counts().to_dict()
    assert answered == {"openai:cheap": N - size - wrong_outside,
                        "openai:strong": size + wrong_outside}
    kept = result[result["model"] == "openai:cheap"]
    assert kept["confidence"].sub(RIGHT).abs().max() < 1e-9
    # a row's cost is every model's that was asked: cheap + strong where both answered
    usage = glm_magic.usage(source="cascade")
    per_call = usage.groupby("tags")["cost"].first()
    both = per_call["openai:cheap"] + per_call["openai:strong"]
    assert (result.loc[result["model"] == "openai:strong", "cost"] - both).abs().max() < 1e-12
    assert (kept["cost"] - per_call["openai:cheap"]).abs().max() < 1e-12
    assert len(usage) == N + size + wrong_outside
    assert set(usage["tags"]) == {"openai:cheap", "openai:strong"}
    by_model = glm_magic.cost_summary(by="model").set_index("model")["calls"]
    assert by_model["cheap"] == N and by_model["strong"] == size + wrong_outside
    assert "cascade answered" in capsys.readouterr().out


def test_a_saved_calibration_skips_calibrating(graded_openai):
    first = glm_magic.batch(rows(), schema={"label": LABELS},
                            cascade=("openai:cheap", "openai:strong"), summary=False)
    cal = first.attrs["calibration"]
    graded_openai.reset()
    again = glm_magic.batch(rows(), schema={"label": LABELS}, cascade=cal, summary=False)
    assert len(asked(graded_openai, "cheap")) == N
    assert len(asked(graded_openai, "strong")) == N // 5  # only the rows it was unsure of
    assert again["label"].astype(str).tolist() == [truth(i) for i in range(N)]
    assert isinstance(again.attrs["calibration"], Calibration)


def test_self_reported_confidence_where_there_are_no_logprobs(monkeypatch):
    fake = FakeGLM()

    def app(rec):
        body = rec.json
        i = int(re.search(r"#(\d+)", body["messages"][-1]["content"])[1])
        if body["model"] == "glm-4-flash":
            label = cheap_label(i)
            answer = {"label": label, "confidence": 0.97 if label == truth(i) else 0.55}
        else:
            answer = {"label": truth(i)}
        return Reply(body=completion_body(json.dumps(answer), body["model"]))

    fake.app = app
    monkeypatch.setenv("ZHIPUAI_API_KEY", fake.api_key)
    monkeypatch.setenv("ZHIPUAI_BASE_URL", fake.base_url)
    glm_magic.session().reset_clients()
    try:
        result = glm_magic.batch(rows().head(600), schema={"label": LABELS},
                                 cascade=("glm-4-flash", "glm-4-plus"), summary=False)
        cal = result.attrs["calibration"]
        assert cal.sources == {"glm-4-flash": "self-reported"}
        assert cal.thresholds["glm-4-flash"] == pytest.approx(0.97)
        cheap = [r.json for r in fake.received if r.json.get("model") == "glm-4-flash"]
        assert "confidence" in cheap[0]["messages"][0]["content"]
        strong = [r.json for r in fake.received if r.json.get("model") == "glm-4-plus"]
        assert "confidence" not in json.dumps(strong[0]["messages"])
        assert result["label"].astype(str).tolist() == [truth(i) for i in range(600)]
    finally:
        fake.close()


def test_classify_and_filter_take_a_cascade(graded_openai):
    df = rows().head(600)
    out = df.glm.classify("{text}", LABELS, cascade=("openai:cheap", "openai:strong"))
    assert out["label"].astype(str).tolist() == [truth(i) for i in range(600)]
    assert set(out["model"]) == {"openai:cheap", "openai:strong"}
    assert out.loc[out["model"] == "openai:cheap", "confidence"].min() == pytest.approx(RIGHT)
    cal = out.attrs["calibration"]
    assert cal.field == "label" and cal.thresholds["openai:cheap"] == pytest.approx(RIGHT)
    tags = set(glm_magic.usage(source="semantic")["tags"])
    assert tags == {"classify,openai:cheap", "classify,openai:strong"}

    def verdicts(rec):  # the same grading, as the filter's boolean verdict
        body = rec.json
        i = int(re.search(r"#(\d+)", body["messages"][-1]["content"])[1])
        cheap = body["model"] == "cheap"
        label = cheap_label(i) if cheap else truth(i)
        p = (RIGHT if label == truth(i) else WRONG) if cheap else 0.99
        content = json.dumps({"verdict": label == "spam"})
        choice = {"index": 0, "finish_reason": "stop",
                  "message": {"role": "assistant", "content": content}}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [{"token": '{"verdict": ', "logprob": -2.0},
                                              {"token": content[12:-1], "logprob": math.log(p)},
                                              {"token": "}", "logprob": -1.0}]}
        return Reply(body={"id": "x", "object": "chat.completion", "created": 1,
                           "model": body["model"], "choices": [choice],
                           "usage": {"prompt_tokens": 20, "completion_tokens": 5,
                                     "total_tokens": 25}})

    graded_openai.app = verdicts
    spam = df.glm.filter("{text} is spam", cascade=("openai:cheap", "openai:strong"))
    assert spam.index.tolist() == [i for i in range(600) if truth(i) == "spam"]
    # only the verdict's token counts: the JSON around it (p = e^-3) would sink every row
    kept = spam[spam["model"] == "openai:cheap"]
    assert len(kept) > 30 and kept["confidence"].min() == pytest.approx(RIGHT)


def test_choose_thresholds_and_the_bound_by_hand():
    assert wilson_lower(95, 100, 0.95) == pytest.approx(0.9008, abs=1e-4)  # z = 1.645
    assert wilson_lower(0, 0, 0.95) == 0.0
    strong = ["a"] * 100
    cheap = ["a"] * 90 + ["b"] * 10
    conf = [0.9] * 80 + [0.5] * 10 + [0.8] * 10  # 10 right at 0.5, the wrong ones at 0.8
    import numpy as np

    thresholds, observed, lower = choose_thresholds([cheap, strong], [np.array(conf)],
                                                    0.9, 0.95)
    # 0.5 and 0.8 keep wrong answers (bound < 0.9); only 0.9 keeps none
    assert thresholds == [0.9] and observed == 1.0 and lower >= 0.9


def test_dry_run_and_bad_input(graded_openai):
    plan = glm_magic.batch(rows(), schema={"label": LABELS},
                           cascade=("openai:cheap", "openai:strong"), dry_run=True)
    assert plan["calibration_rows"] == 463 and plan["rows"] == N
    strong = plan["all_strong_prompt_cost"]  # the cheap model costs a tenth per token
    assert strong > 0 and plan["currency"] == "CNY"
    assert plan["expected_prompt_cost"] == pytest.approx(1.1 * strong)  # worst: all reach both
    assert plan["best_case_prompt_cost"] == pytest.approx(strong * (463 * 1.1 + 537 * 0.1) / N)
    assert graded_openai.received == [] or all("tokenizer" in r.path or "chat" not in r.path
                                               for r in graded_openai.received)
    for kwargs, message in [({"schema": None}, "needs a schema with an enum or boolean field"),
                            ({"cascade": ("openai:cheap",)}, "two or more models"),
                            ({"agreement": 1.5}, "shares between 0 and 1")]:
        args = {"schema": {"label": LABELS}, "cascade": ("openai:cheap", "openai:strong"),
                **kwargs}
        with pytest.raises(ValueError, match=message):
            glm_magic.batch(rows().head(5), **args)


@pytest.mark.timeout(900)  # 45 rows on the local model: a loaded 2-core machine is slow
def test_the_local_model_as_the_cheap_model_with_its_own_log_probabilities(graded_openai):
    """End to end on the bundled llama.cpp model: its confidence is the probability of the
    label's tokens among those the schema allows, recorded while it generates."""
    n = 45
    texts = pd.DataFrame({"text": [f"#{i}: " + ("WIN A FREE PRIZE, click now!!!" if i % 2 == 0
                                                else "Are we still on for lunch at noon?")
                                   for i in range(n)]})
    result = glm_magic.batch(texts, schema={"label": LABELS}, temperature=0,
                             cascade=("local:default", "openai:strong"), agreement=0.6,
                             summary=False)
    cal = result.attrs["calibration"]
    assert cal.sources == {"local:default": "logprobs"}
    assert cal.sample_size == calibration_size(0.6, 0.95, n) == 37
    assert cal.lower_bound >= 0.6
    local = glm_magic.usage(source="cascade")
    local = local[local["tags"] == "local:default"]
    assert len(local) == n and (local["cost"] == 0).all()
    answered = result["confidence"].where(result["model"] == "local:default")
    kept = answered.dropna()
    assert ((kept > 0) & (kept <= 1)).all() and (kept >= cal.thresholds["local:default"]).all()
    strong_rows = result[result["model"] == "openai:strong"]
    assert strong_rows["label"].astype(str).tolist() == [truth(i) for i in strong_rows.index]
    assert len(kept) + len(strong_rows) == n
    assert len(asked(graded_openai, "strong")) == len(strong_rows)


def test_the_local_model_returns_the_log_probability_of_each_answer_token():
    client = glm_magic.Client(provider="local")
    answer = client.chat.completions.create(
        model="default", temperature=0, logprobs=True,
        messages=[{"role": "user", "content": "Is 'WIN A FREE PRIZE NOW' spam or ham?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "label", "schema": {
            "type": "object", "properties": {"label": {"type": "string", "enum": LABELS}},
            "required": ["label"], "additionalProperties": False}}})
    tokens = answer.raw["choices"][0]["logprobs"]["content"]
    assert "".join(t["token"] for t in tokens).strip() == answer.choices[0].message.content
    assert all(t["logprob"] <= 0 for t in tokens)
    # greedy decoding takes the likeliest token; between two labels that is at least even odds
    from glm_magic.batching.online import answer_probability

    label = json.loads(answer.choices[0].message.content)["label"]
    assert 0.5 <= answer_probability(answer, ("label", label)) <= 1
