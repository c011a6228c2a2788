"""`make demo`: run notebooks/01-quickstart.ipynb headless on the bundled local model and
print the answers. No API key, no network."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from html import unescape
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "notebooks" / "01-quickstart.ipynb"
OUT = ROOT / "build" / "01-quickstart.executed.ipynb"


def answer_and_footer(outputs: list[dict]) -> tuple[str, str]:
    """The answer and the footer of one executed `%%glm` cell, as a reader sees them.

    The answer is the first output's `text/plain` (every answer bundle carries one, beside its
    HTML); a long answer streams into several outputs, and at the end the first holds the whole
    of it and the rest are emptied. The footer is the output whose HTML is the grey footer."""
    answer = footer = ""
    for out in outputs:
        data = out.get("data", {})
        html = data.get("text/html", "")
        if "glm-footer" in html:
            footer = unescape(html.split(">", 1)[1].rsplit("<", 1)[0])
        elif "text/plain" in data and not answer:
            answer = data["text/plain"].strip()
    return answer, footer


def main() -> int:
    env_ledger = os.environ.setdefault(
        "GLM_MAGIC_LEDGER", str(Path(tempfile.gettempdir()) / "glm-magic-demo-ledger.sqlite"))
    for var in ("ZHIPUAI_API_KEY", "OPENAI_API_KEY"):
        os.environ.pop(var, None)  # the demo always runs on the local model
    nb = nbformat.read(SOURCE, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    elapsed = time.perf_counter() - t0
    OUT.parent.mkdir(exist_ok=True)
    nbformat.write(nb, OUT)
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.startswith("%%glm"):
            continue
        prompt = cell.source.split("\n", 1)[1]
        answer, footer = answer_and_footer(cell.outputs)
        print(f"\n> {prompt}\n{answer}\n  [{footer}]")
    print(f"\nexecuted in {elapsed:.1f} s; notebook saved to {OUT.relative_to(ROOT)}")
    print(f"usage ledger: {env_ledger}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
