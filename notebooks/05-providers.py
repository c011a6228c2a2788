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
# # Every API our users meet
#
# glm-magic speaks five dialects with one call shape (`client.chat.completions.create`), one
# exception tree and one usage ledger. Keys come from the environment or `.env`:
#
# | provider | env vars | notes |
# |---|---|---|
# | `zhipu` | `ZHIPUAI_API_KEY`, `ZHIPUAI_BASE_URL` | GLM v4; `auth="jwt"` signs tokens like the SDK |
# | `openai` | `OPENAI_API_KEY`, `OPENAI_BASE_URL` | any OpenAI-compatible server; presets `deepseek`, `qianfan_v2`, `dashscope_compat`, `ollama` |
# | `qianfan` | `QIANFAN_AK`, `QIANFAN_SK`, `QIANFAN_BASE_URL` | Baidu wenxinworkshop; the model name is the endpoint |
# | `dashscope` | `DASHSCOPE_API_KEY`, `DASHSCOPE_BASE_URL` | Alibaba Qwen, native API |
# | `zhipu_v3` | `ZHIPUAI_API_KEY`, `ZHIPUAI_V3_BASE_URL` | legacy (retired for new keys) |
# | `local` | `GLM_MAGIC_LOCAL_MODEL` | a GGUF in-process, no key |
#
# Without keys this notebook shows each vendor's request with `--dry-run` (exactly what would be
# sent, key masked) and runs the OpenAI-compatible path for real against llama-cpp-python's own
# server on this machine.

# %%
# %load_ext glm_magic

# %% [markdown]
# ## GLM-4 multi-turn (Zhipu open.bigmodel.cn v4)

# %%
# %%glm --dry-run -p zhipu -m glm-4 --new -s "你是一个乐于解答各种问题的助手"
作为一名营销专家,请为我的产品创作一个吸引人的slogan

# %% [markdown]
# With `ZHIPUAI_API_KEY` set:
#
# ```python
# from glm_magic import Client
# client = Client()   # provider zhipu
# response = client.chat.completions.create(model="glm-4", messages=[...])
# print(response.choices[0].message)
# ```

# %% [markdown]
# ## An OpenAI-compatible gateway (glm-4.7), for real on loopback

# %%
import socket
import subprocess
import sys
import time

import httpx

from glm_magic.providers.local import bundled_model_path

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen(
    [sys.executable, "-m", "llama_cpp.server", "--model", bundled_model_path(), "--host",
     "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--chat_format", "vicuna"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base_url = f"http://127.0.0.1:{port}/v1"
for _ in range(200):
    try:
        httpx.get(base_url + "/models", timeout=1)
        break
    except httpx.HTTPError:
        time.sleep(0.3)

# %%
import glm_magic
from glm_magic import Client

glm_magic.register_provider("gateway", base_url=base_url, key_env="GATEWAY_KEY",
                            default_model="glm-4.7")
client = Client(provider="gateway")
resp = client.chat.completions.create(
    model="glm-4.7",
    messages=[{"role": "user", "content": "What is the capital of France?"}],
    temperature=0, max_tokens=20, n=1, presence_penalty=0, frequency_penalty=0,
    stop=["USER:"],
)
print(resp.choices[0].message.content, resp.usage)

# %%
# %%glm -p gateway -t 0 --max-tokens 20 --stop USER: --once
What is the capital of Italy?

# %%
glm_magic.usage()[["provider", "model", "status", "prompt_tokens", "completion_tokens", "usage_estimated", "cost_status"]]

# %%
server.terminate()
server.wait()

# %% [markdown]
# ## ChatGLM3-6B on Baidu Qianfan

# %%
# %%glm --dry-run -p qianfan -m ChatGLM3-6B -t 0.8 --param top_k=3 --param penalty_score=1.1 --once
你好

# %%
# %glm models qianfan

# %% [markdown]
# ## Qwen on Alibaba DashScope

# %%
# %%glm --dry-run -p dashscope -m qwen-turbo --seed 1234 --param top_p=0.8 --once
用萝卜、土豆、茄子做饭,给我个菜谱

# %% [markdown]
# ## The legacy Zhipu v3 (ChatGLM) API

# %%
# %%glm --dry-run -p zhipu_v3 -m chatglm_pro --once
你都可以做些什么事

# %%
# %glm models zhipu_v3

# %% [markdown]
# ## Bad input per provider is caught before sending

# %% tags=["raises-exception"]
# %%glm -p qianfan -t 0 --once
hello

# %%
import sys

print(sys.last_value)
assert "temperature 0.0 is outside qianfan's range" in str(sys.last_value)
