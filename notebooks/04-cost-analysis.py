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
# # Usage and cost analysis
#
# Every call — from `%%glm`, the chat panel, `batch()` or `Session.complete` — is a row in a
# SQLite ledger (`GLM_MAGIC_LEDGER`, default `~/.local/share/glm-magic/ledger.sqlite`), so nothing
# is lost when the kernel dies. Costs are in the provider's own currency (CNY for Zhipu, Qianfan,
# DashScope); an unknown price is NaN with `cost_status == "unpriced"`, never a silent 0.
#
# This notebook runs on the local model. The local model is free, so we give it a price to show
# the cost tools (prices are yours to override: `glm_magic.pricing.set_price`).

# %%
import glm_magic
from glm_magic import pricing

# %load_ext glm_magic
# %config GLMMagics.provider = "local"
pricing.set_price("gemma-3-270m-q4_k_m", provider="local", input=2.0, output=8.0,
                  currency="CNY", source="demo price")

# %%
# %%glm -t 0 --max-tokens 20
What is the capital of France?

# %%
# %%glm -t 0 --max-tokens 20
Which river flows through it?

# %%
# %%glm -c other -t 0 --max-tokens 20
What is the capital of Japan?

# %% [markdown]
# ## The ledger as a DataFrame

# %%
df = glm_magic.usage()
df[["time", "provider", "model", "conversation", "status", "prompt_tokens",
    "completion_tokens", "latency_s", "ttft_s", "cost", "currency", "cost_status"]]

# %%
df.dtypes

# %% [markdown]
# ## Summaries and plots

# %%
glm_magic.cost_summary(by="conversation")

# %%
glm_magic.cost_summary(by="day")

# %%
glm_magic.plot_usage(kind="cost")

# %%
glm_magic.plot_usage(kind="tokens")

# %%
glm_magic.plot_usage(kind="latency")

# %% [markdown]
# ## Prices: as-of dates, tiers, unknown models
#
# `%glm models` lists each model with its context window, longest answer, thinking switch and
# price (first length tier; cached input; the Batch API's half price), each with its source and
# as-of date. Prices older than 180 days are flagged: check the source before trusting them.

# %%
models = %glm models zhipu
models[["model", "kind", "context", "max_output", "thinking", "input_per_M",
        "cached_input_per_M", "output_per_M", "currency", "price_as_of", "price_stale"]].head(8)

# %%
from glm_magic.types import Usage

# GLM-4.5 and later (GLM-5.1, GLM-5, …) charge by the length of the input, cached input less
for p, c in [(1_000, 100), (1_000, 1_000), (100_000, 1_000)]:
    print(p, c, pricing.cost("zhipu", "glm-5", Usage(p, c, p + c)))
print("8k of 10k cached:", pricing.cost("zhipu", "glm-5", Usage(10_000, 500, 10_500,
                                                               cached_tokens=8_000)))
print("at the Batch API's price:", pricing.cost("zhipu", "glm-5.1", Usage(1_000, 100, 1_100),
                                               batch=True))
print(pricing.cost("zhipu", "some-future-model", Usage(10, 10, 20)))

# %% [markdown]
# Show costs in another currency only with a rate you choose, printed beside the figure:

# %%
# %config GLMMagics.exchange_rate = "USD 0.14"

# %%
# %%glm -t 0 --max-tokens 10 --once
Say hello.

# %% [markdown]
# ## Budgets and dry runs

# %%
# %glm budget 0.01 CNY

# %%
# %%glm --dry-run -t 0
How much would this prompt cost?

# %%
# %glm budget

# %%
# %glm budget off

# %% [markdown]
# ## Export

# %%
import os
import tempfile

path = os.path.join(tempfile.mkdtemp(), "usage.csv")
# %glm usage --csv {path}
with open(path) as f:
    print(f.readline()[:120])
