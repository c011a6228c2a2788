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
# # GLM beyond plain chat
#
# Async tasks, CogView images, vision, function calling, web search and thinking — the examples
# of Zhipu's API documentation and its official SDK, each one line.
#
# These features need GLM. So that this notebook runs anywhere (and in CI) it starts
# `glm_magic.testing.FakeGLM`, a loopback server that speaks Zhipu's wire format, and points
# `ZHIPUAI_BASE_URL` at it. **With a real key, delete the first code cell** and everything below
# talks to open.bigmodel.cn.

# %%
import os

from glm_magic.testing import FakeGLM, Reply, sse

fake = FakeGLM()
os.environ["ZHIPUAI_API_KEY"] = fake.api_key
os.environ["ZHIPUAI_BASE_URL"] = fake.base_url

# %%
# %load_ext glm_magic

# %% [markdown]
# ## Async tasks (Zhipu's "异步调用", `client.chat.asyncCompletions`)
#
# `--async` submits and prints the task id; `%glm result ID --wait` polls with backoff until it is done. The ledger row is written when the result arrives.

# %%
# %%glm --async -m glm-4 -o task_id
请写一首关于秋天的诗

# %%
# %glm tasks

# %%
# %glm result {task_id} --wait

# %% [markdown]
# The same from Python, with the official SDK's names:

# %%
from glm_magic import Client

client = Client()
task = client.chat.asyncCompletions.create(
    model="glm-4",
    messages=[{"role": "user", "content": "作为童话之王,请以始终保持一颗善良的心为主题,写一篇简短的童话故事"}],
)
print(task.id, task.task_status)
result = client.chat.asyncCompletions.wait(task.id, timeout=60, poll=0.2)
print(result.task_status, result.choices[0].message.content)

# %% [markdown]
# ## Images (Zhipu's "文生图", CogView) — shown inline, priced per image

# %%
# %glm image -m cogview-3 --size 1024x1024 -o picture 一只可爱的小猫咪

# %%
resp = client.images.generations(model="cogview-3", prompt="一只可爱的小猫咪")
print(resp.data[0].url)

# %% [markdown]
# ## Vision (glm-4v): URLs pass as given, files and PIL images become base64

# %%
# %%glm -m glm-4v --once --image https://img1.baidu.com/it/u=1369931113,3388870256
图里有什么

# %%
from glm_magic.media import vision_message

resp = client.chat.completions.create(
    model="glm-4v", messages=[vision_message("图里有什么", "https://img1.baidu.com/it/u=1")])
print(resp.choices[0].message.content)


# %% [markdown]
# ## Function calling (the `tools` parameter of Zhipu's chat API)
#
# `--tools f,g` turns plain Python functions into tool schemas (signature, type hints,
# docstring), runs the calls the model asks for and sends the results back, until it answers.
# Every call is shown. Here we script the fake server to ask for the weather the way GLM does.

# %%
def get_weather(city: str) -> dict:
    """Current weather for a city.

    city: the city name, e.g. 北京
    """
    return {"city": city, "weather": "晴", "temperature": 21}


call = {"index": 0, "id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "北京"}'}}
fake.push(Reply(events=sse(
    {"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
     "usage": {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}})))

# %%
# %%glm --tools get_weather --once
# 北京今天天气怎么样?

# %%
from glm_magic.tools import tool_schema

tool_schema(get_weather)

# %% [markdown]
# ## Web search, retrieval and thinking (shown as the request they send)

# %%
# %%glm --dry-run --web-search --once -m glm-4-plus
# 今天有什么科技新闻?

# %%
# %%glm --dry-run --retrieval 1234567890 --once
# 公司的年假制度是什么?

# %%
# %%glm --dry-run --thinking -m glm-4.6 --once
9.11 和 9.9 哪个大?

# %% [markdown]
# ## Zhipu's tool APIs from the notebook: search, reader, file parser, MCP
#
# `%glm search` lists web results as an escaped table (`-o hits` keeps the DataFrame),
# `%glm read URL -o page` keeps a page's text, and `%glm parse PATH -o doc` sends a PDF, Word,
# Excel, PowerPoint or text file through Zhipu's file parser and keeps its text — which a
# prompt then uses as `{doc}`, cut to the prompt budget like any value.

# %%
# %glm search -e search_pro -n 3 GLM-5.3 release

# %%
from glm_magic.testing.zhipu_tools import sample_docx

sample_docx("report.docx", ["Quarterly report", "Sales rose 4% in Q3.", "Costs fell 2%."])

# %%
# %glm parse -o report report.docx

# %%
# %%glm --once
Summarise in one line: {report}

# %% [markdown]
# `--mcp LABEL` lets GLM call an MCP server's tools on the server side (one of Zhipu's own MCP
# servers by its label, or `label=https://…` for another); each call and its output are listed
# under the answer, escaped like the references.

# %%
# %%glm --mcp search-mcp --once
Latest AI trends?

# %% [markdown]
# Every call above is in the ledger:

# %%
import glm_magic

glm_magic.usage()[["provider", "model", "status", "prompt_tokens", "completion_tokens", "cost", "cost_status", "images"]]

# %%
import os

os.remove("report.docx")
fake.close()
