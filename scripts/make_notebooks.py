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
    md("## Interpolation: `{name}` and `{expr}` from your namespace; other braces stay"),
    code('city = "Paris"\nnumbers = [3, 4]'),
    code('%%glm --dry-run\nWhat country is {city} in? The sum is {sum(numbers)}. '
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

NOTEBOOKS = {"01-quickstart.ipynb": QUICKSTART, "02-magics.ipynb": MAGICS}


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
