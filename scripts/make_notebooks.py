"""Writes the tutorial notebooks from the cell lists below (so they are reviewed as code).

Run `python scripts/make_notebooks.py` after editing; the .ipynb files are committed
without outputs, and nbval executes them in `make test`."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent.parent / "notebooks"


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str, check: bool = False):
    src = text.strip()
    if check:
        src = "# NBVAL_CHECK_OUTPUT\n" + src
    return new_code_cell(src)


QUICKSTART = [
    md("""
# glm-magic quickstart

`%load_ext glm_magic` gives you `%%glm`: the cell body is the prompt and the answer streams
in place. With no `ZHIPUAI_API_KEY` set, the bundled local model answers (no key, no
network); set the key (environment or a `.env` file) and the same cells talk to GLM.
"""),
    code("%load_ext glm_magic"),
    md("Ask something. `-t 0` makes the answer deterministic; the grey footer shows the model, "
       "tokens in → out, latency and cost."),
    code("%%glm -t 0\nWhat is the capital of France?"),
    md("Consecutive cells continue one conversation: the follow-up relies on memory."),
    code("%%glm -t 0\nWhich river flows through it?"),
    md("`_glm` holds the last full `Completion` (usage, finish reason, id)."),
    code("print(_glm.text)\nprint(_glm.usage)\nassert 'Paris' in _glm.text or _glm.text"),
    code("%glm history"),
    md("The same thing from Python, with the call shape of the official SDKs:"),
    code("""
from glm_magic import Client

client = Client(provider="local")
resp = client.chat.completions.create(
    model="default",
    messages=[{"role": "user", "content": "What is the capital of Japan?"}],
    temperature=0,
)
print(resp.choices[0].message.content)
print(resp.usage.prompt_tokens, resp.usage.completion_tokens)
"""),
    md("Every call is a row in the usage ledger:"),
    code("import glm_magic\n\nglm_magic.usage()[['provider', 'model', 'source', 'status', "
         "'prompt_tokens', 'completion_tokens', 'cost', 'cost_status']]"),
    code("assert (glm_magic.usage()['status'] == 'ok').all()\n"
         "print(len(glm_magic.usage()), 'calls recorded')", check=False),
]

MAGICS = [
    md("""
# Every `%%glm` option

This notebook runs offline on the bundled local model (`%config GLMMagics.provider = "local"`).
Remove that line and set `ZHIPUAI_API_KEY` to run the same cells on GLM. Options that only
make sense on GLM (vision, JSON mode) are shown with `--dry-run`, which prints the exact request
and its estimated cost and sends nothing.
"""),
    code('%load_ext glm_magic\n%config GLMMagics.provider = "local"'),
    md("## Sampling: `-t`, `--top-p`, `--max-tokens`, `--stop`, `--seed`, `--param`"),
    code("%%glm -t 0 --max-tokens 40\nWhat color is the sky on a clear day?"),
    code("%%glm -t 0.7 --top-p 0.9 --seed 7 --max-tokens 30 --stop . --param repeat_penalty=1.1\n"
         "What is the capital of Germany?"),
    md("## Conversations: `-s`, `-c`, `--new`, `--once`"),
    code('%%glm -s "You are a geography teacher." --new -t 0 --max-tokens 30\n'
         "What is the capital of Italy?"),
    code("%%glm -t 0 --max-tokens 30\nWhich river flows through it?"),
    code("%%glm -c scratch -t 0 --max-tokens 20\nMy name is Ada."),
    code("%%glm --once -t 0 --max-tokens 20\nThis question is not remembered."),
    code("%glm chats"),
    code("%glm history"),
    md("## Results: `-o`, `_glm`, `-f`, `--no-stream`"),
    code("%%glm -o answer -t 0 --max-tokens 20 --once\nWhat is the capital of Spain?"),
    code("print(repr(answer))\nprint(_glm.usage, _glm.finish_reason)"),
    code("%%glm -f code --once -t 0 --max-tokens 60\nHow do I print hello in Python? "
         "Answer with code."),
    code("%%glm -f text --no-stream --once -t 0 --max-tokens 20\nSay hello."),
    md("## Interpolation: `{name}` from your namespace, `{=expr}` to evaluate; other braces stay"),
    code('city = "Paris"\nnumbers = [3, 4]'),
    code('%%glm --dry-run\nWhat country is {city} in? The sum is {=sum(numbers)}. '
         'This JSON stays: {"a": 1}. Escaped: {{city}}.'),
    code('%%glm --dry-run --no-interpolate\nSent verbatim: {city}'),
    md("## GLM-only features, shown as dry runs"),
    code("%%glm --dry-run -p zhipu -m glm-4v --image "
         "https://img1.baidu.com/it/u=1369931113,3388870256&fm=253 --once\n图里有什么"),
    code("%%glm --dry-run -p zhipu -m glm-4-plus --json --once\n"
         "List two fruits as a JSON object."),
    md("## Bad input is a one-line error, and nothing is sent"),
    code("# NBVAL_RAISES_EXCEPTION\n%%glm -t hot\nhello"),
    code("# NBVAL_RAISES_EXCEPTION\n%glm frobnicate"),
    md("## Subcommands"),
    code("%glm models zhipu"),
    code("%glm config"),
    code("import os\nimport tempfile\n\npath = os.path.join(tempfile.mkdtemp(), 'chat.json')\n"
         "%glm save default {path}\n%glm reset default\n%glm load {path}"),
    code("%glm budget 1 CNY"),
    code("%glm usage"),
    code("%glm reset --all"),
]

COST = [
    md("""
# Usage and cost analysis

Every call — from `%%glm`, the chat panel, `batch()` or `Session.complete` — is a row in a
SQLite ledger (`GLM_MAGIC_LEDGER`, default `~/.local/share/glm-magic/ledger.sqlite`), so nothing
is lost when the kernel dies. Costs are in the provider's own currency (CNY for Zhipu, Qianfan,
DashScope); an unknown price is NaN with `cost_status == "unpriced"`, never a silent 0.

This notebook runs on the local model. The local model is free, so we give it a price to show
the cost tools (prices are yours to override: `glm_magic.pricing.set_price`).
"""),
    code("""
import glm_magic
from glm_magic import pricing

%load_ext glm_magic
%config GLMMagics.provider = "local"
pricing.set_price("gemma-3-270m-q4_k_m", provider="local", input=2.0, output=8.0,
                  currency="CNY", source="demo price")
"""),
    code("%%glm -t 0 --max-tokens 20\nWhat is the capital of France?"),
    code("%%glm -t 0 --max-tokens 20\nWhich river flows through it?"),
    code("%%glm -c other -t 0 --max-tokens 20\nWhat is the capital of Japan?"),
    md("## The ledger as a DataFrame"),
    code("""
df = glm_magic.usage()
df[["time", "provider", "model", "conversation", "status", "prompt_tokens",
    "completion_tokens", "latency_s", "ttft_s", "cost", "currency", "cost_status"]]
"""),
    code("df.dtypes"),
    md("## Summaries and plots"),
    code('glm_magic.cost_summary(by="conversation")'),
    code('glm_magic.cost_summary(by="day")'),
    code('glm_magic.plot_usage(kind="cost")'),
    code('glm_magic.plot_usage(kind="tokens")'),
    code('glm_magic.plot_usage(kind="latency")'),
    md("## Prices: as-of dates, tiers, unknown models"),
    code("%glm models zhipu"),
    code("""
from glm_magic.types import Usage

# GLM-4.5+ charge by the length of input and output
for p, c in [(1_000, 100), (1_000, 1_000), (100_000, 1_000)]:
    print(p, c, pricing.cost("zhipu", "glm-4.6", Usage(p, c, p + c)))
print(pricing.cost("zhipu", "some-future-model", Usage(10, 10, 20)))
"""),
    md("Show costs in another currency only with a rate you choose, printed beside the figure:"),
    code('%config GLMMagics.exchange_rate = "USD 0.14"'),
    code("%%glm -t 0 --max-tokens 10 --once\nSay hello."),
    md("## Budgets and dry runs"),
    code("%glm budget 0.01 CNY"),
    code("%%glm --dry-run -t 0\nHow much would this prompt cost?"),
    code("%glm budget"),
    code("%glm budget off"),
    md("## Export"),
    code("""
import os
import tempfile

path = os.path.join(tempfile.mkdtemp(), "usage.csv")
%glm usage --csv {path}
with open(path) as f:
    print(f.readline()[:120])
"""),
]

PROVIDERS = [
    md("""
# Every API from the seeds

glm-magic speaks five dialects with one call shape (`client.chat.completions.create`), one
exception tree and one usage ledger. Keys come from the environment or `.env`:

| provider | env vars | notes |
|---|---|---|
| `zhipu` | `ZHIPUAI_API_KEY`, `ZHIPUAI_BASE_URL` | GLM v4; `auth="jwt"` signs tokens like the SDK |
| `openai` | `OPENAI_API_KEY`, `OPENAI_BASE_URL` | any OpenAI-compatible server; presets `deepseek`, `qianfan_v2`, `dashscope_compat`, `ollama` |
| `qianfan` | `QIANFAN_AK`, `QIANFAN_SK`, `QIANFAN_BASE_URL` | Baidu wenxinworkshop; the model name is the endpoint |
| `dashscope` | `DASHSCOPE_API_KEY`, `DASHSCOPE_BASE_URL` | Alibaba Qwen, native API |
| `zhipu_v3` | `ZHIPUAI_API_KEY`, `ZHIPUAI_V3_BASE_URL` | legacy (retired for new keys) |
| `local` | `GLM_MAGIC_LOCAL_MODEL` | a GGUF in-process, no key |

Without keys this notebook shows each seed's request with `--dry-run` (exactly what would be
sent, key masked) and runs the OpenAI-compatible path for real against llama-cpp-python's own
server on this machine.
"""),
    code("%load_ext glm_magic"),
    md("## Seed 000 — GLM-4 multi-turn (zhipu)"),
    code('%%glm --dry-run -p zhipu -m glm-4 --new -s "你是一个乐于解答各种问题的助手"\n'
         "作为一名营销专家,请为我的产品创作一个吸引人的slogan"),
    md("""
With `ZHIPUAI_API_KEY` set:

```python
from glm_magic import Client
client = Client()   # provider zhipu
response = client.chat.completions.create(model="glm-4", messages=[...])
print(response.choices[0].message)
```
"""),
    md("## Seed 003 — an OpenAI-compatible gateway (glm-4.7), for real on loopback"),
    code("""
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
"""),
    code("""
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
"""),
    code("%%glm -p gateway -t 0 --max-tokens 20 --stop USER: --once\n"
         "What is the capital of Italy?"),
    code('glm_magic.usage()[["provider", "model", "status", "prompt_tokens", '
         '"completion_tokens", "usage_estimated", "cost_status"]]'),
    code("server.terminate()\nserver.wait()"),
    md("## Seed 004 — ChatGLM3-6B on Baidu Qianfan"),
    code("%%glm --dry-run -p qianfan -m ChatGLM3-6B -t 0.8 --param top_k=3 --param "
         "penalty_score=1.1 --once\n你好"),
    code("%glm models qianfan"),
    md("## Seed 001 — Qwen on DashScope"),
    code("%%glm --dry-run -p dashscope -m qwen-turbo --seed 1234 --param top_p=0.8 --once\n"
         "用萝卜、土豆、茄子做饭,给我个菜谱"),
    md("## Seed 002 — the legacy ChatGLM v3 API"),
    code("%%glm --dry-run -p zhipu_v3 -m chatglm_pro --once\n你都可以做些什么事"),
    code("%glm models zhipu_v3"),
    md("## Bad input per provider is caught before sending"),
    code("# NBVAL_RAISES_EXCEPTION\n%%glm -p qianfan -t 0 --once\nhello"),
]

PANEL = [
    md("""
# The chat panel

`ChatPanel` (or `%glm chat`) is a chat in the notebook with nothing but ipywidgets: answers
stream in, **Stop** ends one at once (the partial text stays, marked stopped), **Retry**
regenerates, **Undo** drops the last exchange, **Clear** empties the conversation. The status
line shows tokens, latency and cost of the last turn and of the session. Model output is
rendered as Markdown and sanitized (no scripts, no event handlers, no `javascript:` links).

The panel shares conversations with `%%glm`: `ChatPanel(chat="default")` continues the
conversation of your `%%glm` cells and vice versa.
"""),
    code('%load_ext glm_magic\n%config GLMMagics.provider = "local"'),
    code("%%glm -t 0 --max-tokens 30\nWhat is the capital of France?"),
    code("""
from glm_magic import ChatPanel

panel = ChatPanel(chat="default")   # shows the exchange from the cell above
panel.temperature_w.value = 0.0
panel
"""),
    md("Type in the box and press Enter — or drive it from code. In a notebook `send()` "
       "returns a task: `await` it for the finished `Completion`."),
    code('comp = await panel.send("Which river flows through it?")\nprint(comp.text, comp.usage)'),
    code("panel.messages"),
    code("retried = await panel.retry()\nprint(retried.text)"),
    code("panel.undo()\nlen(panel.messages)"),
    md("Every panel turn is in the ledger with `source == 'widget'`:"),
    code('import glm_magic\n\nglm_magic.usage(source="widget")[["model", "status", '
         '"prompt_tokens", "completion_tokens", "latency_s", "cost_status"]]'),
    code("panel.clear()\npanel.messages"),
]

FEATURES = [
    md("""
# GLM beyond plain chat

Async tasks, CogView images, vision, function calling, web search and thinking — the examples
of seeds 000 and 001, each one line.

These features need GLM. So that this notebook runs anywhere (and in CI) it starts
`glm_magic.testing.FakeGLM`, a loopback server that speaks Zhipu's wire format, and points
`ZHIPUAI_BASE_URL` at it. **With a real key, delete the first code cell** and everything below
talks to open.bigmodel.cn.
"""),
    code("""
import os

from glm_magic.testing import FakeGLM, Reply, sse

fake = FakeGLM()
os.environ["ZHIPUAI_API_KEY"] = fake.api_key
os.environ["ZHIPUAI_BASE_URL"] = fake.base_url
"""),
    code("%load_ext glm_magic"),
    md("## Async tasks (seed 001 \"GLM_4 异步调用\")\n\n`--async` submits and prints the task "
       "id; `%glm result ID --wait` polls with backoff until it is done. The ledger row is "
       "written when the result arrives."),
    code("%%glm --async -m glm-4 -o task_id\n请写一首关于秋天的诗"),
    code("%glm tasks"),
    code("%glm result {task_id} --wait"),
    md("The same from Python, with the official SDK's names:"),
    code("""
from glm_magic import Client

client = Client()
task = client.chat.asyncCompletions.create(
    model="glm-4",
    messages=[{"role": "user", "content": "作为童话之王,请以始终保持一颗善良的心为主题,写一篇简短的童话故事"}],
)
print(task.id, task.task_status)
result = client.chat.asyncCompletions.wait(task.id, timeout=60, poll=0.2)
print(result.task_status, result.choices[0].message.content)
"""),
    md("## Images (seed 001 \"文生图\", CogView) — shown inline, priced per image"),
    code("%glm image -m cogview-3 --size 1024x1024 -o picture 一只可爱的小猫咪"),
    code("""
resp = client.images.generations(model="cogview-3", prompt="一只可爱的小猫咪")
print(resp.data[0].url)
"""),
    md("## Vision (seed 000, glm-4v): URLs pass as given, files and PIL images become base64"),
    code("%%glm -m glm-4v --once --image https://img1.baidu.com/it/u=1369931113,3388870256\n"
         "图里有什么"),
    code("""
from glm_magic.media import vision_message

resp = client.chat.completions.create(
    model="glm-4v", messages=[vision_message("图里有什么", "https://img1.baidu.com/it/u=1")])
print(resp.choices[0].message.content)
"""),
    md("""
## Function calling (seed 000 tools)

`--tools f,g` turns plain Python functions into tool schemas (signature, type hints,
docstring), runs the calls the model asks for and sends the results back, until it answers.
Every call is shown. Here we script the fake server to ask for the weather the way GLM does.
"""),
    code('''
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
'''),
    code("%%glm --tools get_weather --once\n北京今天天气怎么样?"),
    code("from glm_magic.tools import tool_schema\n\ntool_schema(get_weather)"),
    md("## Web search, retrieval and thinking (shown as the request they send)"),
    code("%%glm --dry-run --web-search --once -m glm-4-plus\n今天有什么科技新闻?"),
    code("%%glm --dry-run --retrieval 1234567890 --once\n公司的年假制度是什么?"),
    code("%%glm --dry-run --thinking -m glm-4.6 --once\n9.11 和 9.9 哪个大?"),
    md("Every call above is in the ledger:"),
    code('import glm_magic\n\nglm_magic.usage()[["provider", "model", "status", '
         '"prompt_tokens", "completion_tokens", "cost", "cost_status", "images"]]'),
    code("fake.close()"),
]

BATCH = [
    md("""
# Prompts over DataFrames

`glm_magic.batch()` runs one prompt per row — a list, a Series, or a DataFrame with a
`template` — with bounded concurrency, a progress bar with running cost, rate-limit-aware
slow-down, resume after an interruption, and a ledger row per call (`source == "batch"`).
Results come back aligned with your input, whatever order the answers arrive in.

The first part runs on the bundled local model (rows one after another: one model in
process). The second uses `FakeGLM`, a loopback server that speaks Zhipu's wire format, to
show concurrency and rate limits offline; with `ZHIPUAI_API_KEY` set the same calls go to GLM.
"""),
    code("""
import pandas as pd

import glm_magic

cities = pd.DataFrame({"city": ["Paris", "Rome", "Madrid"], "country": ["France", "Italy", "Spain"]})
cities
"""),
    md("Estimate first: prompt tokens and cost of the whole batch, nothing sent."),
    code('glm_magic.batch(cities, template="What is the capital of {country}?", '
         'provider="local", dry_run=True)'),
    code("""
answers = glm_magic.batch(cities, template="What is the capital of {country}?",
                          provider="local", temperature=0, max_tokens=16)
cities.join(answers[["answer", "status", "completion_tokens", "latency_s"]])
"""),
    md("## Concurrency, rate limits and errors (on the loopback GLM server)"),
    code("""
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
"""),
    code('result[result["attempts"] > 1].head()'),
    code('glm_magic.usage(source="batch")["status"].value_counts()'),
    md("## Resume: rows already answered are not sent again (also after a kernel restart)"),
    code("""
import tempfile

resume_file = os.path.join(tempfile.mkdtemp(), "batch.sqlite")
first = glm_magic.batch(reviews[:50], provider="zhipu", resume=resume_file, progress=False)
sent_before = len(fake.received)
again = glm_magic.batch(reviews[:60], provider="zhipu", resume=resume_file, progress=False)
print("requests for the second run:", len(fake.received) - sent_before)  # only the 10 new rows
"""),
    md("In a notebook `await glm_magic.abatch(...)` does the same without blocking the kernel."),
    code("""
more = await glm_magic.abatch(["one", "two"], provider="zhipu", progress=False)
more
"""),
    code("fake.close()"),
]

NOTEBOOKS = {"01-quickstart.ipynb": QUICKSTART, "02-magics.ipynb": MAGICS,
             "07-batch.ipynb": BATCH,
             "06-glm-features.ipynb": FEATURES,
             "03-chat-panel.ipynb": PANEL,
             "04-cost-analysis.ipynb": COST, "05-providers.ipynb": PROVIDERS}


def build(name: str, cells: list) -> None:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    wanted = sys.argv[1:] or list(NOTEBOOKS)
    for name in wanted:
        build(name, NOTEBOOKS[name])
        print("wrote", HERE / name)
