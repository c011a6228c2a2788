"""What a batch is before anything is sent: the rows' prompts from a list, Series or DataFrame
and a template, the provider and model, each row's key (for resume) and the batch's, the
messages of a row, and the dry-run estimate. Shared by the online runner, the Batch API and
dask partitions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..calls.estimates import estimate_requests
from ..schema import Schema
from ..tokens import estimate_messages

if TYPE_CHECKING:
    import pandas as pd

    from ..calls.sessions import Session

COLUMNS = ["answer", "status", "error", "prompt_tokens", "completion_tokens", "cost",
           "latency_s", "attempts"]
@dataclass
class Plan:
    index: Any
    prompts: list[str]
    provider: str
    model: str
    keys: list[str]
    batch_key: str


def row_prompts(prompts: Any, template: str | None) -> tuple[Any, list[str]]:
    import pandas as pd

    if isinstance(prompts, pd.DataFrame):
        if template is None:
            raise ValueError("a DataFrame needs template=, e.g. template='Summarise: {text}'")
        missing = [c for c in template_fields(template) if c not in prompts.columns]
        if missing:
            raise ValueError(f"template fields not in the DataFrame: {', '.join(missing)} "
                             f"(columns: {', '.join(map(str, prompts.columns))})")
        records = prompts.to_dict("records")
        return prompts.index, [template.format_map(r) for r in records]
    if isinstance(prompts, pd.Series):
        texts = [str(v) for v in prompts.tolist()]
        return prompts.index, fill(template, texts, prompts.name)
    if isinstance(prompts, str) or not isinstance(prompts, Sequence):
        raise ValueError("prompts must be a list of strings, a pandas Series or a DataFrame")
    texts = [str(p) for p in prompts]
    return pd.RangeIndex(len(texts)), fill(template, texts, None)


def fill(template: str | None, texts: list[str], name: Any) -> list[str]:
    """A template over single values: `{}` is the value, and so is `{<Series name>}` (or
    `{text}`, the name most people write)."""
    if not template:
        return texts
    fields = set(template_fields(template))
    allowed = {"", "text", "value"} | ({str(name)} if name is not None else set())
    unknown = fields - allowed
    if unknown:
        raise ValueError(f"template field(s) {', '.join(sorted(unknown))} are not known for a "
                         f"list or Series; use {{}} for the value"
                         + (f" or {{{name}}}" if name is not None else ""))
    keys = {f: None for f in fields if f}
    return [template.format(t, **dict.fromkeys(keys, t)) for t in texts]


def template_fields(template: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def make_plan(s: Session, prompts: Any, template: str | None, provider: str | None,
          model: str | None, system: str | None, params: dict[str, Any],
          schema: Schema | None = None) -> Plan:
    index, texts = row_prompts(prompts, template)
    name, mdl = s.resolve(provider, model)
    settings = json.dumps({"provider": name, "model": mdl, "system": system,
                           "template": template, "params": params,
                           "schema": schema.json_schema if schema else None}, sort_keys=True,
                          default=str, ensure_ascii=False)
    batch_key = hashlib.sha256(settings.encode()).hexdigest()[:16]
    keys = [hashlib.sha256(f"{i}\x00{t}".encode()).hexdigest()[:24]
            for i, t in zip(map(str, index), texts, strict=True)]
    return Plan(index, texts, name, mdl, keys, batch_key)


def row_messages(system: str | None, text: str) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + \
        [{"role": "user", "content": text}]


def estimate(s: Session, plan: Plan, system: str | None, params: dict[str, Any],
             schema: Schema | None) -> pd.Series:
    """What `batch(dry_run=True)` shows: the first row's exact request and the one estimate
    (`calls.estimates`) of every row's prompt."""
    import pandas as pd

    client = s.client(plan.provider)
    info: dict[str, Any] = {"rows": len(plan.prompts), "provider": plan.provider,
                            "model": plan.model}
    extra = 0
    if plan.prompts:  # the first row exactly as it would be sent (the schema included)
        body = {"model": plan.model, "messages": row_messages(system, plan.prompts[0]), **params}
        if schema is not None:
            from ..providers.formats import adapt_request

            body = adapt_request(dict(body, response_format=schema.response_format()),
                                 client.provider)
            per_row = estimate_messages([{"role": "user", "content": schema.text()}])
            info["schema_tokens_per_row"] = per_row
            extra = per_row * len(plan.prompts)
        info["request"] = body
    est = estimate_requests(client, plan.model, row_requests(plan, system), extra_tokens=extra)
    info.update({"prompt_tokens": est.prompt_tokens, "prompt_tokens_counted_by": est.counted_by,
                 "prompt_cost": est.cost, "currency": est.currency,
                 "cost_status": est.cost_status,
                 "note": "answer tokens are not included: they depend on the model"})
    return pd.Series(info)


def row_requests(plan: Plan, system: str | None) -> list[list[dict[str, str]]]:
    """Every row's messages as a batch sends them."""
    return [row_messages(system, t) for t in plan.prompts]
