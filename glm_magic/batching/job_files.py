"""The Batch API's job files: where they live (`batches/` beside the ledger), written atomically
(a crash leaves the old file or the new, never half), read back with a one-line refusal when a
file is not one, and the checks that a server's job id can name a file and be printed."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from .. import errors


def jobs_dir() -> Path:
    """Where job files live by default: `batches/` beside the ledger."""
    from ..accounting.ledger import local_dir

    return local_dir() / "batches"


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace the job file atomically: a crash leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_aside(path: Path, state: dict[str, Any]) -> None:
    """Keep another job's file where `batch_job(its id)` finds it, before reusing `path`."""
    if state.get("id"):
        aside = jobs_dir() / f"{safe_name(state['id'])}.json"
        if not aside.exists():
            write_state(aside, state)


def checked_id(value: Any) -> str:
    """A job or file id as the server sent it, refused when it could not be one (terminal
    escapes, path separators, control characters: it is printed and names a file)."""
    text = str(value or "")
    if not text or len(text) > 200 or not re.fullmatch(r"[A-Za-z0-9_.:=+-]+", text):
        raise errors.ProtocolError(f"the server sent an unusable batch id {text[:40]!r}",
                                   hint="check the base URL points at the provider's API")
    return text


def safe_name(job_id: str) -> str:
    """A job id as a file name (anything but letters, digits, `_.-` becomes `_`)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", job_id)[:200]


def read_state(path: Path, *, pending_ok: bool = False) -> dict[str, Any]:
    """A job file's state, refused in one line when it is not one (or its job was never
    created, unless `pending_ok`)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise errors.ConfigurationError(f"cannot read batch job file {path}: {exc}",
                                        hint="pass the job id instead") from None
    if not isinstance(state, dict) or not isinstance(state.get("id"), str) or \
            not (state["id"] or pending_ok):
        raise errors.ConfigurationError(f"{path} is not a batch job file (or its job was "
                                        "never created)", hint="run the batch again")
    return state
