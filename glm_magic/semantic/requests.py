"""What every semantic operator shares: each row as a request laid out for the provider's prefix
cache (the shared instruction in the system message, the row's fields last), identical
requests sent once, empty rows never sent, the plan before spending (`dry_run`,
`confirm_over`), and the answers run through `batch()` — its concurrency, retries, cache,
budget and ledger — with every call booked as `source == "semantic"` and the operator's name
in `tags`."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..accounting import pricing
from ..batching.front import batch
from ..calls.sessions import session as default_session
from ..schema import Schema
from ..tokens import estimate_messages, estimate_tokens
from ..types import Usage

# what passes through to batch(): routing and sampling
PASSED = ("model", "provider", "concurrency", "max_retries", "resume", "max_repairs", "cache",
          "session", "progress", "temperature", "top_p", "max_tokens", "seed", "thinking",
          "via", "cascade", "agreement")
ANSWER_TOKENS = {"filter": 8, "classify": 10, "compare": 8, "score": 10, "join": 8,
                 "dedup": 8}  # what a short structured answer takes; others: max_tokens or 200


class PlanConfirmationError(errors.GLMError):
    """The plan's estimated cost is over `confirm_over`: nothing was sent."""

    hint = "look at the plan (dry_run=True), then pass confirm=True to run it"


def is_empty(value: Any) -> bool:
    """NaN, None, NA and blank text: a row with nothing to ask about."""
    if value is None:
        return True
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return True
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def known_value(value: Any) -> Any:
    """A batch cell's value, None for any kind of missing (NaN, NA)."""
    return None if is_empty(value) else value


def fields_of(template: str) -> list[str]:
    """The `{column}` fields of a template, in order, without repeats."""
    names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    return list(dict.fromkeys(names))


def layout(template: str, names: list[str]) -> str:
    """The template as a shared instruction: each `{column}` becomes «column», whose value
    is given below it (so the instruction is the same text for every row)."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(f"«{name or 'text'}»")
    return "".join(out)


def row_text(values: dict[str, Any]) -> str | None:
    """A row's fields as the last part of the request, or None when they are all empty."""
    if all(is_empty(v) for v in values.values()):
        return None
    return "\n".join(f"{name or 'text'}: {'' if is_empty(v) else v}"
                     for name, v in values.items())


def row_values(data: Any, template: str) -> tuple[Any, list[dict[str, Any]]]:
    """(index, each row's values of the template's fields) for a DataFrame or Series."""
    import pandas as pd

    names = fields_of(template)
    if isinstance(data, pd.Series):
        label = data.name
        unknown = [n for n in names if n not in ("", "text", "value", str(label))]
        if unknown:
            raise ValueError(f"template field(s) {', '.join(unknown)} are not known for a "
                             "Series; use {} (or the Series' name) for its value")
        key = names[0] if names else ""
        return data.index, [{key: v} for v in data.tolist()]
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise ValueError(f"template field(s) {', '.join(missing)} are not columns; the "
                         f"DataFrame has {', '.join(map(str, data.columns))}")
    if not names:
        raise ValueError("the template names no column; write e.g. '{review} is a complaint'")
    cols = data[names]
    return data.index, [dict(zip(names, row, strict=True))
                        for row in cols.itertuples(index=False, name=None)]


@dataclass
class Requests:
    """One operator's requests: the shared instruction, each row's text (None: not sent)."""

    op: str
    instruction: str
    rows: list[str | None]
    schema: Schema | None = None
    naive_calls: int | None = None  # what the plain method would send (join, topk)
    notes: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)  # the batch's, for the result

    @property
    def unique(self) -> list[str]:
        return list(dict.fromkeys(r for r in self.rows if r is not None))


def plan_of(req: Requests, options: dict[str, Any]) -> dict[str, Any]:
    """What the operator will send and what it costs, in the provider's currency, online and
    at the Batch API price; for join and topk the calls saved against the plain method."""
    s = options.get("session") or default_session()
    name, model = s.resolve(options.get("provider"), options.get("model"))
    key = s.client(name).provider.pricing_key()
    unique = req.unique
    system = [{"role": "system", "content": req.instruction}]
    prompt = sum(estimate_messages(system + [{"role": "user", "content": r}]) for r in unique)
    if req.schema is not None:
        prompt += len(unique) * estimate_tokens(req.schema.text())
    per_answer = ANSWER_TOKENS.get(req.op) or int(options.get("max_tokens") or 200)
    answers = per_answer * len(unique)
    usage = Usage(prompt, answers, prompt + answers)
    cost, currency, status = pricing.cost(key, model, usage, estimated=True)
    batch_cost, _, _ = pricing.cost(key, model, usage, estimated=True, batch=True)
    out = {"operator": req.op, "provider": name, "model": model, "rows": len(req.rows),
           "calls": len(unique), "identical_rows_sent_once": sum(r is not None for r in
                                                                 req.rows) - len(unique),
           "empty_rows": sum(r is None for r in req.rows), "prompt_tokens": prompt,
           "answer_tokens": answers, "cost": cost, "cost_batch_api": batch_cost,
           "currency": currency, "cost_status": status}
    if req.naive_calls is not None:
        out["naive_calls"] = req.naive_calls
        out["calls_saved"] = max(0, req.naive_calls - len(unique))
    if req.notes:
        out["notes"] = list(req.notes)
    return out


def check_plan(plan: dict[str, Any], options: dict[str, Any]) -> None:
    """`confirm_over=`: refuse a plan that costs more, unless `confirm=True`."""
    limit = options.get("confirm_over")
    cost = plan["cost"]
    if limit is None or options.get("confirm") or not isinstance(cost, float) or \
            math.isnan(cost) or cost <= float(limit):
        return
    raise PlanConfirmationError(
        f"{plan['operator']}: the plan costs ~{pricing.format_cost(cost, plan['currency'])} "
        f"({plan['calls']:,} calls, {plan['prompt_tokens'] + plan['answer_tokens']:,} tokens "
        f"on {plan['model']}), over confirm_over={limit}")


def ask(req: Requests, options: dict[str, Any]) -> list[dict[str, Any] | None]:
    """Send each distinct request once (through `batch`) and hand every row its answer:
    a dict of the batch's columns (and the schema's fields), or None for an empty row."""
    unique = req.unique
    found: dict[str, dict[str, Any]] = {}
    if unique:
        passed = {k: v for k, v in options.items() if k in PASSED and v is not None}
        user_system = options.get("system")
        system = f"{user_system}\n\n{req.instruction}" if user_system else req.instruction
        via = passed.pop("via", "online")
        result = batch(unique, template="{}", system=system, schema=req.schema,
                       source="semantic", tags=req.op, via=via,
                       **{k: v for k, v in passed.items() if k != "progress"},
                       progress=passed.get("progress", False))
        if via == "batch_api":
            result.wait()
            result = result.result()
        if "calibration" in result.attrs:
            req.attrs["calibration"] = result.attrs["calibration"]
        if result.attrs.get("stopped"):
            req.notes.append(f"stopped: {result.attrs['stopped']}")
        for text, row in zip(unique, result.to_dict("records"), strict=True):
            found[text] = row
    return [found.get(r) if r is not None else None for r in req.rows]


def run(req: Requests, options: dict[str, Any]) -> tuple[list[dict[str, Any] | None], Any]:
    """The plan (returned instead of answers with `dry_run=True`), checked, then the
    answers. Returns (answers, plan) — answers None for a dry run."""
    plan = plan_of(req, options)
    if options.get("dry_run"):
        return [], plan
    check_plan(plan, options)
    return ask(req, options), plan


def as_plan(plan: dict[str, Any]) -> Any:
    """A plan as users see it: a pandas Series."""
    import pandas as pd

    return pd.Series(plan, name="plan")
