"""Cascades: a cheap model answers the rows it is sure of, and only the others go on to the next
model, with a calibrated guarantee of agreement with the last (strongest) one.

`batch(rows, schema={"label": [...]}, cascade=("glm-4-flash", "glm-5.1"), agreement=0.95)`:

1. A calibration sample is sent to every model. Its size is chosen from the target and the
   confidence level so that an observed agreement a third of the way from the target to 1
   is enough for the guarantee: `ceil(9 z² a / (1 − a))` rows (463 for a = 0.95 at 95 %).
2. Per cheap model, in order, the lowest confidence threshold is chosen at which the final
   answers on the sample (that model's when its confidence reaches the threshold, else the
   next model's) agree with the strongest model's with a one-sided Wilson lower bound at the
   confidence level of at least `agreement`.
3. The other rows go to the first model; a row whose confidence is below its threshold (or
   that failed) goes on to the next. Calibration rows keep the strongest model's answer.

Confidence is the probability of the answer's tokens (exp of the sum of their
log-probabilities) where the provider returns log-probabilities (OpenAI-compatible servers, the
local llama.cpp model, whose probabilities are taken among the tokens the schema allows);
otherwise the model reports its own confidence in a `confidence` field added to the schema,
which is weaker (models are overconfident, so more rows stay with the cheap model at a given
threshold — the calibration still measures what the threshold buys). Every call is an ordinary
ledger row (`source == "cascade"`, the model in `tags`), so `cost_summary(by="model")` shows the
split; `Calibration` is reusable (`cascade=result.attrs["calibration"]` skips step 1)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

CONFIDENCE_FIELD = "confidence"
SELF_REPORTED = ("Also give `confidence`: your probability, from 0 to 1, that your answer "
                 "for `{field}` is right.")


@dataclass
class Calibration:
    """What a cascade's calibration chose, reusable for another run of the same task.

    models: cheapest first, strongest last. thresholds: per cheap model, the confidence at or
    above which its answer is kept. sources: "logprobs" or "self-reported" per cheap model.
    sample_agreement: on the calibration sample, the share of final answers that agree with the
    strongest model; lower_bound: its one-sided Wilson bound at `confidence`."""

    models: list[str]
    field: str
    agreement: float
    confidence: float
    thresholds: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    sample_size: int = 0
    sample_agreement: float = float("nan")
    lower_bound: float = float("nan")
    kept_share: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        stages = ", ".join(f"{m} ≥ {self.thresholds[m]:.3g} ({self.sources[m]})"
                           for m in self.models[:-1])
        return (f"<Calibration {' → '.join(self.models)}: {stages}; agreement "
                f"{self.sample_agreement:.3f} on {self.sample_size} rows, lower bound "
                f"{self.lower_bound:.3f} ≥ {self.agreement} at {self.confidence:.0%}>")


def calibration_size(agreement: float, confidence: float, rows: int) -> int:
    """Rows to calibrate on: enough that an observed agreement a third of the way from the
    target to 1 clears the target at `confidence` (capped at the rows there are)."""
    z = NormalDist().inv_cdf(confidence)
    return min(rows, max(30, math.ceil(9 * z * z * agreement / (1 - agreement))))


def wilson_lower(agreeing: int, n: int, confidence: float) -> float:
    """One-sided Wilson score lower bound of a share."""
    if n == 0:
        return 0.0
    z = NormalDist().inv_cdf(confidence)
    p = agreeing / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def choose_thresholds(answers: list[list[Any]], confidences: list[np.ndarray],
                      agreement: float, confidence: float) -> tuple[list[float], float, float]:
    """Per cheap model (answers[i], confidences[i]; answers[-1] the strongest model's), the
    lowest threshold keeping the whole cascade's lower bound at or above `agreement`.
    Returns (thresholds, observed agreement, lower bound)."""
    strong = answers[-1]
    n = len(strong)
    final = list(strong)
    settled = np.zeros(n, dtype=bool)  # rows an earlier stage keeps
    thresholds = []
    for stage in range(len(answers) - 1):
        mine, conf = answers[stage], confidences[stage]
        agrees = np.array([a is not None and a == s for a, s in zip(mine, strong, strict=True)])
        earlier_wrong = int((settled & ~np.array([f == s for f, s in
                                                  zip(final, strong, strict=True)])).sum())
        best = math.inf
        for t in sorted({float(c) for c in conf[~settled] if c == c}):
            kept = ~settled & (conf >= t)
            wrong = earlier_wrong + int((kept & ~agrees).sum())
            if wilson_lower(n - wrong, n, confidence) >= agreement:
                best = t
                break
        thresholds.append(best)
        kept = ~settled & (conf >= best)
        for i in np.flatnonzero(kept):
            final[i] = mine[i]
        settled |= kept
    agreeing = sum(f == s for f, s in zip(final, strong, strict=True))
    return thresholds, agreeing / n if n else float("nan"), wilson_lower(agreeing, n,
                                                                         confidence)


def run_cascade(rows: Any, *, run_batch: Callable[..., Any],
                cascade: Sequence[str] | Calibration, schema: Any,
                agreement: float = 0.95, confidence: float = 0.95, template: str | None = None,
                system: str | None = None, dry_run: bool = False, seed: int = 0,
                progress: bool = False, summary: bool = True, **options: Any) -> Any:
    """`batch(cascade=...)`: see the module's docstring. Returns the batch's DataFrame with
    `model` (the model whose answer it is) and `confidence` per row, and the calibration in
    `attrs["calibration"]`. `run_batch` is `batch()` itself, handed in by it (each stage
    is an ordinary batch)."""
    from ..schema import Schema

    batch = run_batch

    shape = Schema.of(schema) if schema is not None else None
    enum = shape.label_fields() if shape is not None else []
    if not enum:
        raise ValueError("cascade= needs a schema with an enum or boolean field (the label "
                         "the models must agree on), e.g. schema={'label': ['spam', 'ham']}")
    given = cascade if isinstance(cascade, Calibration) else None
    models = list(given.models if given else cascade)
    if len(models) < 2 or not all(isinstance(m, str) and m for m in models):
        raise ValueError("cascade= names two or more models, cheapest first: "
                         "cascade=('glm-4-flash', 'glm-5.1')")
    if not 0 < agreement < 1 or not 0 < confidence < 1:
        raise ValueError(f"agreement and confidence are shares between 0 and 1, not "
                         f"{agreement} and {confidence}")
    label = given.field if given else (enum[0] if len(enum) == 1 else _pick(enum, shape))
    if isinstance(rows, pd.DataFrame):  # each stage is a batch over a slice of the rows
        frame, tmpl = rows, template or ("{" + str(rows.columns[0]) + "}")
    else:
        frame = rows if isinstance(rows, pd.Series) else pd.Series(list(rows), name="text")
        tmpl = template
    original = frame.index  # stages pick rows by label: a repeated label would pick several
    frame = frame if original.is_unique else frame.reset_index(drop=True)
    sources = {m: confidence_source(m) for m in models[:-1]}
    user_tags = options.pop("tags", None)
    user_tags = ",".join(user_tags) if isinstance(user_tags, (list, tuple)) else user_tags
    common = {**options, "template": tmpl, "progress": progress,
              "source": options.pop("source", None) or "cascade"}

    def ask(model: str, part: pd.DataFrame) -> pd.DataFrame:
        own = sources.get(model)
        spec, sys_text, extra = schema, system, {}
        if own == "logprobs":
            extra = {"logprobs": True}
        elif own == "self-reported":
            spec = _with_confidence(shape.json_schema)
            note = SELF_REPORTED.format(field=label)
            sys_text = f"{system}\n\n{note}" if system else note
        out = batch(part, model=model, schema=spec, system=sys_text,
                    tags=f"{user_tags},{model}" if user_tags else model, **common, **extra)
        out["confidence"] = _confidences(out, own)
        return out

    n = len(frame)
    if dry_run:
        return _plan(batch, frame, models, given, agreement, confidence, schema, system,
                     common)
    spent = pd.Series(0.0, index=frame.index)  # every model's cost on each row
    calibration = given
    parts = []
    if calibration is None:
        size = calibration_size(agreement, confidence, n)
        sample = frame.sample(n=size, random_state=seed).index
        asked = [ask(m, frame.loc[sample]) for m in models]
        answers = [[_label(r, label) for r in a.to_dict("records")] for a in asked]
        confs = [a["confidence"].to_numpy(float) for a in asked[:-1]]
        thresholds, observed, lower = choose_thresholds(answers, confs, agreement,
                                                        confidence)
        calibration = Calibration(models, label, agreement, confidence,
                                  dict(zip(models[:-1], thresholds, strict=True)),
                                  sources, size, observed, lower)
        for a in asked:
            spent.loc[sample] += a["cost"].fillna(0).to_numpy()
        parts.append(asked[-1].assign(model=models[-1]))
        todo = frame.drop(index=sample)
    else:
        todo = frame
    for stage, model in enumerate(models):
        if todo.empty:
            break
        out = ask(model, todo)
        spent.loc[todo.index] += out["cost"].fillna(0).to_numpy()
        if stage < len(models) - 1:
            good = out["status"].isin(["ok", "cached"]) & \
                (out["confidence"] >= calibration.thresholds[model])
        else:
            good = pd.Series(True, index=out.index)
        parts.append(out[good].assign(model=model))
        todo = todo.loc[~good.to_numpy()]
    result = pd.concat(parts).reindex(frame.index)
    result["cost"] = spent
    result.index = original
    calibration.kept_share = {m: float((result["model"] == m).mean()) for m in models}
    result.attrs["calibration"] = calibration
    if summary:
        shares = ", ".join(f"{calibration.kept_share[m]:.0%} {m}" for m in models)
        print(f"glm-magic: cascade answered {shares}; {calibration!r}")
    return result


def _pick(enum: list[str], shape: Any) -> str:
    raise ValueError(f"cascade=: the schema has several label fields ({', '.join(enum)}); "
                     "give one enum (or boolean) field, the label the models must agree on")


def _with_confidence(json_schema: dict[str, Any]) -> dict[str, Any]:
    """The task's JSON Schema with a required `confidence` number beside its fields."""
    props = {**json_schema.get("properties", {}),
             CONFIDENCE_FIELD: {"type": "number", "minimum": 0, "maximum": 1}}
    required = [*json_schema.get("required", []), CONFIDENCE_FIELD]
    return {**json_schema, "properties": props, "required": required}


def _label(row: dict[str, Any], name: str) -> Any:
    value = row.get(name)
    if row.get("status") not in ("ok", "cached") or value is None or \
            (isinstance(value, float) and value != value):
        return None
    return str(value)


def _confidences(out: pd.DataFrame, source: str | None) -> np.ndarray:
    if source == "self-reported" and CONFIDENCE_FIELD in out:
        values = pd.to_numeric(out[CONFIDENCE_FIELD], errors="coerce")
        return values.clip(0, 1).fillna(0).to_numpy(float)
    if source == "logprobs" and "logprob_confidence" in out:
        return out["logprob_confidence"].fillna(0).to_numpy(float)
    # the last model's own confidence is not asked for: NaN says "not measured"
    return np.full(len(out), np.nan) if source is None else np.zeros(len(out))


def confidence_source(model: str) -> str:
    """"logprobs" where the provider returns token log-probabilities (OpenAI-compatible
    servers, the local llama.cpp model), else "self-reported"."""
    from ..calls.sessions import session
    from ..providers.local import LocalProvider
    from ..providers.openai import OpenAIProvider

    s = session()
    name, _ = s.resolve(None, model)
    provider = s.client(name).provider
    return "logprobs" if isinstance(provider, (OpenAIProvider, LocalProvider)) else \
        "self-reported"


def _plan(batch: Callable[..., Any], frame: Any, models: list[str],
          given: Calibration | None, agreement: float, confidence: float, schema: Any, system: str | None, common: dict[str, Any]
          ) -> pd.Series:
    """`dry_run=True`: the expected prompt cost of the cascade against sending every row to
    the strongest model (nothing is sent). Before a calibration the share each model keeps is
    unknown, so the plan gives the range: the worst case (every row reaching the strongest
    model) as `expected_prompt_cost`, and the best (every row after the sample kept by the
    first model); with a calibration, the cost at its shares."""
    n = len(frame)
    plans = {m: batch(frame, model=m, schema=schema, system=system, dry_run=True,
                      **{k: v for k, v in common.items() if k != "source"}) for m in models}
    costs = {m: float(p["prompt_cost"] or 0) for m, p in plans.items()}
    currencies = {str(p["currency"]) for p in plans.values() if p["currency"] != "free"}
    size = 0 if given else calibration_size(agreement, confidence, n)
    per_row = {m: costs[m] / n if n else 0.0 for m in models}
    calib = size * sum(per_row.values())
    rest = n - size
    best = calib + rest * per_row[models[0]]
    if given:
        reach, expected = 1.0, calib
        for m in models:
            expected += reach * rest * per_row[m]
            reach = max(0.0, reach - given.kept_share.get(m, 0.0))
    else:
        expected = calib + rest * sum(per_row.values())
    return pd.Series({
        "rows": n, "calibration_rows": size, "models": " → ".join(models),
        "expected_prompt_cost": expected, "best_case_prompt_cost": best,
        "all_strong_prompt_cost": costs[models[-1]],
        "currency": ", ".join(sorted(currencies)) or "free",
        "note": "prompt tokens only, at the calibration's shares" if given else
                "prompt tokens only; before a calibration the expected cost is the worst case "
                "(every row reaching the strongest model), the best case every row after the "
                "sample kept by the first model"})
