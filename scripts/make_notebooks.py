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
    code("import glm_magic\nglm_magic.usage()[['provider', 'model', 'source', 'status', "
         "'prompt_tokens', 'completion_tokens', 'cost', 'cost_status']]"),
    code("assert (glm_magic.usage()['status'] == 'ok').all()\n"
         "print(len(glm_magic.usage()), 'calls recorded')", check=False),
]

NOTEBOOKS = {"01-quickstart.ipynb": QUICKSTART}


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
