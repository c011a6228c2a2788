"""`batch(ddf, template=...)` for a dask DataFrame or Series: a lazy dask DataFrame (one
`map_partitions`, with the result's columns and dtypes as `meta`) whose partitions run the
ordinary `batch()` on the workers.

Concurrency is a cluster-wide total split equally over the cluster's worker threads (each
partition runs `concurrency // threads` rows at once): no request waits on a scheduler round
trip, as it would with a `distributed.Semaphore` per request. A rate limit slows the partitions
that meet it (each runs batch's adaptive limiter). An arrears or budget stop sets a
`distributed.Event`: partitions that have not started return their rows as `skipped`, and rows
already done are kept. Workers write to the configured ledger: the PostgreSQL team ledger when
set, else the same SQLite file (processes of one machine share it safely)."""

from __future__ import annotations

import uuid
from typing import Any

NUMERIC = {"prompt_tokens": "int64", "completion_tokens": "int64", "cost": "float64",
           "latency_s": "float64", "attempts": "int64"}


def is_dask(obj: Any) -> bool:
    """A dask DataFrame or Series (without importing dask)."""
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr") and \
        hasattr(obj, "map_partitions")


def meta_frame(index: Any) -> Any:
    """The empty result with the columns and dtypes every partition returns."""
    import pandas as pd

    from .plan import COLUMNS

    return pd.DataFrame({c: pd.Series([], dtype=NUMERIC.get(c, "object")) for c in COLUMNS},
                        index=index[:0])


def _threads() -> int:
    """Worker threads of the cluster this process is a client of (1 without one)."""
    try:
        from distributed import get_client

        info = get_client().scheduler_info()
    except (ImportError, ValueError):
        return 1
    return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))


def batch_dask(data: Any, *, template: str | None, model: str | None, provider: str | None,
               system: str | None, concurrency: int, max_retries: int, on_error: str,
               session: Any, params: dict[str, Any]) -> Any:
    """Plan here (the provider, model, settings and ledger every worker uses), run there."""
    from ..calls.sessions import session as default_session

    s = session or default_session()
    name, mdl = s.resolve(provider, model)
    s.client(name).provider.require_credentials()
    if system is None:
        system = s.system
    if "temperature" not in params and s.temperature is not None:
        params = {**params, "temperature": s.temperature}
    budget = None
    if s.budget is not None:
        limit, currency = s.budget
        budget = (max(0.0, limit - s.spent.get(currency, 0.0)), currency)
    per_partition = max(1, int(concurrency) // _threads())
    return data.map_partitions(
        run_partition, template=template, provider=name, model=mdl, system=system,
        concurrency=per_partition, max_retries=max_retries, on_error=on_error,
        params=params, ledger_path=s.ledger_path, budget=budget, rows_path=rows_store(),
        stop_name=f"glm-magic-stop-{uuid.uuid4().hex}", meta=meta_frame(data._meta.index),
        align_dataframes=False)


ROWS_KEPT_S = 7 * 86400


def rows_store() -> str:
    """A fresh per-computation row store (SQLite, WAL) beside the ledger: every worker process
    of this machine reaches it. Stores older than a week are removed."""
    import time

    from ..accounting.ledger import local_dir

    folder = local_dir() / "dask-rows"
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.glob("*.sqlite*"):
        try:
            if now - old.stat().st_mtime > ROWS_KEPT_S:
                old.unlink()
        except OSError:
            continue
    path = str(folder / f"{uuid.uuid4().hex}.sqlite")
    from .online import ResumeStore

    ResumeStore(path).close()  # made (in WAL mode) here, before the workers open it at once
    return path


def _stop_event(name: str) -> Any:
    try:
        from distributed import Event, get_worker

        get_worker()
    except (ImportError, ValueError):
        return None
    return Event(name)


def run_partition(part: Any, *, template: str | None, provider: str, model: str,
                  system: str | None, concurrency: int, max_retries: int, on_error: str,
                  params: dict[str, Any], ledger_path: str | None,
                  budget: tuple[float, str] | None, stop_name: str,
                  rows_path: str | None = None) -> Any:
    """One partition on a worker: the ordinary batch, unless the computation was stopped.
    Finished rows go to `rows_path` as they finish, so a partition that dask runs again after
    a worker died sends (and pays for) only the rows no earlier attempt finished."""
    from ..calls.sessions import session as default_session
    from .online import run_online

    meta = meta_frame(part.index)
    if len(part) == 0:
        return meta
    stop = _stop_event(stop_name)
    if stop is not None and stop.is_set():
        out = meta.reindex(part.index)
        out["status"] = "skipped"
        out["error"] = "the batch was stopped (arrears or budget) before this partition ran"
        return _typed(out.fillna({"prompt_tokens": 0, "completion_tokens": 0, "attempts": 0,
                                  "cost": 0.0}))
    s = default_session()
    if ledger_path and s.ledger_path != ledger_path:
        s.set_ledger(ledger_path)
    if budget is not None:
        s.set_budget(*budget)
    out = run_online(part, template=template, provider=provider, model=model, system=system,
                     concurrency=concurrency, max_retries=max_retries, on_error=on_error,
                     progress=False, resume=rows_path, **params)
    if out.attrs.get("stopped") and stop is not None:
        stop.set()
    return _typed(out)


def _typed(frame: Any) -> Any:
    import pandas as pd

    out = frame.copy()
    for c in out.columns:
        if c in NUMERIC:
            out[c] = pd.to_numeric(out[c]).astype(NUMERIC[c])
        else:
            out[c] = out[c].astype("object")
    return out
