# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Choosing a model: `evaluate()` and cascades
#
# The biggest saving is rarely a cheaper call; it is a cheaper model for a task that allows
# it. `glm_magic.evaluate()` runs the same task on several models over a labelled DataFrame
# and returns one row per model: the score with a bootstrap confidence interval, the cost per
# 1,000 rows in the provider's currency, latency p50/p95, tokens and errors, and whether the
# model is on the **Pareto front** (no other model is both at least as good and at most as
# costly). Every model's rows are an ordinary `batch()` — concurrency, retries, the response
# cache and the budget apply, and every call is a ledger row (`source == "evaluate"`, the
# model in `tags`).
#
# | `metric=` | scores |
# |---|---|
# | `"accuracy"` (default) | the share of rows whose answer is the truth label (a sentence that names exactly one label counts as that label) |
# | `"f1"` | macro F1 over the truth labels |
# | a function `(answer, truth) -> float` | its mean over rows |
# | `"judge"` | a judge model (`judge=`) grades each free-text answer against the truth: correct 1, partially correct 0.5, incorrect 0 |
#
# Here a loopback server that speaks Zhipu's wire format plays two GLM models: `glm-5` is
# right on every row, `glm-4-flash` (free) on four rows in five — so the numbers below are
# easy to check. With `ZHIPUAI_API_KEY` set and the first cell deleted, the same calls go to
# GLM.

# %%
import json
import os
import re

import pandas as pd

import glm_magic
from glm_magic.testing import FakeGLM, Reply
from glm_magic.testing.zhipu import completion_body

LABELS = ["positive", "negative", "neutral"]
fake = FakeGLM()


def plays_two_models(request):
    """glm-5 answers the truth; glm-4-flash is wrong on every fifth review."""
    body = request.json
    user = body["messages"][-1]["content"]
    if "Reference answer" in user:  # the judge
        ref, answer = re.findall(r"answer(?: to grade)?:\n(.*)", user, re.I)[:2]
        text = json.dumps({"verdict": "correct" if ref in answer else "incorrect"})
    else:
        i = int(re.search(r"#(\d+)", user)[1])
        label = LABELS[i % 3]
        if body["model"] == "glm-4-flash" and i % 5 == 0:
            label = LABELS[(i + 1) % 3]
        answer = {"label": label}
        if "confidence" in json.dumps(body):  # a cascade asks the cheap model how sure it is
            answer["confidence"] = 0.6 if label != LABELS[i % 3] else 0.95
        text = json.dumps(answer) if body.get("response_format") else label
    return Reply(body=completion_body(text, body["model"], prompt_tokens=60))


fake.app = plays_two_models
os.environ["ZHIPUAI_API_KEY"] = fake.api_key
os.environ["ZHIPUAI_BASE_URL"] = fake.base_url

reviews = pd.DataFrame({
    "id": range(30),
    "text": [f"review #{i}" for i in range(30)],
    "label": [LABELS[i % 3] for i in range(30)],
})

# %% [markdown]
# ## Three models, one table
#
# The bundled local model (no key), glm-4-flash and glm-5, with a schema so every answer is
# one of the labels:

# %%
models = glm_magic.evaluate(
    reviews, template="The sentiment of review #{id}: {text}", truth="label",
    models=["local:default", "glm-4-flash", "glm-5"],
    schema={"label": LABELS}, temperature=0, max_tokens=20)
models[["model", "score", "ci_low", "ci_high", "cost_per_1k_rows", "currency",
        "latency_p50_s", "errors", "pareto"]]

# %% [markdown]
# glm-4-flash scores 0.8 at no cost, glm-5 1.0 at a price; the local model's score is what a
# 270M model gets on reviews it cannot read (these are only numbers). The interval says how
# far another sample of 30 rows could move each score.
#
# `.plot()` draws quality against cost, the Pareto front dashed:

# %%
ax = models.plot()

# %% [markdown]
# Every model's answer per row is kept, beside the truth, for looking at the disagreements:

# %%
answers = models.answers
answers[answers["glm-4-flash"] != answers["label"]].head()

# %% [markdown]
# ## Free text, graded by a judge
#
# When the answer is a sentence, `metric="judge"` asks a judge model whether each answer says
# what the truth says. The judge's calls are ledger rows too (`tags == "judge"`):

# %%
judged = glm_magic.evaluate(reviews.head(20), template="The sentiment of review #{id}: {text}",
                            models=["glm-4-flash"], metric="judge", judge="glm-5")
judged[["model", "metric", "score", "cost"]]

# %% [markdown]
# ## A cascade: glm-4-flash for the rows it is sure of
#
# glm-4-flash is free and right on 80 % of rows; glm-5 is right on all of them, at a price. A
# **cascade** sends every row to glm-4-flash first and only the rows it is unsure of on to
# glm-5, with a calibrated guarantee: on a calibration sample (sent to both models) the
# confidence threshold is chosen so that the final answers agree with glm-5's on at least
# `agreement` of rows, as a one-sided lower bound at 95 % confidence.
#
# Confidence is the probability of the label's tokens where the provider returns
# log-probabilities (OpenAI-compatible servers, the local model). GLM does not, so here
# glm-4-flash states its own `confidence` in a field added to the schema — weaker, because
# models are overconfident: the calibration still measures what each threshold buys.
#
# `dry_run=True` first: what the cascade's prompts are expected to cost against glm-5 alone.
# Before a calibration the split is unknown, so it gives the range — the worst case (every row
# reaching glm-5) and the best (every row after the sample kept by glm-4-flash):

# %%
many = pd.DataFrame({"id": range(1000), "text": [f"review #{i}" for i in range(1000)]})
task = dict(template="The sentiment of review #{id}: {text}", schema={"label": LABELS},
            cascade=("glm-4-flash", "glm-5"), agreement=0.9)
glm_magic.batch(many, dry_run=True, **task)

# %%
out = glm_magic.batch(many, progress=False, **task)
out[["label", "model", "confidence"]].head()

# %% [markdown]
# Every final answer agrees with what glm-5 would have said, and glm-5 answered only the
# calibration rows and the ones glm-4-flash was unsure of:

# %%
truth = [LABELS[i % 3] for i in range(1000)]
print("agreement with glm-5:", (out["label"].astype(str) == truth).mean())
out["model"].value_counts(normalize=True)

# %% [markdown]
# The calibration is reusable: passing it as `cascade=` skips calibrating, so the next run
# sends glm-5 only the unsure rows.

# %%
calibration = out.attrs["calibration"]
again = glm_magic.batch(many.head(200), summary=False, progress=False,
                        template=task["template"], schema=task["schema"],
                        cascade=calibration)
again["model"].value_counts()

# %% [markdown]
# The ledger has every call, so the split is a cost summary away:

# %%
glm_magic.cost_summary(by="model")[["model", "calls", "cost", "currency"]]

# %%
fake.close()
