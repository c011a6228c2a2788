"""`evaluate()` over loopback: a "strong" model that answers from a truth table and a "cheap"
one that is right on a known share of rows, so every score, interval, cost and the Pareto
front can be checked exactly; the judge's calls and every model's rows are in the ledger."""

from __future__ import annotations

import json
import re

import matplotlib
import pandas as pd
import pytest

import glm_magic
from glm_magic.testing import FakeGLM, Reply
from glm_magic.testing.zhipu import completion_body

matplotlib.use("Agg")
LABELS = ["positive", "negative", "neutral"]
N = 50


def table() -> pd.DataFrame:
    return pd.DataFrame({"id": range(N), "text": [f"review number {i}" for i in range(N)],
                         "label": [LABELS[i % 3] for i in range(N)]})


def wrong(label: str) -> str:
    return LABELS[(LABELS.index(label) + 1) % 3]


@pytest.fixture
def graded(monkeypatch):
    """glm-4-plus: always right; glm-4-flash: wrong on every fifth row (80 % right), and it
    writes a sentence ("I think it is positive."); the judge says `correct` when the graded
    answer names the reference's label."""
    fake = FakeGLM()
    truth = {i: LABELS[i % 3] for i in range(N)}

    def app(rec):
        if not rec.path.endswith("/chat/completions"):
            return Reply(body={})
        body = rec.json
        model, msgs = body["model"], body["messages"]
        user = msgs[-1]["content"]
        if "Reference answer" in user:
            ref, graded_answer = re.findall(r"answer(?: to grade)?:\n(.*)", user, re.I)[:2]
            verdict = "correct" if ref.strip() in graded_answer else "incorrect"
            text = json.dumps({"verdict": verdict})
        else:
            i = int(re.search(r"#(\d+)", user)[1])
            label = truth[i]
            if model == "glm-4-flash":
                text = f"I think it is {wrong(label) if i % 5 == 0 else label}."
            else:
                text = label
            if body.get("response_format"):
                text = json.dumps({"label": text.removeprefix("I think it is ").rstrip(".")})
        return Reply(body=completion_body(text, model, prompt_tokens=40))

    fake.app = app
    monkeypatch.setenv("ZHIPUAI_API_KEY", fake.api_key)
    monkeypatch.setenv("ZHIPUAI_BASE_URL", fake.base_url)
    glm_magic.session().reset_clients()
    yield fake
    fake.close()


def test_one_row_per_model_with_exact_scores_costs_and_the_pareto_front(graded):
    result = glm_magic.evaluate(table(), template="#{id}: {text}", truth="label",
                                models=["glm-4-flash", "glm-4-plus"])
    assert result["model"].tolist() == ["glm-4-flash", "glm-4-plus"]
    flash, plus = result.iloc[0], result.iloc[1]
    assert flash["score"] == pytest.approx(0.8)  # the sentence is read as the label it names
    assert plus["score"] == 1.0 and plus["ci_low"] == plus["ci_high"] == 1.0
    assert flash["ci_low"] < 0.8 < flash["ci_high"] and flash["ci_high"] - flash["ci_low"] < 0.3
    assert flash["cost"] == 0 and flash["cost_per_1k_rows"] == 0  # glm-4-flash is free
    assert plus["cost"] > 0 and plus["currency"] == "CNY"
    usage = glm_magic.usage(source="evaluate")
    plus_rows = usage[usage["model"] == "glm-4-plus"]
    assert len(plus_rows) == N
    assert plus["cost_per_1k_rows"] == pytest.approx(plus_rows["cost"].sum() / N * 1000)
    assert result["pareto"].tolist() == [True, True]  # free and worse, dearer and better
    assert result["rows"].tolist() == [N, N] and result["errors"].tolist() == [0, 0]
    assert (result["prompt_tokens"] == 40 * N).all()
    assert (result["latency_p95_s"] >= result["latency_p50_s"]).all()
    assert result.answers.loc[0, "glm-4-flash"] == "negative"  # row 0: the wrong one
    assert set(usage["tags"]) == {"glm-4-flash", "glm-4-plus"}


def test_a_dominated_model_is_off_the_front_and_the_plot_draws_it(graded):
    result = glm_magic.evaluate(table(), template="#{id}: {text}",
                                models=["glm-4-plus", "glm-4-flash", "glm-4-air"])
    # glm-4-air answers like glm-4-plus here and is cheaper: glm-4-plus is dominated
    assert dict(zip(result["model"], result["pareto"], strict=True)) == {
        "glm-4-plus": False, "glm-4-flash": True, "glm-4-air": True}
    ax = result.plot()
    assert ax.get_title() == "quality against cost" and "CNY" in ax.get_xlabel()
    assert {t.get_text() for t in ax.texts} == {"glm-4-plus", "glm-4-flash", "glm-4-air"}


def test_schema_f1_callable_and_sample(graded):
    result = glm_magic.evaluate(table(), template="#{id}: {text}",
                                models=["glm-4-flash"], schema={"label": LABELS}, metric="f1")
    assert graded.received[-1].json.get("response_format")
    # every fifth row (10 of 50) is shifted one label on: per-label F1 from the counts
    df = table()
    pred = [wrong(t) if i % 5 == 0 else t for i, t in enumerate(df["label"])]
    f1s = []
    for label in LABELS:
        tp = sum(p == t == label for p, t in zip(pred, df["label"], strict=True))
        fp = sum(p == label != t for p, t in zip(pred, df["label"], strict=True))
        fn = sum(t == label != p for p, t in zip(pred, df["label"], strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn))
    assert result["score"].iloc[0] == pytest.approx(sum(f1s) / 3)
    assert result["metric"].iloc[0] == "f1"

    def first_letter(answer, truth):
        return float(str(answer)[:1] == str(truth)[:1])

    custom = glm_magic.evaluate(table(), template="#{id}: {text}", models=["glm-4-plus"],
                                metric=first_letter, sample=20)
    assert custom["rows"].iloc[0] == 20 and custom["score"].iloc[0] == 1.0
    assert custom["metric"].iloc[0] == "first_letter"


def test_the_judge_grades_free_text_and_its_calls_are_ledger_rows(graded):
    result = glm_magic.evaluate(table(), template="#{id}: {text}", models=["glm-4-flash"],
                                metric="judge", judge="glm-4-plus")
    assert result["score"].iloc[0] == pytest.approx(0.8)
    judged = glm_magic.usage(source="evaluate")
    judge_rows = judged[judged["tags"] == "judge"]
    assert len(judge_rows) == N and set(judge_rows["model"]) == {"glm-4-plus"}
    asked = [r.json for r in graded.received if "Reference answer" in
             r.json["messages"][-1]["content"]]
    assert asked and "grade an answer" in asked[0]["messages"][0]["content"]


def test_errors_count_as_wrong_and_bad_input_is_one_line(graded):
    graded.push(Reply(status=400, body={"error": {"code": "1214", "message": "bad row"}}))
    result = glm_magic.evaluate(table(), template="#{id}: {text}", models=["glm-4-plus"],
                                concurrency=1, max_retries=0)
    assert result["errors"].iloc[0] == 1 and result["score"].iloc[0] == pytest.approx(49 / 50)
    for kwargs, message in [({"truth": "gold"}, "no truth column 'gold'"),
                            ({"models": []}, "names at least one model"),
                            ({"metric": "bleu"}, "metric must be one of"),
                            ({"sample": -3}, "sample is a number of rows")]:
        args = {"template": "#{id}", "models": ["glm-4-plus"], **kwargs}
        with pytest.raises((ValueError, TypeError), match=message) as info:
            glm_magic.evaluate(table(), **args)
        assert "\n" not in str(info.value)


def test_the_local_model_is_evaluated_end_to_end():
    df = pd.DataFrame({"text": ["I love it, wonderful", "Awful, broken, I hate it"],
                       "label": ["positive", "negative"]})
    result = glm_magic.evaluate(df, template="Is this review positive or negative? {text}",
                                models=["local:default"], schema={"label": ["positive",
                                                                            "negative"]},
                                temperature=0, max_tokens=20)
    row = result.iloc[0]
    assert row["rows"] == 2 and row["errors"] == 0 and row["cost"] == 0
    assert 0 <= row["score"] <= 1
    assert set(result.answers["local:default"]) <= {"positive", "negative"}
