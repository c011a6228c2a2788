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
# # Answers as data
#
# Most of what a notebook wants from a model is a few columns: a label, a score, a yes/no. Give
# `batch()` a **schema** and every answer becomes typed columns next to the usual ones — enums
# as pandas `category` with exactly the allowed values, numbers as `float64` / `Int64`, yes/no as
# `boolean`, lists as Python lists. Each answer is checked against the schema here, on your
# machine; an invalid one is sent back once to be fixed (the model sees its answer and what is
# wrong), and a row that still fails has `status == "invalid"` and the reason in `error` —
# never a silent NaN.
#
# A schema is a dict of field → type (a list means "one of these"), a JSON Schema, or a pydantic
# model class. Each provider gets its strongest mechanism: OpenAI-compatible servers a JSON
# Schema `response_format`, Zhipu and DashScope their JSON mode plus the schema stated in the
# prompt, and the local model llama.cpp's grammar-constrained decoding — so even the bundled
# 270M model can only write JSON of the right shape.

# %%
import pandas as pd

import glm_magic

reviews = pd.DataFrame({
    "text": ["I love this phone, the battery lasts for days!",
             "Terrible service, the parcel arrived broken.",
             "WIN A FREE PRIZE!!! click here now",
             "It works. Nothing special."],
}, index=["r1", "r2", "r3", "r4"])

schema = {"sentiment": ["positive", "negative", "neutral"], "spam": bool}

# %% [markdown]
# ## On the local model (no key, no network)
#
# The grammar keeps the bundled model to the schema; what it *chooses* is as good as a 270M
# model gets — the point here is the mechanism and the types.

# %%
labels = glm_magic.batch(
    reviews, system="You label customer reviews.",
    template="Classify the sentiment of this customer review as positive, negative or "
             "neutral.\n\nReview: {text}",
    schema=schema, provider="local", temperature=0, max_tokens=40, progress=False)
labels[["status", "sentiment", "spam"]]

# %%
labels.dtypes[["sentiment", "spam"]]

# %% [markdown]
# ## Against GLM, replayed from a committed cache
#
# From here on the cells ask GLM. So that the notebook runs anywhere — in CI, on a colleague's
# machine with no key — it replays the answers in `08-answers-as-data.glm-cache.sqlite`,
# committed beside it: `%glm cache here` points the response cache at that file and
# `%glm cache replay` answers only from it (a request it does not hold would be a one-line
# `CacheMissError`; nothing is sent). Its answers were recorded once from a stand-in server
# that speaks Zhipu's wire format and answers a structured request with JSON of the requested
# shape, chosen from the prompt's words. **With your own key, change `replay` to `on`**: what
# the file holds is still answered from it, anything new goes to GLM and is stored.
#
# Zhipu gets JSON mode plus the schema in the prompt: `dry_run=True` shows the exact request of
# the first row and what the schema costs in tokens.

# %%
# %load_ext glm_magic
# %config GLMMagics.provider = "zhipu"
# %glm cache here 08-answers-as-data
# %glm cache replay

# %%
full = {"sentiment": ["positive", "negative", "neutral"], "score": float,
        "keywords": list[str], "spam": bool}
plan = glm_magic.batch(reviews, template="Review: {text}", schema=full, provider="zhipu",
                       dry_run=True)
plan[["rows", "schema_tokens_per_row", "prompt_tokens", "cost_status"]]

# %%
print(plan["request"]["messages"][-1]["content"])

# %%
table = glm_magic.batch(reviews, template="Review: {text}", schema=full, provider="zhipu",
                        progress=False)
table[["status", "sentiment", "score", "keywords", "spam"]]

# %% [markdown]
# The typed columns work like any others: count the labels, plot the scores.

# %%
table["sentiment"].value_counts()

# %%
ax = table["score"].plot.bar(title="score per review")

# %% [markdown]
# ## In a cell: `%%glm --schema`
#
# `--schema` takes a schema variable or inline JSON. The answer streams as usual, is checked,
# and shows as a small table; `-o` receives the value (a dict, or the pydantic instance).

# %%
# %%glm --schema full -o review --once
A neutral review: the screen is fine, the price is high.

# %%
review

# %% [markdown]
# ## DataFrames in prompts
#
# `{df}` in a cell sends the frame as a compact Markdown table with its shape and dtypes. A
# frame larger than `max_context_tokens` (4000 by default) is cut **in the open**: the first
# and last rows are sent, the prompt says how many were left out, and you get a notice — unlike
# pandas' own `...`, which silently hides the middle. `{In[3]}` and `{Out[3]}` put earlier
# cells and results into a prompt the same way.

# %%
# %config GLMMagics.max_context_tokens = 300
big = pd.DataFrame({"id": range(100), "note": [f"note {i}" for i in range(100)]})

# %%
# %%glm --once --dry-run
Which ids mention note 50? {big}

# %% [markdown]
# ## `%glm fix`
#
# After an exception, `%glm fix` sends its type, message, traceback and the cell's source
# (keys masked) and puts the code block of the answer into the next cell — never run.
# The stand-in server that recorded this notebook's answers echoes the request, so here the
# "fix" is the failing cell itself.

# %% tags=["raises-exception"]
rows = [1, 2]
rows[5]

# %%
import sys

assert isinstance(sys.last_value, IndexError)

# %%
# %glm fix

# %% [markdown]
# Every answer above came from the cache file: the ledger books them as `cached`, at no cost,
# with what they cost when they were recorded in `saved`.

# %%
glm_magic.cost_summary(by="status")[["status", "calls", "cost", "saved", "currency"]]
