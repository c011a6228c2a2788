"""The row-at-a-time operators: `map`, `filter`, `classify`, `extract`. Each row is one request
(identical rows one request), answered through `batch()` as typed data."""

from __future__ import annotations

from typing import Any

from ..schema import Schema
from .requests import Requests, as_plan, known_value, layout, row_text, row_values, run

FILTER_FIELD = "verdict"


def _requests(op: str, data: Any, template: str, instruction: str,
              schema: Schema | None) -> tuple[Any, Requests]:
    index, values = row_values(data, template)
    return index, Requests(op, instruction, [row_text(v) for v in values], schema)


def _answers_frame(answers: list[dict[str, Any] | None], index: Any, names: list[str]
                   ) -> Any:
    """The answers' typed columns, aligned with the input (NA for rows never sent)."""
    import pandas as pd

    return pd.DataFrame({n: [a.get(n) if a else None for a in answers] for n in names},
                        index=index)


def sem_map(data: Any, template: str, schema: Any = None, column: str = "answer",
            **options: Any) -> Any:
    """`data` with the model's answer to `template` for each row: in `column`, or one typed
    column per field of `schema`."""
    shape = Schema.of(schema) if schema is not None else None
    instruction = (f"{layout(template, [])}\n\nThe fields named «like this» are given below; "
                   "answer for them.")
    index, req = _requests("map", data, template, instruction, shape)
    answers, plan = run(req, options)
    if options.get("dry_run"):
        return as_plan(plan)
    out = _frame(data)
    if shape is None:
        out[column] = _answers_frame(answers, index, ["answer"])["answer"].astype("string")
    else:
        typed = shape.columns([_fields(a, shape) for a in answers], index)
        for name in typed.columns:
            out[name] = typed[name]
    _note(out, plan, req)
    return out


def sem_filter(data: Any, condition: str, keep: str | None = None, **options: Any) -> Any:
    """The rows for which the model says `condition` holds (`"{review} is a complaint"`);
    with `keep="verdict"` every row, with the verdict in that column instead."""
    shape = Schema.of({FILTER_FIELD: "bool"})
    instruction = (f"Decide whether this statement is true of the item below: "
                   f"{layout(condition, [])}\nThe fields named «like this» are given below. "
                   f"Answer with {FILTER_FIELD} true or false.")
    index, req = _requests("filter", data, condition, instruction, shape)
    answers, plan = run(req, options)
    if options.get("dry_run"):
        return as_plan(plan)
    verdicts = _verdicts(answers, index)
    out = _with_cascade(_frame(data), answers, index, req, options)
    if keep:
        out[keep] = verdicts
    else:
        out = out[verdicts.fillna(False).to_numpy(dtype=bool)]
    _note(out, plan, req)
    return out


def _verdicts(answers: list[dict[str, Any] | None], index: Any) -> Any:
    import pandas as pd

    raw = [known_value(a.get(FILTER_FIELD)) if a and a.get("status") == "ok" else None
           for a in answers]
    return pd.Series(raw, index=index, dtype="object").astype("boolean")


def _with_cascade(out: Any, answers: list[dict[str, Any] | None], index: Any,
                  req: Requests, options: dict[str, Any]) -> Any:
    """With `cascade=`: which model answered each row and how sure it was (`model`,
    `confidence`); the calibration in `attrs["calibration"]` for the next run."""
    if options.get("cascade") is None:
        return out
    found = _answers_frame(answers, index, ["model", "confidence"])
    out["model"] = found["model"].astype("string")
    out["confidence"] = found["confidence"].astype("float64")
    if "calibration" in req.attrs:
        out.attrs["calibration"] = req.attrs["calibration"]
    return out


def _fields(answer: dict[str, Any] | None, shape: Schema) -> dict[str, Any] | None:
    """A valid answer's schema fields (None for a row not sent or answered invalidly)."""
    if not answer or answer.get("status") != "ok":
        return None
    return {f.name: known_value(answer.get(f.name)) for f in shape.fields}


def sem_classify(data: Any, template: str, labels: list[str], column: str = "label",
                 **options: Any) -> Any:
    """`data` with a `category` column holding exactly one of `labels` per row (NA where
    the row was empty or no valid label came back)."""
    import pandas as pd

    labels = [str(label) for label in labels]
    if len(set(labels)) < 2:
        raise ValueError("classify needs at least two different labels")
    shape = Schema.of({"label": labels})
    instruction = (f"Classify the item below: {layout(template, [])}\nThe fields named «like "
                   f"this» are given below. The label is exactly one of: {', '.join(labels)}.")
    index, req = _requests("classify", data, template, instruction, shape)
    answers, plan = run(req, options)
    if options.get("dry_run"):
        return as_plan(plan)
    raw = [known_value(a.get("label")) if a and a.get("status") == "ok" else None
           for a in answers]
    out = _with_cascade(_frame(data), answers, index, req, options)
    out[column] = pd.Categorical([r if r in labels else None for r in raw], categories=labels)
    _note(out, plan, req)
    return out


def sem_extract(data: Any, template: str, schema: Any, **options: Any) -> Any:
    """`data` with one typed column per field of `schema`, pulled out of each row's text."""
    return sem_map(data, template, schema=schema, **options)


def _frame(data: Any) -> Any:
    """The input as a DataFrame to add columns to (a Series becomes its one column)."""
    import pandas as pd

    if isinstance(data, pd.Series):
        return data.to_frame(name=data.name if data.name is not None else "text")
    return data.copy()


def _note(out: Any, plan: dict[str, Any], req: Requests) -> None:
    """The plan rides along (`df.attrs["glm_plan"]`), with what stopped the run, if any."""
    out.attrs.update(req.attrs)
    out.attrs["glm_plan"] = dict(plan, notes=list(req.notes)) if req.notes else plan
    for note in req.notes:
        print(f"glm-magic: {req.op}: {note}")
