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
# # glm-magic quickstart
#
# `%load_ext glm_magic` gives you `%%glm`: the cell body is the prompt and the answer streams
# in place. With no `ZHIPUAI_API_KEY` set, the bundled local model answers (no key, no
# network); set the key (environment or a `.env` file) and the same cells talk to GLM.

# %%
# %load_ext glm_magic

# %% [markdown]
# Ask something. `-t 0` makes the answer deterministic; the grey footer shows the model, tokens in → out, latency and cost.

# %%
# %%glm -t 0
What is the capital of France?

# %% [markdown]
# Consecutive cells continue one conversation: the follow-up relies on memory.

# %%
# %%glm -t 0
Which river flows through it?

# %% [markdown]
# `_glm` holds the last full `Completion` (usage, finish reason, id).

# %%
print(_glm.text)
print(_glm.usage)
assert _glm.status == 'ok' and _glm.text.strip() and _glm.usage.completion_tokens > 0

# %%
# %glm history

# %% [markdown]
# The same thing from Python, with the call shape of the official SDKs:

# %%
from glm_magic import Client

client = Client(provider="local")
resp = client.chat.completions.create(
    model="default",
    messages=[{"role": "user", "content": "What is the capital of Japan?"}],
    temperature=0,
)
print(resp.choices[0].message.content)
print(resp.usage.prompt_tokens, resp.usage.completion_tokens)

# %% [markdown]
# Every call is a row in the usage ledger:

# %%
import glm_magic

glm_magic.usage()[['provider', 'model', 'source', 'status', 'prompt_tokens', 'completion_tokens', 'cost', 'cost_status']]

# %%
assert (glm_magic.usage()['status'] == 'ok').all()
print(len(glm_magic.usage()), 'calls recorded')
