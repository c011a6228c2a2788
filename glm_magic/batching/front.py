"""`batch()`: where a batch runs — online now (`online`), as one job of the provider's Batch
API (`batch_api`), or on a dask cluster (`batch_dask`) — decided from its arguments."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..calls.sessions import check_options
from ..calls.sessions import session as default_session
from .online import run_online
from .plan import make_plan

if TYPE_CHECKING:
    from ..calls.sessions import Session


def batch(prompts: Any, *, template: str | None = None, model: str | None = None,
          provider: str | None = None, system: str | None = None, concurrency: int = 8,
          max_retries: int = 3, on_error: str = "record", resume: str | bool | None = None,
          dry_run: bool = False, progress: bool = True, session: Session | None = None,
          schema: Any = None, max_repairs: int = 1, via: str = "online",
          cache: str | bool | None = None, cascade: Any = None, agreement: float = 0.95,
          **params: Any) -> Any:
    """Run one prompt per row of a list, Series or DataFrame; returns a DataFrame aligned with
    the input (same index and order): answer, status, error, prompt_tokens,
    completion_tokens, cost, latency_s, attempts.

    schema: answers as typed columns — a dict of field → type (`{"label": ["pos", "neg"],
        "score": float, "spam": bool, "tags": list[str]}`; a list is an enum), a JSON Schema
        or a pydantic model class. Each field becomes a column (enums `category`, numbers
        float64/Int64, booleans `boolean`, text `string`, lists and objects Python objects);
        a row whose answer stays invalid after `max_repairs` repairs has status "invalid"
        and the reason in `error`.

    template: `"Summarise: {text}"` — DataFrame columns by name; for a list or Series `{}`
        (or the Series' name) is the value. concurrency: requests in flight, halved on every
        rate limit and regained slowly. resume: True (the ledger's file) or a path: a rerun
        sends only the rows not yet done. on_error: "record" (a row's error in its row) or
        "raise". dry_run: the estimated prompt tokens and cost, nothing sent. Other keywords
        (temperature, max_tokens, …) go to the API.

    via: "online" (default) sends the rows now; "batch_api" submits them as one job of the
        provider's Batch API (half price, done within 24 h, independent of this kernel) and
        returns a `BatchJob` at once — `job.wait()`, `job.result()` (this same DataFrame),
        `job.status()`, `job.cancel()`; `resume=` names its job file, and
        `glm_magic.batch_job(path_or_id)` picks it up later. With `dry_run=True` it shows the
        JSONL lines and the cost at the batch price beside the online one.

    cache: the response cache for these rows ("on", "off", "replay", "refresh", True, False;
        default `GLMSettings.cache`): a re-run answers from the cache at no cost; in replay a
        row the cache does not hold raises `CacheMissError` naming the row.

    cascade: `("glm-4-flash", "glm-5.1")` (cheapest first; `provider:model` accepted) with a
        schema that has an enum field: a calibration sample goes to every model, then each
        row to the cheapest model and on to the next only when its confidence is below the
        threshold calibrated so the answers agree with the last model's on at least
        `agreement` of rows (at `confidence=0.95`). Adds `model` and `confidence` columns;
        `attrs["calibration"]` can be passed as `cascade=` to skip calibrating again.
        See `glm_magic.batching.cascade`.

    Works inside a running notebook loop: the batch runs on a private event loop in a worker
    thread (asyncio is never patched). A kernel interrupt stops it and returns what is done."""
    from .batch_dask import is_dask

    if cascade is not None:
        from .cascade import run_cascade

        if via != "online" or resume:
            raise ValueError("cascade= runs online, without resume= (each stage is a batch)")
        return run_cascade(prompts, run_batch=batch, cascade=cascade, schema=schema, agreement=agreement,
                           template=template, system=system, dry_run=dry_run,
                           progress=progress, concurrency=concurrency,
                           max_retries=max_retries, on_error=on_error, session=session,
                           max_repairs=max_repairs, cache=cache, **params)
    if is_dask(prompts):
        if via != "online" or dry_run or resume or schema is not None:
            raise ValueError("a dask DataFrame runs online only (no via=, dry_run=, resume= "
                             "or schema= yet); run those on a pandas DataFrame")
        from .batch_dask import batch_dask

        return batch_dask(prompts, template=template, model=model, provider=provider,
                          system=system, concurrency=concurrency, max_retries=max_retries,
                          on_error=on_error, session=session,
                          params=params if cache is None else {**params, "cache": cache})
    if via not in ("online", "batch_api"):
        raise ValueError(f"via must be 'online' or 'batch_api', not {via!r}")
    if via == "batch_api":
        if cache not in (None, False, "off"):
            raise ValueError("the Batch API runs on the provider's side: the response cache "
                             "does not apply to via='batch_api' (use via='online')")
        return _via_batch_api(prompts, template, model, provider, system, resume, dry_run,
                              session, schema, params)

    return run_online(
        prompts, template=template, model=model, provider=provider, system=system,
        concurrency=concurrency, max_retries=max_retries, on_error=on_error, resume=resume,
        dry_run=dry_run, progress=progress, session=session, schema=schema,
        max_repairs=max_repairs, cache=cache, **params)


def _via_batch_api(prompts: Any, template: str | None, model: str | None,
                   provider: str | None, system: str | None, resume: Any, dry_run: bool,
                   session: Session | None, schema: Any, params: dict[str, Any]) -> Any:
    """`batch(..., via="batch_api")`: plan the rows as usual, then submit them as one job."""
    from . import batch_api

    if schema is not None:
        raise ValueError("schema= is not available with via='batch_api' yet; run it online")
    s = session or default_session()
    check_options(params)
    plan = make_plan(s, prompts, template, provider, model, system, params)
    if not s.client(plan.provider).provider.supports_batches:
        raise ValueError(f"provider {plan.provider!r} has no Batch API; use zhipu or an "
                         "OpenAI-compatible server, or run it online")
    if dry_run:
        return batch_api.dry_run(s, plan, system, params)
    s.client(plan.provider).provider.require_credentials()
    return batch_api.submit(s, plan, system, params,
                            resume if isinstance(resume, (str, os.PathLike)) else None)
