"""`evaluate()`: the same task on several models over a labelled DataFrame, one row per model —
quality (with a bootstrap confidence interval), cost per 1,000 rows in the provider's currency,
latency, tokens and errors — so the cheapest model that is good enough is a table away.

Each model's rows run through `batch()` (its concurrency, retries, response cache and budget),
booked with `source == "evaluate"` and the model in `tags`; a judge's calls are booked the same
way with `tags == "judge"`. The metric is computed here, on this machine, from the answers and
the truth column; the confidence interval resamples the rows (percentile bootstrap), so it says
how much a different sample of the same size could move the score."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

METRICS = ("accuracy", "f1", "judge")
BOOTSTRAP_ROUNDS = 1000
JUDGE_VERDICTS = {"correct": 1.0, "partially correct": 0.5, "incorrect": 0.0}
JUDGE_SYSTEM = (
    "You grade an answer against a reference answer. Reply `correct` when the answer says what "
    "the reference says (wording, order and extra politeness do not matter), `partially "
    "correct` when it gets part of it right or adds a claim that contradicts the reference, "
    "and `incorrect` otherwise.")
JUDGE_TEMPLATE = "Reference answer:\n{truth}\n\nAnswer to grade:\n{answer}"


def evaluate(df: pd.DataFrame, *, template: str, truth: str = "label",
             models: Sequence[str], schema: Any = None,
             metric: str | Callable[[Any, Any], float] = "accuracy", judge: str | None = None,
             sample: int | float | None = None, seed: int = 0, confidence: float = 0.95,
             system: str | None = None, concurrency: int = 8, cache: str | bool | None = None,
             progress: bool = False, **params: Any) -> pd.DataFrame:
    """Run `template` over `df` on every model in `models` and score each against `truth`.

    Returns one row per model, in the order given: `model`, `metric`, `score`, `ci_low`,
    `ci_high` (a `confidence` bootstrap interval), `rows`, `errors`, `cost`, `currency`,
    `cost_per_1k_rows` (in the provider's currency; a free model is 0), `latency_p50_s`,
    `latency_p95_s`, `prompt_tokens`, `completion_tokens`, `pareto` (no other model is both at
    least as good and at most as costly, and better in one). `.plot()` draws quality against
    cost with the Pareto front marked; `.answers` holds every model's answers per row.

    models: model names, `provider:model` accepted (`"local:default"`, `"glm-4-flash"`).
    schema: as for `batch()`; the answer compared is the field named like `truth`, else the
        schema's only field. Without a schema a text answer is compared case- and
        space-insensitively, and when it is not exactly a label but names exactly one of the
        labels in `truth`, that label counts (models like to write a sentence).
    metric: "accuracy"; "f1" (macro F1 over the truth labels); a callable
        `(answer, truth) -> float` scored per row and averaged; or "judge": a judge model
        (`judge=`, default the last of `models`) grades each free-text answer against the
        truth as correct (1), partially correct (0.5) or incorrect (0) — the rubric is
        `JUDGE_SYSTEM`; the judge's calls are ledger rows like any other.
    sample: evaluate on a seeded random sample of that many rows (or that share, 0–1).
    Other keywords (temperature, max_tokens, …) go to every model's requests."""

    from .front import batch

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"evaluate() takes a DataFrame with a {truth!r} column, not "
                        f"{type(df).__name__}")
    if truth not in df.columns:
        raise ValueError(f"evaluate(): the DataFrame has no truth column {truth!r}; pass "
                         f"truth= one of {list(map(str, df.columns))}")
    models = [models] if isinstance(models, str) else list(models)
    if not models:
        raise ValueError("evaluate(): models= names at least one model, e.g. "
                         "models=['glm-4-flash', 'glm-4-plus']")
    if not callable(metric) and metric not in METRICS:
        raise ValueError(f"evaluate(): metric must be one of {', '.join(METRICS)} or a "
                         f"function (answer, truth) -> score, not {metric!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"evaluate(): confidence is a share between 0 and 1, not {confidence}")
    rows = sampled(df, sample, seed)
    labels = [str(v) for v in pd.unique(rows[truth].dropna())]
    field = answer_field(schema, truth)
    judge_model = judge or models[-1]
    table, answers = [], {}
    for model in models:
        result = batch(rows, template=template, model=model, system=system, schema=schema,
                       concurrency=concurrency, cache=cache, progress=progress,
                       source="evaluate", tags=model, **params)
        if result.attrs.get("stopped"):
            raise KeyboardInterrupt(f"evaluate() stopped on {model}: "
                                    f"{result.attrs['stopped']}")
        predicted = result[field] if field else result["answer"]
        ok = result["status"].isin(["ok", "cached"]).to_numpy()
        predicted, score, low, high = scored(predicted, rows[truth], ok, metric, labels,
                                             judge_model, concurrency, cache, confidence,
                                             seed)
        answers[model] = predicted
        table.append(summary_row(model, metric, score, low, high, result))
    frame = EvaluationFrame(table)
    frame["pareto"] = pareto(frame["score"].to_numpy(float),
                             frame["cost_per_1k_rows"].to_numpy(float))
    frame.attrs["answers"] = pd.DataFrame(answers, index=rows.index).assign(
        **{truth: rows[truth]})
    return frame


def scored(predicted: pd.Series, truth: pd.Series, ok: Any, metric: Any, labels: list[str],
           judge: str, concurrency: int, cache: Any, confidence: float, seed: int
           ) -> tuple[pd.Series, float, float, float]:
    """(the answers as compared, the score, its interval) for one model's answers."""
    if metric in ("accuracy", "f1"):
        predicted = pd.Series([normalised(a, labels) if good else None
                               for a, good in zip(predicted, ok, strict=True)],
                              index=truth.index, dtype=object)
    if metric == "f1":
        true = truth.astype(str)
        score = macro_f1(predicted, true, labels)
        low, high = bootstrap(lambda idx: macro_f1(predicted.iloc[idx], true.iloc[idx], labels),
                              len(truth), confidence, seed)
        return predicted, score, low, high
    if metric == "judge":
        scores = judged(predicted, truth, ok, judge, concurrency, cache)
    elif callable(metric):
        scores = np.array([float(metric(a, t)) if good else 0.0
                           for a, t, good in zip(predicted, truth, ok, strict=True)])
    else:
        scores = predicted.eq(truth.astype(str)).to_numpy(float)
    score = float(scores.mean()) if len(scores) else float("nan")
    low, high = bootstrap(lambda idx: float(scores[idx].mean()), len(truth), confidence, seed)
    return predicted, score, low, high


def sampled(df: pd.DataFrame, sample: int | float | None, seed: int) -> pd.DataFrame:
    if sample is None:
        return df
    if isinstance(sample, float) and 0 < sample <= 1:
        return df.sample(frac=sample, random_state=seed)
    if isinstance(sample, (int, float)) and sample >= 1:
        return df.sample(n=min(int(sample), len(df)), random_state=seed)
    raise ValueError(f"evaluate(): sample is a number of rows or a share (0–1], not {sample!r}")


def answer_field(schema: Any, truth: str) -> str | None:
    """The schema field compared with the truth column (None: the text answer)."""
    if schema is None:
        return None
    from ..schema import Schema

    fields = [f.name for f in Schema.of(schema).fields]
    if truth in fields:
        return truth
    if len(fields) == 1:
        return fields[0]
    raise ValueError(f"evaluate(): the schema has fields {fields}; name one like the truth "
                     f"column ({truth!r}) or give a schema of one field")


_WORD = re.compile(r"[\w-]+", re.UNICODE)


def normalised(answer: Any, labels: list[str]) -> str | None:
    """An answer as the label it gives: itself when it is one (ignoring case, spaces and a
    final full stop), else the one label it names (None when it names none or several)."""
    if answer is None or (isinstance(answer, float) and answer != answer):
        return None
    text = str(answer).strip().strip(".!。").strip()
    by_lower = {label.lower(): label for label in labels}
    if text.lower() in by_lower:
        return by_lower[text.lower()]
    words = {w.lower() for w in _WORD.findall(text)}
    named = [label for low, label in by_lower.items()
             if (low in words if _WORD.fullmatch(low) else low in text.lower())]
    return named[0] if len(named) == 1 else text


def macro_f1(predicted: pd.Series, truth: pd.Series, labels: list[str]) -> float:
    """Mean over the truth labels of each label's F1 (a label never predicted nor true in
    the sample is left out)."""
    pred = predicted.astype(object).to_numpy()
    true = truth.to_numpy()
    f1s = []
    for label in labels:
        tp = int(((pred == label) & (true == label)).sum())
        fp = int(((pred == label) & (true != label)).sum())
        fn = int(((pred != label) & (true == label)).sum())
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(sum(f1s) / len(f1s)) if f1s else float("nan")


def bootstrap(statistic: Callable[[Any], float], n: int, confidence: float, seed: int
              ) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over resampled row positions."""

    if n < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(BOOTSTRAP_ROUNDS, n))
    values = np.array([statistic(idx) for idx in draws], dtype=float)
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def judged(answers: pd.Series, truth: pd.Series, ok: Any, judge: str, concurrency: int,
           cache: str | bool | None) -> Any:
    """Each answer graded by the judge model against its reference (0, 0.5 or 1)."""

    from .front import batch

    pairs = pd.DataFrame({"answer": answers.astype(str), "truth": truth.astype(str)},
                         index=answers.index)
    verdicts = batch(pairs, template=JUDGE_TEMPLATE, model=judge, system=JUDGE_SYSTEM,
                     schema={"verdict": list(JUDGE_VERDICTS)}, concurrency=concurrency,
                     cache=cache, progress=False, temperature=0, source="evaluate",
                     tags="judge")
    scores = [JUDGE_VERDICTS.get(str(v), 0.0) if good else 0.0
              for v, good in zip(verdicts["verdict"], ok, strict=True)]
    return np.array(scores, dtype=float)


def currency_of(model: str) -> str | None:
    """The currency `model`'s calls are booked in (its provider's price list; None: free or
    unpriced) — found without a request."""
    from ..accounting import pricing
    from ..calls.sessions import session
    from ..types import Usage

    s = session()
    name, mdl = s.resolve(None, model)
    price_key = s.client(name).provider.pricing_key()
    return pricing.cost(price_key, mdl or "", Usage(1000, 0, 1000), estimated=True)[1]


def summary_row(model: str, metric: Any, score: float, low: float, high: float,
                result: pd.DataFrame) -> dict[str, Any]:
    latency = result["latency_s"].dropna()
    status = result["status"].astype(str)
    currency = currency_of(model)
    cost = float(result["cost"].fillna(0).sum())
    return {
        "model": model, "metric": metric if isinstance(metric, str) else
        getattr(metric, "__name__", "custom"), "score": score, "ci_low": low, "ci_high": high,
        "rows": len(result), "errors": int((~status.isin(["ok", "cached"])).sum()),
        "cost": cost, "currency": currency,
        "cost_per_1k_rows": cost / len(result) * 1000 if len(result) else float("nan"),
        "latency_p50_s": float(latency.quantile(0.5)) if len(latency) else float("nan"),
        "latency_p95_s": float(latency.quantile(0.95)) if len(latency) else float("nan"),
        "prompt_tokens": int(result["prompt_tokens"].fillna(0).sum()),
        "completion_tokens": int(result["completion_tokens"].fillna(0).sum()),
    }


def pareto(score: Any, cost: Any) -> list[bool]:
    """Which models no other beats: at least as good and at most as costly, better in one."""
    front = []
    for i in range(len(score)):
        dominated = any(
            score[j] >= score[i] and cost[j] <= cost[i] and
            (score[j] > score[i] or cost[j] < cost[i])
            for j in range(len(score)) if j != i)
        front.append(not dominated)
    return front


class EvaluationFrame(pd.DataFrame):
    """`evaluate()`'s result: a DataFrame with `.plot()` as quality against cost."""

    @property
    def _constructor(self) -> type:
        return EvaluationFrame

    @property
    def answers(self) -> pd.DataFrame:
        """Every model's answer per row (as compared with the truth), and the truth."""
        return self.attrs.get("answers")

    def plot(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Quality against cost per 1,000 rows, one point per model, the Pareto front drawn
        as a line; with arguments, pandas' own `DataFrame.plot`."""
        if args or kwargs:
            return super().plot(*args, **kwargs)
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        currencies = sorted({str(c) for c in self["currency"].dropna()})
        ax.errorbar(self["cost_per_1k_rows"], self["score"],
                    yerr=[self["score"] - self["ci_low"], self["ci_high"] - self["score"]],
                    fmt="o", capsize=3)
        for _, row in self.iterrows():
            ax.annotate(str(row["model"]), (row["cost_per_1k_rows"], row["score"]),
                        textcoords="offset points", xytext=(5, 5))
        front = self[self["pareto"]].sort_values("cost_per_1k_rows")
        ax.plot(front["cost_per_1k_rows"], front["score"], "--", label="Pareto front")
        ax.set_xlabel(f"cost per 1,000 rows ({'/'.join(currencies) or 'free'})")
        ax.set_ylabel(str(self["metric"].iloc[0]) if len(self) else "score")
        ax.set_title("quality against cost")
        ax.legend()
        return ax
