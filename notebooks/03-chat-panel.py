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
# # The chat panel
#
# `ChatPanel` (or `%glm chat`) is a chat in the notebook with nothing but ipywidgets: answers
# stream in, **Stop** ends one at once (the partial text stays, marked stopped), **Retry**
# regenerates, **Undo** drops the last exchange, **Clear** empties the conversation. The status
# line shows tokens, latency and cost of the last turn and of the session. Model output is
# rendered as Markdown and sanitized (no scripts, no event handlers, no `javascript:` links).
#
# The panel shares conversations with `%%glm`: `ChatPanel(chat="default")` continues the
# conversation of your `%%glm` cells and vice versa.

# %%
# %load_ext glm_magic
# %config GLMMagics.provider = "local"

# %%
# %%glm -t 0 --max-tokens 30
What is the capital of France?

# %%
from glm_magic import ChatPanel

panel = ChatPanel(chat="default")   # shows the exchange from the cell above
panel.temperature_w.value = 0.0
panel

# %% [markdown]
# In JupyterLab the panel above looks like this (a static page, such as the documentation
# site, cannot run widgets, so here is the browser test's screenshot of it):

# %%
from pathlib import Path

from IPython.display import Image

shot = next((p for p in (Path("../docs/chat-panel.png"), Path("chat-panel.png")) if p.exists()),
            None)
Image(filename=str(shot), width=720) if shot else None

# %% [markdown]
# Type in the box and press Enter — or drive it from code. In a notebook `send()` returns a task: `await` it for the finished `Completion`.

# %%
comp = await panel.send("Which river flows through it?")
print(comp.text, comp.usage)

# %%
panel.messages

# %%
retried = await panel.retry()
print(retried.text)

# %%
panel.undo()
len(panel.messages)

# %% [markdown]
# Every panel turn is in the ledger with `source == 'widget'`:

# %%
import glm_magic

glm_magic.usage(source="widget")[["model", "status", "prompt_tokens", "completion_tokens", "latency_s", "cost_status"]]

# %%
panel.clear()
panel.messages
