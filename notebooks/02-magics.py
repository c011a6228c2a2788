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
# # Every `%%glm` option
#
# This notebook runs offline on the bundled local model (`%config GLMMagics.provider = "local"`).
# Remove that line and set `ZHIPUAI_API_KEY` to run the same cells on GLM. Options that only
# make sense on GLM (vision, JSON mode) are shown with `--dry-run`, which prints the exact request
# and its estimated cost and sends nothing.

# %%
# %load_ext glm_magic
# %config GLMMagics.provider = "local"

# %% [markdown]
# ## Sampling: `-t`, `--top-p`, `--max-tokens`, `--stop`, `--seed`, `--param`

# %%
# %%glm -t 0 --max-tokens 40
What color is the sky on a clear day?

# %%
# %%glm -t 0.7 --top-p 0.9 --seed 7 --max-tokens 30 --stop . --param repeat_penalty=1.1
What is the capital of Germany?

# %% [markdown]
# ## Conversations: `-s`, `-c`, `--new`, `--once`

# %%
# %%glm -s "You are a geography teacher." --new -t 0 --max-tokens 30
What is the capital of Italy?

# %%
# %%glm -t 0 --max-tokens 30
Which river flows through it?

# %%
# %%glm -c scratch -t 0 --max-tokens 20
My name is Ada.

# %%
# %%glm --once -t 0 --max-tokens 20
This question is not remembered.

# %%
# %glm chats

# %%
# %glm history

# %% [markdown]
# ## Results: `-o`, `_glm`, `-f`, `--no-stream`

# %%
# %%glm -o answer -t 0 --max-tokens 20 --once
What is the capital of Spain?

# %%
print(repr(answer))
print(_glm.usage, _glm.finish_reason)

# %%
# %%glm -f code --once -t 0 --max-tokens 60
How do I print hello in Python? Answer with code.

# %%
# %%glm -f text --no-stream --once -t 0 --max-tokens 20
Say hello.

# %% [markdown]
# ## Interpolation: `{name}` from your namespace, `{=expr}` to evaluate; other braces stay

# %%
city = "Paris"
numbers = [3, 4]

# %%
# %%glm --dry-run
What country is {city} in? The sum is {=sum(numbers)}. This JSON stays: {"a": 1}. Escaped: {{city}}.

# %%
# %%glm --dry-run --no-interpolate
Sent verbatim: {city}

# %% [markdown]
# ## GLM-only features, shown as dry runs

# %%
# %%glm --dry-run -p zhipu -m glm-4v --image https://img1.baidu.com/it/u=1369931113,3388870256&fm=253 --once
图里有什么

# %%
# %%glm --dry-run -p zhipu -m glm-4-plus --json --once
List two fruits as a JSON object.

# %% [markdown]
# ## Bad input is a one-line error, and nothing is sent

# %% tags=["raises-exception"]
# %%glm -t hot
hello

# %% [markdown]
# The error is a value too: the next cell checks it is the one we meant.

# %%
import sys

print(sys.last_value)
assert "-t/--temperature" in str(sys.last_value) or "temperature" in str(sys.last_value)
assert "hot" in str(sys.last_value)

# %% tags=["raises-exception"]
# %glm frobnicate

# %%
print(sys.last_value)
assert "unknown subcommand 'frobnicate'" in str(sys.last_value)

# %% [markdown]
# ## Subcommands

# %%
# %glm models zhipu

# %%
# %glm config

# %%
import os
import tempfile

path = os.path.join(tempfile.mkdtemp(), 'chat.json')
# %glm save default {path}
# %glm reset default
# %glm load {path}

# %%
# %glm budget 1 CNY

# %%
# %glm usage

# %%
# %glm reset --all
