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
# # Semantic operators: `df.glm.filter`, `classify`, `extract`, `join`, `topk`, `agg`, `dedup`
#
# `batch()` runs one prompt per row. What you usually want is an operation on a table: keep
# the rows that are spam, label each review, pull typed fields out of text, match two tables
# no key joins, find the most urgent rows, summarise each group, merge near-duplicates. With
# `glm_magic` imported, every DataFrame and Series has them under `.glm`:
#
# | call | returns |
# |---|---|
# | `df.glm.map(template, schema=None)` | the answer per row (or one typed column per field) |
# | `df.glm.filter(condition)` | the rows for which the condition holds (`keep="verdict"` keeps all, with a column) |
# | `df.glm.classify(template, labels=[...])` | a `category` column with exactly those labels |
# | `df.glm.extract(template, schema)` | typed columns |
# | `df.glm.join(other, condition, prefilter=k)` | the matching pairs; only each row's k nearest candidates are asked |
# | `df.glm.topk(k, criterion)` | the k best rows, best first |
# | `df.glm.agg(instruction, by=...)` | one summary per group |
# | `df.glm.dedup(column, threshold=...)` | one row per cluster of near-duplicates |
#
# Each is **planned**: `dry_run=True` shows the calls, tokens and cost (in the provider's
# currency, online and at the Batch API price) before anything is sent; identical rows are
# sent once; empty rows never; the shared instruction goes first and the row last, so a
# provider's prefix cache bills the repeated part at its cached price. Every call is an
# ordinary ledger row (`source == "semantic"`, the operator in `tags`).
#
# A loopback server that speaks Zhipu's wire format (`FakeGLM`) plays GLM here, so the
# notebook runs offline; its "model" is a few rules (spam words, mood words), enough to see
# the mechanics. The last section runs on the bundled local model.

# %%
import os

import pandas as pd

import glm_magic
from glm_magic.testing import FakeGLM

fake = FakeGLM()
os.environ["ZHIPUAI_API_KEY"] = fake.api_key
os.environ["ZHIPUAI_BASE_URL"] = fake.base_url

reviews = pd.DataFrame({
    "review": ["I love this kettle, great value", "Terrible toaster, broken after a week",
               "Click here to win a free prize", "The lamp is good and bright",
               "I love this kettle, great value", None,
               "Awful fan, the worst noise", "Win a free offer now, click"],
    "product": ["kettle", "toaster", "kettle", "lamp", "kettle", "fan", "fan", "lamp"],
})

# %% [markdown]
# ## The plan before spending
#
# Eight rows, one empty and two identical: six calls.

# %%
reviews.glm.filter("{review} is spam", model="glm-4-plus", dry_run=True)

# %% [markdown]
# `confirm_over=` (a cost) stops an operation whose plan costs more, in one line, unless
# `confirm=True`:

# %%
try:
    reviews.glm.filter("{review} is spam", model="glm-4-plus", confirm_over=0.000001)
except glm_magic.GLMError as err:
    print(err)

# %% [markdown]
# ## filter and classify

# %%
spam = reviews.glm.filter("{review} is spam", model="glm-4-plus")
spam

# %%
genuine = reviews.drop(spam.index)
labelled = genuine.glm.classify("the sentiment of {review}",
                                labels=["positive", "negative", "neutral"],
                                model="glm-4-plus")
labelled

# %%
labelled["label"].dtype

# %% [markdown]
# ## extract: typed fields from free text

# %%
genuine.glm.extract("What does {review} say?",
                    {"mood": ["positive", "negative", "neutral"], "stars": "int"},
                    model="glm-4-plus")

# %% [markdown]
# ## join: two tables no key joins
#
# Match each review to the catalogue entries it talks about. `prefilter=2` asks only each
# review's 2 nearest catalogue rows by embedding (`embed()` and its cache) instead of every
# pair; the plan says how many calls that saves.

# %%
catalogue = pd.DataFrame({"item": ["electric kettle", "toaster", "desk lamp", "ceiling fan",
                                   "blender"]})
plan = genuine.glm.join(catalogue, "{review:left} is about the {item:right}",
                        prefilter=2, model="glm-4-plus", dry_run=True)
plan[["calls", "naive_calls", "calls_saved", "cost"]]

# %%
pairs = genuine.glm.join(catalogue, "{review:left} is about the {item:right}", prefilter=2,
                         model="glm-4-plus")
pairs

# %% [markdown]
# ## topk, agg and dedup
#
# `topk` scores every row once, then compares only rows tied at the cut; `agg` writes one
# summary per group (a group too large for one call is summarised in pieces, then the
# pieces); `dedup` confirms embedding neighbours with the model.

# %%
genuine.glm.topk(2, "{review} is an enthusiastic recommendation", model="glm-4-plus")

# %%
genuine.glm.agg("Summarise what customers say", by="product", model="glm-4-plus")

# %%
reviews.dropna().glm.dedup("review", threshold=0.95, model="glm-4-plus")

# %% [markdown]
# Every call is in the ledger, booked as `semantic` with the operator's name:

# %%
usage = glm_magic.usage()
usage[usage["source"] == "semantic"].groupby("tags")["call_id"].count()

# %%
glm_magic.cost_summary(by="source")

# %% [markdown]
# ## On the bundled local model
#
# The same operators run on the local model — no key, no network. Its answers are constrained
# to the schema by its grammar, so a label is always one of the labels.

# %%
small = pd.DataFrame({"review": ["I love it, works perfectly", "Broken on arrival, awful"]})
small.glm.classify("the sentiment of {review}", labels=["positive", "negative"],
                   provider="local", temperature=0)
