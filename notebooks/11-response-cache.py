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
# # Re-run for free: the response cache and replay without a key
#
# A notebook is re-run far more often than it is written — "Restart & Run All" after a small
# change, a colleague opening it, CI executing it. With the response cache on, a request that
# was answered before is answered again from a SQLite file: **the same answer, nothing sent,
# cost 0**. In `replay` mode *only* the cache answers, so the notebook runs without a key
# and without a network — commit the cache file with the notebook and anyone can replay it.
#
# | `GLMSettings.cache` | a request the cache holds | one it does not hold |
# |---|---|---|
# | `"off"` (default) | sent | sent |
# | `"on"` | answered from the cache | sent, and stored |
# | `"refresh"` | sent again, stored answer replaced | sent, and stored |
# | `"replay"` | answered from the cache | `CacheMissError`, nothing sent |
#
# Per cell, `--cache` / `--no-cache` override the setting; in Python, `cache=` does (on
# `Session.complete`, `batch()` and everything built on them). Here a loopback server that
# speaks Zhipu's wire format (`FakeGLM`) plays GLM, so the notebook runs offline.

# %%
import os
import tempfile
from pathlib import Path

from glm_magic.testing import FakeGLM

fake = FakeGLM()
os.environ["ZHIPUAI_API_KEY"] = fake.api_key
os.environ["ZHIPUAI_BASE_URL"] = fake.base_url
cache_file = Path(tempfile.mkdtemp()) / "tutorial.glm-cache.sqlite"

# %load_ext glm_magic
# %config GLMSettings.cache_path = str(cache_file)
# %config GLMSettings.cache = "on"

# %% [markdown]
# In your own notebook, `%glm cache here` does both lines at once: it puts the cache file
# beside the notebook (`analysis.ipynb` → `analysis.glm-cache.sqlite`) and turns it on.
#
# The first run of a cell is sent and stored:

# %%
# %%glm -m glm-4-plus --once -o first
Name three rivers of France.

# %% [markdown]
# The same cell again is answered from the cache — the footer says `cached` and what it saved,
# and the server saw one request:

# %%
# %%glm -m glm-4-plus --once -o second
Name three rivers of France.

# %%
chats = [r for r in fake.received if r.path.endswith("/chat/completions")]
assert second == first and len(chats) == 1
_glm.cached, _glm.cost, _glm.saved

# %% [markdown]
# A cached answer behaves like a live one: it streams, `-o` and `_glm` hold it, `--schema`
# parses it, and conversations remember it. The key is a hash of everything that determines
# the answer — provider, endpoint, model, the whole request (messages, sampling parameters,
# tools, schema) — so changing any of it asks again. `temperature > 0` is cached too: a
# re-run returns the recorded sample, which is what reproducible means.

# %%
# %%glm -m glm-4-plus --once -t 0.2
Name three rivers of France.

# %%
len([r for r in fake.received if r.path.endswith("/chat/completions")])

# %% [markdown]
# ## Batches re-run from the cache
#
# `batch()` looks every row up in one pass before it starts any worker, so a re-run of a whole
# DataFrame costs nothing and takes a moment:

# %%
import pandas as pd

import glm_magic

reviews = pd.DataFrame({"text": ["Great battery life", "Broke after a week",
                                 "Does what it says", "Too loud"]})
labels = glm_magic.batch(reviews, template="Sentiment of: {text}", model="glm-4-plus",
                         progress=False)
again = glm_magic.batch(reviews, template="Sentiment of: {text}", model="glm-4-plus",
                        progress=False)
assert again["answer"].tolist() == labels["answer"].tolist()
again[["answer", "status", "cost"]]

# %% [markdown]
# Every cached call is still a ledger row — `status == "cached"`, cost 0, and in `saved` what
# it would have cost — so `cost_summary()` shows what the cache saved:

# %%
glm_magic.cost_summary(by="status")[["status", "calls", "cost", "saved", "currency"]]

# %%
# %glm cache

# %% [markdown]
# ## Replay: no key, no server
#
# Switch to replay, take the key away and stop the server: the notebook still runs, with the
# same outputs. This is how CI and a colleague without a key execute it (set
# `%config GLMSettings.cache = "replay"` in the notebook's first cell, and commit the cache
# file). A request the cache does not hold is a one-line `CacheMissError` naming the cell or
# the row — nothing is sent.

# %%
# %glm cache replay
del os.environ["ZHIPUAI_API_KEY"]
fake.close()

# %%
# %%glm -m glm-4-plus --once -o replayed
Name three rivers of France.

# %%
assert replayed == first
replayed_batch = glm_magic.batch(reviews, template="Sentiment of: {text}", model="glm-4-plus",
                                 progress=False)
assert replayed_batch["answer"].tolist() == labels["answer"].tolist()
(replayed_batch["cost"] == 0).all()

# %%
try:
    glm_magic.session().complete("A question nobody asked before", once=True, stream=False,
                                 model="glm-4-plus")
except glm_magic.CacheMissError as err:
    print(err)

# %% [markdown]
# ## Looking after the cache file
#
# - `%glm cache` shows entries, size, hits and the money saved (all time and this session).
# - `%glm cache clear` empties it; `%glm cache clear --older-than 30d` drops what has not been
#   used for a month. A size cap (`GLMSettings.cache_max_mb`, 512 by default) evicts the
#   least recently used answers.
# - A cache file from a cloned project is untrusted input: an entry whose stored request does
#   not hash to its key is ignored, answers are size- and depth-checked and rendered like live
#   ones, the file never holds a key (a request that carries one is not stored), and a corrupt
#   or hostile file is one warning and an empty cache. The cache settings themselves are
#   yours alone: a project's `pyproject.toml` cannot turn the cache on or point it elsewhere.
# - Two kernels can share one file; a killed kernel loses at most the entry it was writing,
#   never the answer or its ledger row.

# %%
# %glm cache off
