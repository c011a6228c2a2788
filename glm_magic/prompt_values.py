"""Values put into a prompt by `{name}`: a DataFrame as a compact Markdown table with its shape
and dtypes, and every large value (Series, arrays, dicts, lists, long strings) cut to a token
budget in the open — the prompt says what was left out and the user gets a notice. Never
pandas' silent `...`, which hides most rows of a frame from the model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .tokens import estimate_tokens

DEFAULT_BUDGET = 4000  # tokens per value (`%config GLMMagics.max_context_tokens`)
CELL_CHARS = 200  # one table cell at most


def prompt_text(value: Any, name: str, budget: int | None = None,
                note: Callable[[str], None] | None = None) -> str:
    """`value` as prompt text within `budget` tokens; `note` hears what was left out."""
    budget = DEFAULT_BUDGET if budget is None else max(50, int(budget))
    tell = note or (lambda _msg: None)
    module = type(value).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return _frame(value, name, budget, tell, "DataFrame")
        if isinstance(value, pd.Series):
            frame = value.to_frame(name=value.name if value.name is not None else "value")
            return _frame(frame, name, budget, tell, "Series")
    if module == "numpy" and hasattr(value, "ndim") and hasattr(value, "shape"):
        return _array(value, name, budget, tell)
    plain = str(value)
    if estimate_tokens(plain) <= budget:  # small values exactly as Python prints them
        return plain
    if isinstance(value, dict):
        return _items([f"{_short(k)}: {_short(v)}" for k, v in value.items()], name, budget,
                      tell, "keys", "{", "}")
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return _items([_short(v) for v in items], name, budget, tell, "items", "[", "]")
    return _text(plain, name, budget, tell)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"


def _text(text: str, name: str, budget: int, tell: Callable[[str], None]) -> str:
    if estimate_tokens(text) <= budget:
        return text
    keep = _fit(len(text), lambda n: estimate_tokens(text[:n]) <= budget * 0.95)
    head, tail = text[:keep // 2 + keep % 2], text[len(text) - keep // 2:] if keep > 1 else ""
    left = len(text) - len(head) - len(tail)
    tell(f"{{{name}}}: sent {len(text) - left:,} of {len(text):,} characters "
         f"(max_context_tokens={budget})")
    return f"{head}\n[… {left:,} characters of {name} left out …]\n{tail}"


def _fit(total: int, fits: Callable[[int], bool]) -> int:
    """The largest n in [0, total] with fits(n) (fits is monotone)."""
    lo, hi = 0, total
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _head_tail(n: int, k: int) -> tuple[list[int], list[int]]:
    head = list(range((k + 1) // 2))
    tail = list(range(n - k // 2, n)) if k > 1 else []
    return head, tail


def _items(lines: list[str], name: str, budget: int, tell: Callable[[str], None],
           unit: str, open_: str, close: str) -> str:
    def render(k: int) -> str:
        head, tail = _head_tail(len(lines), k)
        body = [lines[i] for i in head]
        if k < len(lines):
            body.append(f"… ({len(lines) - k:,} of {len(lines):,} {unit} left out) …")
        body += [lines[i] for i in tail]
        return "\n".join([open_, *("  " + b for b in body), close])

    full = render(len(lines))
    if estimate_tokens(full) <= budget:
        return full
    k = _fit(len(lines), lambda n: estimate_tokens(render(n)) <= budget)
    tell(f"{{{name}}}: sent {k:,} of {len(lines):,} {unit} (max_context_tokens={budget})")
    return render(k)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"


def _frame(df: Any, name: str, budget: int, tell: Callable[[str], None], kind: str) -> str:
    n_rows, n_cols = df.shape
    if kind == "Series":
        header = f"Series `{name}`: {n_rows:,} values, dtype {df.dtypes.iloc[0]}"
    else:
        dtypes = ", ".join(f"{c} {t}" for c, t in df.dtypes.astype(str).items())
        header = f"{kind} `{name}`: {n_rows:,} rows × {n_cols:,} columns; dtypes: {dtypes}"
    index_name = str(df.index.name) if df.index.name is not None else ""
    index = [_cell(i) for i in df.index.tolist()]

    def table(cols: int, k: int) -> str:
        names = [index_name] + [_cell(c) for c in df.columns[:cols]]
        lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
        head, tail = _head_tail(n_rows, k)
        for pos in head + ([-1] if k < n_rows else []) + tail:
            if pos < 0:
                lines.append(f"| … | {n_rows - k:,} rows left out |" + " |" * (cols - 1))
                continue
            row = df.iloc[pos, :cols].tolist()
            lines.append("| " + " | ".join([index[pos]] + [_cell(v) for v in row]) + " |")
        return "\n".join(lines)

    def render(cols: int, k: int) -> str:
        parts = [header]
        if cols < n_cols or k < n_rows:
            shown = [f"{k:,} of {n_rows:,} rows"] if k < n_rows else []
            if cols < n_cols:
                shown.append(f"{cols:,} of {n_cols:,} columns")
            parts.append(f"(showing {' and '.join(shown)}; the rest is left out)")
        parts.append(table(cols, k))
        return "\n".join(parts)

    full = render(n_cols, n_rows)
    if estimate_tokens(full) <= budget:
        return full
    # columns: as many as let ten rows fit in the budget; then as many rows as fit
    cols = max(1, _fit(n_cols, lambda c: estimate_tokens(render(c, min(10, n_rows))) <= budget))
    k = _fit(n_rows, lambda r: estimate_tokens(render(cols, r)) <= budget)
    what = [f"{k:,} of {n_rows:,} rows"] if k < n_rows else []
    if cols < n_cols:
        what.append(f"{cols:,} of {n_cols:,} columns")
    tell(f"{{{name}}}: sent {' and '.join(what)} (max_context_tokens={budget})")
    return render(cols, k)


def _array(arr: Any, name: str, budget: int, tell: Callable[[str], None]) -> str:
    import sys

    import numpy as np
    import pandas as pd

    whole = np.array2string(arr, threshold=sys.maxsize) if arr.size <= 100_000 else ""
    if whole and estimate_tokens(whole) <= budget:
        return whole
    if arr.ndim == 1:
        return _frame(pd.Series(arr).to_frame("value"), name, budget, tell, "Series")
    if arr.ndim == 2:
        return _frame(pd.DataFrame(arr), name, budget, tell, "DataFrame")
    return _text(f"array of shape {arr.shape}, dtype {arr.dtype}:\n{arr.tolist()}", name,
                 budget, tell)
