"""`make demo`: run notebooks/01-quickstart.ipynb headless on the bundled local model and
print the answers. No API key, no network."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "notebooks" / "01-quickstart.ipynb"
OUT = ROOT / "build" / "01-quickstart.executed.ipynb"


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
        answer = footer = ""
        for out in cell.outputs:
            data = out.get("data", {})
            if "text/markdown" in data:
                answer = data["text/markdown"]
            elif "text/html" in data and "glm-footer" in data["text/html"]:
                footer = data["text/html"].split(">", 1)[1].rsplit("<", 1)[0]
        print(f"\n> {prompt}\n{answer}\n  [{footer}]")
    print(f"\nexecuted in {elapsed:.1f} s; notebook saved to {OUT.relative_to(ROOT)}")
    print(f"usage ledger: {env_ledger}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
