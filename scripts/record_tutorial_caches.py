"""Record the response cache files the tutorials replay (`notebooks/<name>.glm-cache.sqlite`).

A tutorial that replays runs in CI and on a reader's machine with no key and no network, the
same way a user's own notebook does after `%glm cache here` and `%glm cache replay`. This
script makes those files once: it executes each notebook with `%glm cache replay` turned into
`%glm cache on` against FakeGLM (a loopback server that speaks Zhipu's wire format, playing
GLM), then files every entry under GLM's public endpoint — what the notebook asks when it runs
with no `ZHIPUAI_BASE_URL` — and writes the file in rollback-journal mode, so replaying it
(read-only) creates and changes nothing beside it.

    .venv/bin/python scripts/record_tutorial_caches.py            # every replaying tutorial
    .venv/bin/python scripts/record_tutorial_caches.py 08-answers-as-data

Run it after changing a replaying notebook's cells, and commit the .sqlite with the .py/.ipynb.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import jupytext
from nbclient import NotebookClient

from glm_magic.accounting.response_cache import cache_key, request_text
from glm_magic.magic.cache_command import SUFFIX
from glm_magic.providers.zhipu import ZhipuProvider
from glm_magic.testing import FakeGLM

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REPLAYING = ["08-answers-as-data"]
REPLAY_LINE = "%glm cache replay"


def record(name: str) -> Path:
    source = NOTEBOOKS / f"{name}.py"
    target = NOTEBOOKS / f"{name}{SUFFIX}"
    notebook = jupytext.read(source)
    switched = 0
    for cell in notebook.cells:
        if cell.cell_type == "code" and REPLAY_LINE in cell.source:
            cell.source = cell.source.replace(REPLAY_LINE, "%glm cache on")
            switched += 1
    if switched != 1:
        raise SystemExit(f"{source.name}: expected one `{REPLAY_LINE}` line, found {switched}")
    for stale in NOTEBOOKS.glob(f"{name}{SUFFIX}*"):
        stale.unlink()
    with FakeGLM() as fake:
        env = {"ZHIPUAI_API_KEY": fake.api_key, "ZHIPUAI_BASE_URL": fake.base_url,
               "GLM_MAGIC_LEDGER": str(NOTEBOOKS.parent / "build" / "record-ledger.sqlite")}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            NotebookClient(notebook, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        rehome(target, fake.base_url, ZhipuProvider.default_base_url)
    return target


def rehome(path: Path, recorded_at: str, public: str) -> None:
    """File every entry recorded against `recorded_at` under `public` (its key is the hash of
    the request, endpoint included, so the key is computed again), reset the hit counts, and
    leave the file in rollback-journal mode (a read-only replay then needs no -wal/-shm)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        rows = conn.execute("SELECT key, request FROM responses").fetchall()
        conn.execute("BEGIN")
        for key, request in rows:
            data = json.loads(request)
            endpoint = public if data["endpoint"] == recorded_at else data["endpoint"]
            text = request_text(data["provider"], endpoint, data["request"])
            conn.execute("UPDATE responses SET key = ?, request = ?, hits = 0, used = created "
                         "WHERE key = ?", (cache_key(text), text, key))
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
    finally:
        conn.close()
    print(f"{path.relative_to(NOTEBOOKS.parent)}: {len(rows)} answers")


if __name__ == "__main__":
    for wanted in sys.argv[1:] or REPLAYING:
        record(wanted)
