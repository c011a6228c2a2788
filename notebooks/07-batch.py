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

# %% [markdown]
# ## The provider's Batch API: half price, and it survives the kernel
#
# `via="batch_api"` writes one request per row (each with a stable `custom_id`), uploads the
# JSONL file, starts the job and returns a `BatchJob` at once — the kernel is free while the
# provider works (within 24 h). `dry_run=True` shows the lines and both prices first.

# %%
glm_magic.batch(reviews, template="Sentiment of: {}", provider="zhipu", model="glm-4-plus",
                via="batch_api", dry_run=True)

# %%
job_file = os.path.join(tempfile.mkdtemp(), "sentiment-job.json")
job = glm_magic.batch(reviews, template="Sentiment of: {}", provider="zhipu",
                      model="glm-4-plus", via="batch_api", resume=job_file)
job

# %% [markdown]
# The job id and the row mapping are in `job_file`: `glm_magic.batch_job(job_file)` (or the job
# id) picks the job up in a new kernel or on another machine. `wait()` polls with a progress
# bar; `result()` is the same aligned DataFrame as an online batch, and every row is in the
# ledger (`source == "batch_api"`) at the batch price.

# %%
picked_up = glm_magic.batch_job(job_file)
batch_result = picked_up.wait(poll=0.05, progress=False).result()
batch_result.head()

# %%
online = glm_magic.batch(reviews, template="Sentiment of: {}", provider="zhipu",
                         model="glm-4-plus", progress=False)
glm_magic.cost_summary(by="source")

# %%
assert (batch_result["status"] == "ok").all()
assert batch_result["cost"].sum() < online["cost"].sum()

# %% [markdown]
# ## On a dask cluster, into a team ledger in PostgreSQL
#
# For data that outgrows one machine, pass a dask DataFrame: the result is a lazy dask
# DataFrame whose partitions run this same batch on the cluster's workers. Here a
# `LocalCluster` of two worker processes writes to a team ledger in a PostgreSQL server started
# for this tutorial (`GLM_MAGIC_LEDGER=postgresql://...`; in a team it is your shared server).

# %%
import dask.dataframe as dd
from distributed import Client as DaskClient
from distributed import LocalCluster

from glm_magic.testing.postgres import PostgresServer

pg = PostgresServer()
os.environ["GLM_MAGIC_LEDGER"] = pg.url  # workers inherit it; so does this kernel's session
glm_magic.session().set_ledger(pg.url)
cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                       silence_logs=40)
dask_client = DaskClient(cluster)

# %%
ddf = dd.from_pandas(pd.DataFrame({"review": reviews}), npartitions=4)
lazy = glm_magic.batch(ddf, template="Sentiment of: {review}", provider="zhipu",
                       model="glm-4-plus", concurrency=16)
on_cluster = lazy.compute()
on_cluster["status"].value_counts()

# %% [markdown]
# Every worker's rows are in the team ledger, with the OS user and host of each call:

# %%
team = glm_magic.usage()
team[["source", "model", "status", "cost", "os_user", "host"]].tail(3)

# %%
assert (on_cluster["status"] == "ok").all() and len(team) == len(reviews)

# %%
dask_client.close()
cluster.close()
pg.close()

# %%
fake.close()
