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
# # Embeddings for DataFrames
#
# `glm_magic.embed(column)` turns texts into vectors — a float32 numpy array with one row per
# input row — for semantic search, clustering and deduplication. Requests are packed up to the
# provider's documented maximum, run concurrently with the same rate-limit handling as
# `batch()`, priced and recorded in the ledger (`source == "embed"`), and **cached** in a
# SQLite file beside the ledger: running the cell again sends only new texts. Empty rows stay
# NaN and are never sent.
#
# Here everything runs on the bundled local model (no key, no network). It is a chat model, so
# its vectors are mean-pooled hidden states — good enough to see the mechanics; use
# `embedding-3` (Zhipu) or an embedding GGUF for real work.

# %%
import numpy as np
import pandas as pd

import glm_magic

notes = pd.DataFrame({"text": [
    "The cat sat on the mat.", "A kitten sleeps on the rug.", "Dogs love long walks.",
    "Stock markets fell sharply today.", "Investors sold shares after the report.",
    "The central bank raised interest rates.", "Rain is expected tomorrow.",
    "A sunny weekend is forecast.", None,
]})

vectors = glm_magic.embed(notes["text"], provider="local", progress=False)
vectors.shape, vectors.dtype

# %% [markdown]
# The empty row is NaN, and a second run costs nothing: every text comes from the cache.

# %%
np.isnan(vectors[-1]).all()

# %%
again = glm_magic.embed(notes["text"], provider="local", progress=False)
np.array_equal(again[:-1], vectors[:-1])

# %% [markdown]
# ## Nearest neighbours
#
# `similar(query, texts, vectors)` returns the `k` nearest rows with their cosine scores —
# numpy only, no vector database.

# %%
glm_magic.similar("pets sleeping at home", notes["text"], vectors=vectors, k=3,
                  provider="local")

# %% [markdown]
# ## Clusters in two dimensions
#
# A 2-D projection (PCA with numpy) and k-means by hand are enough to see the groups.

# %%
rows = ~np.isnan(vectors).any(axis=1)
X = vectors[rows] - vectors[rows].mean(axis=0)
_, _, vt = np.linalg.svd(X, full_matrices=False)
xy = X @ vt[:2].T

rng = np.random.default_rng(0)
centres = X[rng.choice(len(X), 3, replace=False)]
for _ in range(20):
    labels = np.argmin(((X[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    centres = np.stack([X[labels == c].mean(0) if (labels == c).any() else centres[c]
                        for c in range(3)])

import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="viridis")
for (x, y), text in zip(xy, notes["text"][rows], strict=True):
    ax.annotate(text[:22], (x, y), fontsize=7)
ax.set_title("notes in two dimensions, coloured by cluster");

# %% [markdown]
# ## What it cost
#
# Every request is a ledger row; cache hits are not. `dry_run=True` estimates a run without
# sending anything.

# %%
glm_magic.usage(source="embed")[["provider", "model", "prompt_tokens", "cost_status"]]

# %%
glm_magic.embed(["a text not seen before"] + list(notes["text"]), provider="local",
                dry_run=True)

# %% [markdown]
# The same calls work on every provider: `glm_magic.embed(col, model="embedding-3")` on Zhipu
# (64 texts per request, ¥0.5 per million tokens), `provider="openai"` (and any
# OpenAI-compatible server), `provider="dashscope"` (`text-embedding-v3`, native API), and
# `client.embeddings.create(model=..., input=[...])` gives the SDKs' response shape.
