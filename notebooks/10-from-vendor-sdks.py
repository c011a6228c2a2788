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
# # Coming from the vendor SDKs
#
# The documents you learned from use the vendors' own SDKs: `zhipuai` (old and new), `dashscope`,
# `qianfan` and `openai`. Their examples run through glm-magic with **only the import changed**:
#
# | your code | becomes |
# |---|---|
# | `import zhipuai` (1.x: `model_api.invoke`, `sse_invoke`, …) | `from glm_magic.compat import zhipuai_v1 as zhipuai` |
# | `from zhipuai import ZhipuAI` | `from glm_magic.compat.zhipuai import ZhipuAI` |
# | `from zai import ZhipuAiClient` (zai-sdk) | `from glm_magic.compat.zai import ZhipuAiClient` |
# | `import dashscope` / `from dashscope import Generation` | `from glm_magic.compat import dashscope` |
# | `import qianfan` | `from glm_magic.compat import qianfan` |
# | `from openai import OpenAI` | `from glm_magic.compat.openai import OpenAI` |
#
# The answers have the shapes the SDKs return — dict envelopes, `resp.output.text`,
# `resp["body"]`, `chunk.choices[0].delta` — and every call lands in the ledger, is refused
# once the budget is spent, and can be continued in `%%glm`.
#
# This notebook runs each guide's example against loopback servers that speak the vendor's wire
# format (no key, no network); with real keys in the environment the same cells reach the
# real services.

# %%
import os
import time

from glm_magic.testing import FakeGLM
from glm_magic.testing.dialects import DashScopeServer, OpenAIServer, QianfanServer, ZhipuV3Server
from glm_magic.testing.zhipu import API_KEY

glm4, v3, qwen, baidu, gateway = (FakeGLM(), ZhipuV3Server(API_KEY), DashScopeServer(),
                                   QianfanServer(), OpenAIServer())
os.environ.update({
    "ZHIPUAI_API_KEY": API_KEY, "ZHIPUAI_BASE_URL": glm4.base_url,
    "ZHIPUAI_V3_BASE_URL": v3.base_url,
    "DASHSCOPE_API_KEY": qwen.key, "DASHSCOPE_BASE_URL": qwen.base_url,
    "QIANFAN_BASE_URL": baidu.url,
})
started = time.time()

# %% [markdown]
# ## zhipuai 1.x (the ChatGLM API guide): `model_api.invoke`, `async_invoke`, `sse_invoke`
#
# The legacy v3 API returns an envelope with the content quoted and escaped, exactly as the SDK
# returned it (the ledger and `%%glm` see the clean text).

# %%
from glm_magic.compat import zhipuai_v1 as zhipuai

zhipuai.api_key = API_KEY  # 修改apikey
prompt = [
    {"role": "user", "content": "你好"},
    {"role": "assistant", "content": "我是人工智能助手"},
    {"role": "user", "content": "你叫什么名字"},
    {"role": "assistant", "content": "我叫chatGLM"},
    {"role": "user", "content": "你都可以做些什么事"},
]
response = zhipuai.model_api.invoke(model="chatglm_pro", prompt=prompt)
response

# %%
response = zhipuai.model_api.async_invoke(model="chatglm_pro", prompt=prompt)
task_id = response["data"]["task_id"]
response = zhipuai.model_api.query_async_invoke_result(task_id)  # PROCESSING the first time
response = zhipuai.model_api.query_async_invoke_result(task_id)
response["data"]["task_status"]

# %%
response = zhipuai.model_api.sse_invoke(model="chatglm_pro", prompt=prompt, temperature=0.95,
                                        top_p=0.7, incremental=True)
for event in response.events():
    if event.event == "add":
        print(event.data)
    elif event.event == "error" or event.event == "interrupted":
        print(event.data)
    elif event.event == "finish":
        print(event.data)
        print(event.meta)
    else:
        print(event.data)

# %% [markdown]
# An `error` or `interrupted` event (moderation) arrives as an event after every piece of text
# that came before it — not as an exception — so the guide's loop handles it as written.

# %%
v3.stream_end = "interrupted"  # the loopback server's moderation stop
events = [(e.event, e.data) for e in zhipuai.model_api.sse_invoke(model="chatglm_pro",
                                                                  prompt=prompt[:1]).events()]
v3.stream_end = "finish"
events

# %% [markdown]
# ## zhipuai ≥ 2 — the v4 SDK (`ZhipuAI`), with the SDK's idioms
#
# `print(response)` shows the whole object as the SDK prints it; `model_dump()`,
# `model_dump_json()`, `to_dict()` and `to_json()` work as they do there.

# %%
from glm_magic.compat.zhipuai import ZhipuAI

client = ZhipuAI(api_key="")  # 填写您自己的APIKey (empty: ZHIPUAI_API_KEY is used)
response = client.chat.completions.create(
    model="glm-4",
    messages=[{"role": "user", "content": "作为一名营销专家,请为我的产品创作一个吸引人的slogan"}],
)
print(response.choices[0].message)
response.model_dump()["usage"]

# %% [markdown]
# ## zai-sdk — Zhipu's current SDK (`ZhipuAiClient`, `ZaiClient`)
#
# `ZhipuAiClient` talks to open.bigmodel.cn, `ZaiClient` to api.z.ai (priced in USD); both
# read `ZAI_API_KEY` and `ZAI_BASE_URL`. The requests are the SDK's own — `extra_body` is
# merged into the body, as the SDK does — and so are the exceptions: by HTTP status, with
# `err.response` and the SDK's message, importable from `zai.core._errors` as the SDK's
# examples do.

# %%
from glm_magic.compat import zai
from glm_magic.compat.zai import ZhipuAiClient

os.environ.update({"ZAI_API_KEY": API_KEY, "ZAI_BASE_URL": glm4.base_url})
client = ZhipuAiClient()
response = client.chat.completions.create(
    model="glm-5.1",
    messages=[{"role": "user", "content": "Hello, please introduce yourself"}],
    extra_body={"temperature": 0.5},
)
print(response.choices[0].message.content)
vectors = client.embeddings.create(model="embedding-3", input=["hello", "world"],
                                   extra_body={"dimensions": 4})
[len(d.embedding) for d in vectors.data]

# %% [markdown]
# zai-sdk's tool APIs are there too — `web_search`, `web_reader`, `moderations` — each a row in
# the ledger (priced per call when the price file has a price for the engine).

# %%
found = client.web_search.web_search(search_engine="search_pro", search_query="GLM-5.3",
                                     count=2)
for result in found.search_result:
    print(result.title, result.link)
page = client.web_reader.web_reader(url="https://example.com/glm", return_format="markdown")
print(page.reader_result.title)
client.moderations.create(model="moderation", input="a friendly sentence").result_list[0]["risk_level"]

# %% [markdown]
# The search agent (`tools.web_search`, model `web-search-pro`) answers its intent, results and
# recommended queries as tool calls, or streams them; the file parser takes a document and
# gives its text back from a task, as the SDK's examples do.

# %%
for chunk in client.tools.web_search(model="web-search-pro", stream=True,
                                     messages=[{"role": "user", "content": "GLM-5.3"}]):
    for call in chunk.choices[0].delta.tool_calls or []:
        print(call.type)

# %%
import json

task = client.file_parser.create(file=("notes.md", b"# Notes\n\nShip on Friday."),
                                 file_type="MD", tool_type="lite")
for _ in range(5):
    result = json.loads(client.file_parser.content(task.task_id, format_type="text").content)
    if result["status"] != "processing":
        break
print(result["status"], result["content"])

# %%
from glm_magic.testing.zhipu import zhipu_error

glm4.push(zhipu_error("1302", "High concurrency usage of this API", 429))
try:
    ZhipuAiClient(max_retries=0).chat.completions.create(
        model="glm-5.1", messages=[{"role": "user", "content": "hi"}])
except zai.core._errors.APIReachLimitError as err:
    print(type(err).__name__, err.status_code, err.response.json()["error"]["code"])

# %% [markdown]
# ## DashScope `Generation.call` (Qwen)
#
# A failed call is a response with `status_code`, `code` and `message`, as the SDK returns it.

# %%
import random
from http import HTTPStatus

from glm_magic.compat import dashscope
from glm_magic.compat.dashscope import Role


def call_with_messages():
    messages = [{'role': Role.SYSTEM, 'content': 'You are a helpful assistant.'},
                {'role': Role.USER, 'content': '如何做西红柿炒鸡蛋？'}]
    response = dashscope.Generation.call(
        dashscope.Generation.Models.qwen_turbo,
        messages=messages,
        seed=random.randint(1, 10000),
        result_format='message',
    )
    if response.status_code == HTTPStatus.OK:
        print(response)
    else:
        print('Request id: %s, Status code: %s, error code: %s, error message: %s' % (
            response.request_id, response.status_code, response.code, response.message))


def call_with_prompt(prompt):  # the guide reads the prompt with input()
    response = dashscope.Generation.call(model=dashscope.Generation.Models.qwen_turbo,
                                         prompt=prompt)
    if response.status_code == HTTPStatus.OK:
        print(response.output)
        print(response.usage)
    else:
        print(response.code)
        print(response.message)


call_with_messages()
call_with_prompt("用萝卜、土豆、茄子做饭，给我个菜谱")

# %%
dashscope.api_key = "sk-not-a-real-key"
call_with_prompt("你好")
dashscope.api_key = None

# %% [markdown]
# ## Qianfan `ChatCompletion().do` with IAM keys
#
# Qianfan's guide recommends the IAM Access Key / Secret Key pair: every request is signed
# (`bce-auth-v1`, as the qianfan SDK signs) and the Secret Key never leaves the machine. The
# app's `QIANFAN_AK` / `QIANFAN_SK` pair (an OAuth token) works too.

# %%
from glm_magic.compat import qianfan

os.environ["QIANFAN_ACCESS_KEY"] = baidu.iam_ak  # "your_iam_ak"
os.environ["QIANFAN_SECRET_KEY"] = baidu.iam_sk  # "your_iam_sk"
chat_comp = qianfan.ChatCompletion()
resp = chat_comp.do(endpoint="your_custom_endpoint", messages=[{
    "role": "user",
    "content": "你好"
}])
print(resp["body"])

# %%
resp = chat_comp.do(endpoint="your_custom_endpoint", messages=[{
    "role": "user",
    "content": "你好"
}], stream=True)
for r in resp:
    print(r["body"]["result"], r["body"]["is_end"])

# %% [markdown]
# ## An OpenAI-compatible gateway (GLM-4.7)

# %%
from glm_magic.compat.openai import OpenAI

client = OpenAI(api_key=gateway.key, base_url=gateway.base_url)
response = client.chat.completions.create(
    model="glm-4.7",
    messages=[{"role": "user", "content": "你好,给我科普一下量子力学吧"}],
)
print(response.choices[0].message.content)

# %% [markdown]
# ## The ledger afterwards
#
# Every call above is a row (`source == "compat"`), priced where the model has a price —
# the v3 API's whole answers report only a total, so those rows are split by our own count
# and marked `estimated`.

# %%
import glm_magic

calls = glm_magic.usage(source="compat", since=started)
calls[["provider", "model", "status", "total_tokens", "cost", "currency", "cost_status"]]

# %%
assert set(calls["provider"]) == {"zhipu", "zhipu_v3", "dashscope", "qianfan", "openai"}
answered = calls[(calls["provider"] == "zhipu_v3") & (calls["status"] == "ok")]
assert (answered["cost"] > 0).all() and "estimated" in set(answered["cost_status"])

# %% [markdown]
# ## Continue in `%%glm`
#
# Set a module's `conversation` and each exchange is copied into that conversation, so a
# `%%glm --chat NAME` cell picks up where the SDK code left off.

# %%
# %load_ext glm_magic
zhipuai.conversation = "legacy"
zhipuai.model_api.invoke(model="chatglm_pro", prompt=prompt)["success"]

# %%
# %%glm --chat legacy -m zhipu_v3:chatglm_pro
继续

# %% [markdown]
# ## ChatGLM on your own machine
#
# The ChatGLM API guide deploys ChatGLM-6B on your own machine. Its successors run in-process as GGUF files
# through `provider="local"`, with the chat template read from the file: download e.g.
# `chatglm3-6b.Q4_K_M.gguf` or `glm-4-9b-chat.Q4_K_M.gguf` and name the file:
#
# ```python
# %%glm -m local:/models/chatglm3-6b.Q4_K_M.gguf
# 你好
# ```
#
# or set `GLM_MAGIC_LOCAL_MODEL=/models/chatglm3-6b.Q4_K_M.gguf` once. A bare model name is
# never silently answered by another file: the error says which file would answer and how to
# choose one.

# %% tags=["raises-exception"]
from glm_magic import Client

Client("local").chat.completions.create(model="chatglm-6b",
                                        messages=[{"role": "user", "content": "你好"}])

# %%
import sys

print(sys.last_value)
assert "chatglm-6b" in str(sys.last_value) and ".gguf" in str(sys.last_value)

# %% [markdown]
# The same mechanism with the small model bundled for this tutorial, named by its path:

# %%
from glm_magic.providers.local import bundled_model_path

path = bundled_model_path()
answer = Client("local").chat.completions.create(
    model=path, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8)
os.path.basename(path), answer.choices[0].finish_reason is not None

# %%
for server in (glm4, v3, qwen, baidu, gateway):
    server.close()
