"""The operators over many rows at once, each planned to send far fewer requests than the plain
method: `join` (only each left row's k nearest right rows by embedding are asked), `topk`
(every row scored once, then only the ties at the cut compared pairwise), `agg` (one summary per
group; a group larger than the model's context summarised in pieces, then the pieces), and
`dedup` (embedding neighbours as candidates, the model confirms)."""

from __future__ import annotations

import functools
import string
from typing import Any

from ..schema import Schema
from .requests import Requests, as_plan, known_value, layout, row_text, row_values, run

SAME = Schema.of({"verdict": "bool"})


# --- join ------------------------------------------------------------------------------------
def _sides(condition: str, left: Any, right: Any) -> tuple[list[str], list[str], str]:
    """The left and right columns a join condition names (`{col:left}`, `{left.col}`, or a
    plain `{col}` found in one frame only) and the condition with them as «left col»."""
    lefts, rights, out = [], [], []
    for literal, name, spec, _ in string.Formatter().parse(condition):
        out.append(literal)
        if name is None:
            continue
        side = spec if spec in ("left", "right") else None
        if name.startswith(("left.", "right.")):
            side, name = name.split(".", 1)
        if side is None:
            in_left, in_right = name in left.columns, name in right.columns
            if in_left == in_right:
                raise ValueError(f"join: say which table {{{name}}} comes from: "
                                 f"{{{name}:left}} or {{{name}:right}}")
            side = "left" if in_left else "right"
        frame = left if side == "left" else right
        if name not in frame.columns:
            raise ValueError(f"join: the {side} table has no column {name!r}")
        (lefts if side == "left" else rights).append(name)
        out.append(f"«{side} {name}»")
    if not lefts or not rights:
        raise ValueError("join: the condition must name a column of each table, e.g. "
                         "'{review:left} is about {product:right}'")
    return list(dict.fromkeys(lefts)), list(dict.fromkeys(rights)), "".join(out)


def sem_join(left: Any, right: Any, condition: str, prefilter: int | None = None,
             embed_options: dict[str, Any] | None = None, **options: Any) -> Any:
    """The pairs of rows (left columns, then right columns; clashing names get `_left` /
    `_right`) for which the model says `condition` holds. `prefilter=k` asks only each left
    row's k nearest right rows by embedding (`embed()` and its cache): about n·k calls
    instead of n·m."""
    import pandas as pd

    lcols, rcols, said = _sides(condition, left, right)
    ltexts = [row_text({f"left {c}": v for c, v in zip(lcols, row, strict=True)})
              for row in left[lcols].itertuples(index=False, name=None)]
    rtexts = [row_text({f"right {c}": v for c, v in zip(rcols, row, strict=True)})
              for row in right[rcols].itertuples(index=False, name=None)]
    pairs = _candidates(ltexts, rtexts, prefilter, embed_options or options)
    instruction = (f"Decide whether this statement is true of the pair below: {said}\nThe "
                   "fields named «like this» are given below. Answer with verdict true or "
                   "false.")
    req = Requests("join", instruction,
                   [f"{ltexts[i]}\n{rtexts[j]}" if ltexts[i] and rtexts[j] else None
                    for i, j in pairs], SAME, naive_calls=len(left) * len(right))
    answers, plan = run(req, options)
    if options.get("dry_run"):
        return as_plan(plan)
    keep = [(i, j) for (i, j), a in zip(pairs, answers, strict=True)
            if a and a.get("status") == "ok" and known_value(a.get("verdict")) is True]
    lpart = left.iloc[[i for i, _ in keep]].reset_index(drop=True)
    rpart = right.iloc[[j for _, j in keep]].reset_index(drop=True)
    clash = set(lpart.columns) & set(rpart.columns)
    out = pd.concat([lpart.rename(columns={c: f"{c}_left" for c in clash}),
                     rpart.rename(columns={c: f"{c}_right" for c in clash})], axis=1)
    out.attrs["glm_plan"] = plan
    return out


def _candidates(ltexts: list[str | None], rtexts: list[str | None], k: int | None,
                options: dict[str, Any]) -> list[tuple[int, int]]:
    """Every (left, right) pair, or each left row's k nearest right rows."""
    if k is None or k >= len(rtexts):
        return [(i, j) for i in range(len(ltexts)) for j in range(len(rtexts))]
    if k < 1:
        raise ValueError("prefilter must be at least 1 (or None for every pair)")
    scores = _similarity([t or "" for t in ltexts], [t or "" for t in rtexts], options)
    import numpy as np

    nearest = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [(i, int(j)) for i in range(len(ltexts)) for j in nearest[i]]


def _similarity(a: list[str], b: list[str], options: dict[str, Any]) -> Any:
    """Cosine similarities of two lists of texts, embedded with `embed()` (cached)."""
    import numpy as np

    from ..embedding.vectors import embed

    kw = {k: options[k] for k in ("provider", "session") if options.get(k) is not None}
    kw.update({k[len("embed_"):]: v for k, v in options.items() if k.startswith("embed_")})
    va = np.nan_to_num(np.asarray(embed(a, progress=False, summary=False, **kw)))
    vb = va if b is a else np.nan_to_num(np.asarray(embed(b, progress=False, summary=False,
                                                          **kw)))
    na = np.linalg.norm(va, axis=1, keepdims=True)
    nb = np.linalg.norm(vb, axis=1, keepdims=True)
    return (va / np.where(na == 0, 1, na)) @ (vb / np.where(nb == 0, 1, nb)).T


# --- topk ------------------------------------------------------------------------------------
SCORE = Schema.of({"score": "int"})
BETTER = Schema.of({"better": ["A", "B"]})


def sem_topk(data: Any, k: int, criterion: str, **options: Any) -> Any:
    """The `k` best rows by `criterion` (`"{ticket} is urgent"`), best first, with their
    `score` (0-100). Every row is scored once; only rows tied at the cut (or tied inside the
    top k) are compared pairwise, so it costs about n calls, not n²."""
    if k < 1:
        raise ValueError("k must be at least 1")
    index, values = row_values(data, criterion)
    texts = [row_text(v) for v in values]
    instruction = (f"Score the item below from 0 to 100 by how well this holds: "
                   f"{layout(criterion, [])}\nThe fields named «like this» are given below. "
                   "100 means entirely, 0 not at all.")
    n = len(texts)
    req = Requests("score", instruction, texts, SCORE, naive_calls=n * (n - 1) // 2)
    answers, plan = run(req, options)
    if options.get("dry_run"):
        plan["operator"] = "topk"
        plan["notes"] = ["pairwise comparisons for ties at the cut come on top (a few)"]
        return as_plan(plan)
    scores = [known_value(a.get("score")) if a and a.get("status") == "ok" else None
              for a in answers]
    ranked = sorted((i for i in range(n) if scores[i] is not None),
                    key=lambda i: -float(scores[i]))
    order, compared = _settle_ties(ranked, scores, k, texts, criterion, options)
    top = order[:k]
    out = data.iloc[top].copy() if hasattr(data, "iloc") else data
    if not hasattr(out, "columns"):
        out = out.to_frame()
    out["score"] = [scores[i] for i in top]
    plan["calls"] += compared
    plan["calls_saved"] = max(0, plan["naive_calls"] - plan["calls"])
    plan["operator"] = "topk"
    out.attrs["glm_plan"] = plan
    return out


def _settle_ties(ranked: list[int], scores: list[Any], k: int, texts: list[str | None],
                 criterion: str, options: dict[str, Any]) -> tuple[list[int], int]:
    """Order the groups of equal score that reach into the top k by pairwise comparison."""
    order, calls, pos = [], 0, 0
    while pos < len(ranked):
        end = pos
        while end < len(ranked) and scores[ranked[end]] == scores[ranked[pos]]:
            end += 1
        group = ranked[pos:end]
        if pos < k and len(group) > 1:
            group, used = _tournament(group, texts, criterion, options)
            calls += used
        order.extend(group)
        pos = end
        if pos >= k:
            order.extend(ranked[pos:])
            break
    return order, calls


def _tournament(group: list[int], texts: list[str | None], criterion: str,
                options: dict[str, Any]) -> tuple[list[int], int]:
    """Sort `group` by asking which of two rows is better (a merge sort: g·log g asks)."""
    instruction = (f"Which of the two items, A or B, fits this better: "
                   f"{layout(criterion, [])}\nAnswer with better A or B.")
    asked: dict[tuple[int, int], bool] = {}

    def first_is_better(a: int, b: int) -> bool:
        if (a, b) not in asked:
            req = Requests("compare", instruction, [f"A:\n{texts[a]}\n\nB:\n{texts[b]}"], BETTER)
            answers, _ = run(req, {k: v for k, v in options.items() if k != "dry_run"})
            answer = answers[0] if answers else None
            asked[(a, b)] = not (answer and known_value(answer.get("better")) == "B")
        return asked[(a, b)]

    ordered = sorted(group, key=functools.cmp_to_key(
        lambda a, b: -1 if first_is_better(a, b) else 1))
    return ordered, len(asked)


# --- agg -------------------------------------------------------------------------------------
def sem_agg(data: Any, instruction: str, by: Any = None, max_tokens_per_call: int | None = None,
            **options: Any) -> Any:
    """One summary per group (`by` a column or columns; None: the whole table) following
    `instruction`. A group larger than fits one call is summarised in pieces, then the
    pieces are summarised (again, until one call holds them)."""
    import pandas as pd

    from ..tokens import estimate_tokens

    budget = max_tokens_per_call or _context_budget(options)
    groups = [((), data)] if by is None else list(data.groupby(by, sort=True, dropna=False))
    keys, summaries = [], []
    for key, part in groups:
        lines = [row_text(dict(zip(map(str, part.columns), row, strict=True))) or ""
                 for row in part.itertuples(index=False, name=None)]
        summary = _summarise(instruction, [ln for ln in lines if ln], budget, options,
                             estimate_tokens)
        keys.append(key)
        summaries.append(summary)
    if by is None:
        return pd.DataFrame({"summary": summaries})
    names = [by] if isinstance(by, str) else list(by)
    rows = [dict(zip(names, k if isinstance(k, tuple) else (k,), strict=True)) for k in keys]
    out = pd.DataFrame(rows)
    out["summary"] = summaries
    return out


def _context_budget(options: dict[str, Any]) -> int:
    """Prompt tokens one call may take: 60% of the model's context window (8,000 if
    unknown)."""
    from ..calls.options import model_info
    from ..calls.sessions import session as default_session

    s = options.get("session") or default_session()
    name, model = s.resolve(options.get("provider"), options.get("model"))
    info = model_info(name, model)
    return int(0.6 * info.context) if info is not None and info.context else 8000


def _summarise(instruction: str, items: list[str], budget: int, options: dict[str, Any],
               count: Any) -> str | None:
    """Summarise `items`; in pieces that fit `budget`, hierarchically, when they do not."""
    if not items:
        return None
    level = 0
    while True:
        pieces, current, size = [], [], 0
        for item in items:
            n = count(item) + 2
            if current and size + n > budget:
                pieces.append(current)
                current, size = [], 0
            current.append(item)
            size += n
        pieces.append(current)
        what = "items" if level == 0 else "partial summaries of the items"
        req = Requests("agg", f"{instruction}\nThe {what} are below, one per block.",
                       ["\n\n".join(p) for p in pieces])
        answers, _ = run(req, {k: v for k, v in options.items() if k != "dry_run"})
        texts = [str(a.get("answer")) for a in answers if a and a.get("status") == "ok"]
        if len(pieces) == 1:
            return texts[0] if texts else None
        items, level = texts, level + 1


# --- dedup -----------------------------------------------------------------------------------
def sem_dedup(data: Any, template_or_column: str, threshold: float = 0.9,
              **options: Any) -> Any:
    """One row per cluster of near-duplicates: pairs whose embeddings are at least
    `threshold` similar are candidates, the model confirms each, and the first row of every
    cluster is kept (`df.attrs["glm_clusters"]` maps each kept row to its duplicates)."""
    import pandas as pd

    template = template_or_column if "{" in template_or_column else \
        "{" + template_or_column + "}"
    _, values = row_values(data, template)
    texts = [row_text(v) for v in values]
    sims = _similarity([t or "" for t in texts], [t or "" for t in texts], options)
    n = len(texts)
    same = {}  # identical texts are one cluster without asking: first row of each text
    for i, t in enumerate(texts):
        if t:
            same.setdefault(t, i)
    firsts = sorted(same.values())
    pairs = [(i, j) for a, i in enumerate(firsts) for j in firsts[a + 1:]
             if sims[i, j] >= threshold]
    req = Requests("dedup", "Decide whether the two items below are the same thing (the same "
                   "entity, event or statement, whatever the wording). Answer with verdict "
                   "true or false.", [f"first:\n{texts[i]}\n\nsecond:\n{texts[j]}"
                                      for i, j in pairs], SAME, naive_calls=n * (n - 1) // 2)
    answers, plan = run(req, options)
    if options.get("dry_run"):
        return as_plan(plan)
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(i: int, j: int) -> None:
        ri, rj = root(i), root(j)
        parent[max(ri, rj)] = min(ri, rj)

    for i, t in enumerate(texts):
        if t and same[t] != i:
            union(same[t], i)
    for (i, j), a in zip(pairs, answers, strict=True):
        if a and a.get("status") == "ok" and known_value(a.get("verdict")) is True:
            union(i, j)
    clusters: dict[int, list[int]] = {}
    for i in range(n):
        clusters.setdefault(root(i), []).append(i)
    kept = sorted(clusters)
    out = data.iloc[kept].copy() if isinstance(data, pd.DataFrame) else \
        data.iloc[kept].to_frame()
    out.attrs["glm_plan"] = plan
    out.attrs["glm_clusters"] = {data.index[r]: [data.index[i] for i in members[1:]]
                                 for r, members in clusters.items() if len(members) > 1}
    return out

