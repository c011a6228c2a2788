"""`%glm fix`: the last exception of this session — its type, message, the frames of the
traceback and the source of the cell that raised — as a prompt asking for a fix. Known keys are
masked before anything is sent, and sizes are bounded (a huge cell or a deep recursion does not
become a huge prompt)."""

from __future__ import annotations

import linecache
import sys
import traceback
from typing import Any

from IPython.core.error import UsageError

from .._secrets import mask_credentials, register

MAX_FRAMES = 12
MAX_SOURCE_CHARS = 12_000
MAX_MESSAGE_CHARS = 2_000
ASK = ("My notebook code raised the exception below. Say in one or two sentences what caused "
       "it, then give the corrected code as one complete Python code block.")


def last_exception() -> BaseException:
    """The exception the shell last showed, or a one-line UsageError when there is none."""
    exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if exc is None:
        raise UsageError("%glm fix: no exception in this session yet; run the failing cell "
                         "first, then %glm fix")
    return exc


def _is_cell(filename: str) -> bool:
    """Frames of notebook cells: ipykernel's temporary files or IPython's `<ipython-input-…>`."""
    return filename.startswith("<ipython-input-") or "/ipykernel_" in filename or \
        filename.startswith("<cell")


def _own_frames(tb: Any) -> list[traceback.FrameSummary]:
    """The frames worth showing: from the user's cell on (IPython's machinery left out)."""
    frames = traceback.extract_tb(tb)
    first = next((i for i, f in enumerate(frames) if _is_cell(f.filename)), 0)
    frames = frames[first:]
    if len(frames) > MAX_FRAMES:  # the cell's frame and the innermost ones matter most
        frames = frames[:2] + frames[-(MAX_FRAMES - 2):]
    return frames


def _cell_source(frames: list[traceback.FrameSummary], shell: Any) -> str:
    for f in frames:
        if _is_cell(f.filename):
            source = "".join(linecache.getlines(f.filename))
            if source:
                return source
    history = getattr(shell, "user_ns", {}).get("In") or []
    return history[-2] if len(history) >= 2 else ""


def _named(frame: traceback.FrameSummary) -> traceback.FrameSummary:
    """A cell's frame named `<cell>`, not by the kernel's temporary file: the path tells the
    model nothing, names a folder of this machine, and changes with every kernel — which
    would make the same `%glm fix` a different request (a response cache miss)."""
    if not _is_cell(frame.filename):
        return frame
    where = {k: getattr(frame, k) for k in ("end_lineno", "colno", "end_colno")
             if hasattr(frame, k)}  # Python 3.11+: the caret under the failing expression
    return traceback.FrameSummary("<cell>", frame.lineno, frame.name, line=frame.line,
                                  **where)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else \
        f"{text[:limit]}\n… ({len(text) - limit:,} more characters left out)"


def fix_prompt(shell: Any, wish: str = "") -> str:
    """The prompt `%glm fix` sends (keys masked)."""
    exc = last_exception()
    frames = _own_frames(exc.__traceback__)
    trace = "".join(traceback.format_list([_named(f) for f in frames]))
    message = _cut(f"{type(exc).__name__}: {exc}", MAX_MESSAGE_CHARS)
    source = _cut(_cell_source(frames, shell).rstrip(), MAX_SOURCE_CHARS)
    parts = [ASK, f"Exception: {message}", f"Traceback (most recent call last):\n{trace}"]
    if source:
        parts.append(f"The cell that raised:\n```python\n{source}\n```")
    if wish.strip():
        parts.append(f"Also: {wish.strip()}")
    return _masked("\n\n".join(parts))


def _masked(text: str) -> str:
    """Every credential masked: the value of every key variable any provider knows (from the
    environment or `.env`, used this session or not), key shapes, URL passwords and string
    literals assigned to secret-sounding names."""
    from ..config import env_value
    from ..providers import names, provider_class
    from ..trust import ENVIRONMENT_VARIABLES

    envs = {n for n, r in ENVIRONMENT_VARIABLES.items() if r.kind == "credential"}
    envs |= {provider_class(name).key_env or "" for name in names()}
    for env in envs:
        register(env_value(env))
    return mask_credentials(text)
