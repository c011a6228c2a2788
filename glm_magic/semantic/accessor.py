"""`df.glm` and `series.glm`: the semantic operators as a pandas accessor (registered when
`glm_magic` is imported), and `ddf.glm` on dask DataFrames for the row-wise ones (lazy: one
`map_partitions`, like `batch(ddf)`)."""

from __future__ import annotations

from typing import Any

from .relational import sem_agg, sem_dedup, sem_join, sem_topk
from .rowwise import sem_classify, sem_extract, sem_filter, sem_map


class GLMAccessor:
    """Semantic operators on a DataFrame or Series. Every call is an ordinary ledger row
    (`source == "semantic"`, the operator's name in `tags`), priced like any other call and
    under the session budget. Options: `model=`, `provider=`, `system=`, `concurrency=`,
    `resume=`, `max_repairs=`, `cache=`, sampling parameters; `dry_run=True` returns the plan
    (calls, tokens, cost online and at the Batch API price); `confirm_over=` a cost above
    which the operator stops with the plan unless `confirm=True`."""

    def __init__(self, data: Any) -> None:
        self._data = data

    def map(self, template: str, schema: Any = None, column: str = "answer",
            **options: Any) -> Any:
        """The answer to `template` for each row (`column`, or a typed column per field)."""
        return sem_map(self._data, template, schema=schema, column=column, **options)

    def filter(self, condition: str, keep: str | None = None, **options: Any) -> Any:
        """The rows for which `condition` holds (`keep="verdict"`: all rows, a verdict
        column)."""
        return sem_filter(self._data, condition, keep=keep, **options)

    def classify(self, template: str, labels: list[str], column: str = "label",
                 **options: Any) -> Any:
        """A `category` column with exactly `labels`."""
        return sem_classify(self._data, template, labels, column=column, **options)

    def extract(self, template: str, schema: Any, **options: Any) -> Any:
        """Typed columns pulled out of free text (one per field of `schema`)."""
        return sem_extract(self._data, template, schema, **options)

    def join(self, other: Any, condition: str, prefilter: int | None = None,
             **options: Any) -> Any:
        """The pairs of rows for which `condition` holds (`{col:left}`, `{col:right}`);
        `prefilter=k` asks only each left row's k nearest right rows."""
        return sem_join(self._frame(), other, condition, prefilter=prefilter, **options)

    def topk(self, k: int, criterion: str, **options: Any) -> Any:
        """The k best rows by `criterion`, best first."""
        return sem_topk(self._data, k, criterion, **options)

    def agg(self, instruction: str, by: Any = None, **options: Any) -> Any:
        """One summary per group (hierarchically for groups larger than a call)."""
        return sem_agg(self._frame(), instruction, by=by, **options)

    def dedup(self, template_or_column: str, threshold: float = 0.9, **options: Any) -> Any:
        """One row per cluster of near-duplicates."""
        return sem_dedup(self._data, template_or_column, threshold=threshold, **options)

    def _frame(self) -> Any:
        import pandas as pd

        data = self._data
        if isinstance(data, pd.Series):
            return data.to_frame(name=data.name if data.name is not None else "text")
        return data


class DaskGLMAccessor:
    """The row-wise operators on a dask DataFrame: lazy, one `map_partitions`."""

    def __init__(self, data: Any) -> None:
        self._data = data

    def _lazy(self, op: Any, *args: Any, **options: Any) -> Any:
        if options.get("dry_run"):
            raise ValueError("dry_run= plans a pandas DataFrame; plan on ddf.head(...) or a "
                             "sample, then run on the dask DataFrame")
        meta = op(self._data._meta, *args, **{**options, "dry_run": False})
        return self._data.map_partitions(op, *args, meta=meta, **options)

    def map(self, template: str, schema: Any = None, column: str = "answer",
            **options: Any) -> Any:
        return self._lazy(sem_map, template, schema=schema, column=column, **options)

    def filter(self, condition: str, keep: str | None = None, **options: Any) -> Any:
        return self._lazy(sem_filter, condition, keep=keep, **options)

    def classify(self, template: str, labels: list[str], column: str = "label",
                 **options: Any) -> Any:
        return self._lazy(sem_classify, template, labels, column=column, **options)

    def extract(self, template: str, schema: Any, **options: Any) -> Any:
        return self._lazy(sem_extract, template, schema, **options)


_registered = False


def register() -> None:
    """Register `.glm` on pandas (and dask, when it is installed and imported)."""
    global _registered
    if _registered:
        return
    import warnings

    import pandas as pd

    with warnings.catch_warnings():  # re-registering after a reload is fine
        warnings.simplefilter("ignore")
        pd.api.extensions.register_dataframe_accessor("glm")(GLMAccessor)
        pd.api.extensions.register_series_accessor("glm")(GLMAccessor)
    _registered = True
    import sys

    if "dask.dataframe" in sys.modules:
        register_dask()


_dask_registered = False


def register_dask() -> None:
    global _dask_registered
    if _dask_registered:
        return
    import warnings

    import dask.dataframe as dd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dd.extensions.register_dataframe_accessor("glm")(DaskGLMAccessor)
    _dask_registered = True
