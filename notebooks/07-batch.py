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
# # Prompts over DataFrames
#
# `glm_magic.batch()` runs one prompt per row — a list, a Series, or a DataFrame with a
# `template` — with bounded concurrency, a progress bar with running cost, rate-limit-aware
# slow-down, resume after an interruption, and a ledger row per call (`source == "batch"`).
# Results come back aligned with your input, whatever order the answers arrive in.
#
# The first part runs on the bundled local model (rows one after another: one model in
# process). The second uses `FakeGLM`, a loopback server that speaks Zhipu's wire format, to
# show concurrency and rate limits offline; with `ZHIPUAI_API_KEY` set the same calls go to GLM.

# %%
import pandas as pd

import glm_magic

cities = pd.DataFrame({"city": ["Paris", "Rome", "Madrid"], "country": ["France", "Italy", "Spain"]})
cities

# %% [markdown]
# Estimate first: prompt tokens and cost of the whole batch, nothing sent.

# %%
glm_magic.batch(cities, template="What is the capital of {country}?", provider="local", dry_run=True)

# %%
answers = glm_magic.batch(cities, template="What is the capital of {country}?",
                          provider="local", temperature=0, max_tokens=16)
cities.join(answers[["answer", "status", "completion_tokens", "latency_s"]])

# %% [markdown]
# ## Concurrency, rate limits and errors (on the loopback GLM server)

# %%
import os

from glm_magic.testing import FakeGLM, zhipu_error

fake = FakeGLM()
os.environ["ZHIPUAI_API_KEY"] = fake.api_key
os.environ["ZHIPUAI_BASE_URL"] = fake.base_url

# the next two requests are refused with Zhipu's rate-limit code: the whole batch slows down
fake.push(zhipu_error("1302", "rate limit", 429, **{"Retry-After": "0.2"}),
          zhipu_error("1302", "rate limit", 429))
reviews = pd.Series([f"review {i}: the product was fine" for i in range(200)])
result = glm_magic.batch(reviews, template="Sentiment of: {}", provider="zhipu",
                         model="glm-4-flash", concurrency=16)
result["status"].value_counts()

# %%
result[result["attempts"] > 1].head()

# %%
glm_magic.usage(source="batch")["status"].value_counts()

# %% [markdown]
# ## Resume: rows already answered are not sent again (also after a kernel restart)

# %%
import tempfile

resume_file = os.path.join(tempfile.mkdtemp(), "batch.sqlite")
first = glm_magic.batch(reviews[:50], provider="zhipu", resume=resume_file, progress=False)
sent_before = len(fake.received)
again = glm_magic.batch(reviews[:60], provider="zhipu", resume=resume_file, progress=False)
print("requests for the second run:", len(fake.received) - sent_before)  # only the 10 new rows

# %% [markdown]
# In a notebook `await glm_magic.abatch(...)` does the same without blocking the kernel.

# %%
more = await glm_magic.abatch(["one", "two"], provider="zhipu", progress=False)
more

# %%
fake.close()
