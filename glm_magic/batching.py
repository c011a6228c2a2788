"""Prompts over lists, Series and DataFrames: bounded concurrency that slows the whole batch
down on rate limits, a progress bar with running cost, resume after an interruption, and a
ledger row for every call (source "batch")."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import errors, pricing
from .client import AsyncClient, backoff_delay
from .ledger import is_url
from .schema import Schema
from .sessions import Session, check_options
from .sessions import session as default_session
from .structured import StructuredAnswer, aask
from .tokens import count_prompt, estimate_messages
from .types import Completion, Usage

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["answer", "status", "error", "prompt_tokens", "completion_tokens", "cost",
           "latency_s", "attempts"]
STOPPING = (errors.QuotaExceededError, errors.BudgetExceededError,
            errors.AuthenticationError, errors.ConfigurationError)


RATE_LIMIT_RETRIES = 30  # refusals a row may meet before it is an error (a row is not lost
RATE_LIMIT_WAIT_S = 8.0  # to a busy minute); each wait at most this, or what the server asked


class AdaptiveLimiter:
    """How fast a batch sends: a concurrency limit that halves on a rate-limit signal and
    creeps back up by one after as many successes as the current limit (AIMD); a pace
    learned from the first refusal — just under the rate the server was answering at — that
    then rises about 5% a second to find a raised limit; and a shared cool-down so that a
    Retry-After pauses every row, not just the one that was refused. Refusals of one burst
    (within HOLD_S of the last) set the pace once: they are the same signal."""

    HOLD_S = 0.25  # 429s this close together are one signal
    WINDOW_S = 1.0  # the success rate a refusal is measured against
    PROBE = 0.05  # the pace rises this much per second without refusals

    def __init__(self, limit: int) -> None:
        self.max = max(1, limit)
        self.limit = self.max
        self.active = 0
        self.successes = 0
        self.cooldown_until = 0.0
        self.rate: float | None = None  # requests per second, once a refusal taught one
        self._next_start = 0.0
        self._last_penalty = -1e9
        self._recent: deque[float] = deque()
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> AdaptiveLimiter:
        while True:
            wait = self.cooldown_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._cond:
                await self._cond.wait_for(lambda: self.active < self.limit)
                now = time.monotonic()
                if self.cooldown_until > now:
                    continue
                self.active += 1
                if self.rate is None:
                    return self
                start = max(now, self._next_start)
                self._next_start = start + 1.0 / self.rate
            if start > now:  # paced: wait for this request's slot (holding its place)
                await asyncio.sleep(start - now)
            return self

    async def __aexit__(self, *exc: object) -> None:
        async with self._cond:
            self.active -= 1
            self._cond.notify_all()

    def penalize(self, retry_after: float | None) -> None:
        now = time.monotonic()
        if retry_after:
            self.cooldown_until = max(self.cooldown_until, now + retry_after)
        self.limit = max(1, self.limit // 2)
        self.successes = 0
        if now - self._last_penalty < self.HOLD_S:
            return  # the same burst: the pace was set by its first refusal
        self._last_penalty = now
        served = self._served(now)
        if served > 0:
            self.rate = 0.9 * served
        elif self.rate is not None:
            self.rate = max(0.5, self.rate / 2)

    def reward(self) -> None:
        now = time.monotonic()
        self._recent.append(now)
        self.successes += 1
        if self.successes >= self.limit and self.limit < self.max:
            self.limit += 1
            self.successes = 0
        if self.rate is not None:  # about +PROBE per second of successes
            self.rate *= 1.0 + self.PROBE / max(self.rate, 1.0)

    def _served(self, now: float) -> float:
        """Successes per second over the last WINDOW_S."""
        while self._recent and now - self._recent[0] > self.WINDOW_S:
            self._recent.popleft()
        span = min(self.WINDOW_S, now - self._recent[0]) if self._recent else 0.0
        return len(self._recent) / max(span, 0.1) if self._recent else 0.0


class ResumeStore:
    """Finished rows of a batch, keyed by the batch's settings and each row's prompt, in a
    SQLite file: running the same batch again sends only what is missing."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False,
                                    isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS batch_rows (batch TEXT, row TEXT, "
                          "result TEXT, PRIMARY KEY (batch, row))")
        self.lock = threading.Lock()

    def load(self, batch: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            rows = self.conn.execute("SELECT row, result FROM batch_rows WHERE batch = ?",
                                     (batch,)).fetchall()
        return {r: json.loads(v) for r, v in rows}

    def save(self, batch: str, row: str, result: dict[str, Any]) -> None:
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO batch_rows VALUES (?, ?, ?)",
                              (batch, row, json.dumps(result, ensure_ascii=False)))

    def close(self) -> None:
        self.conn.close()


@dataclass
class _Plan:
    index: Any
    prompts: list[str]
    provider: str
    model: str
    keys: list[str]
    batch_key: str


def _prompts(prompts: Any, template: str | None) -> tuple[Any, list[str]]:
    import pandas as pd

    if isinstance(prompts, pd.DataFrame):
        if template is None:
            raise ValueError("a DataFrame needs template=, e.g. template='Summarise: {text}'")
        missing = [c for c in _fields(template) if c not in prompts.columns]
        if missing:
            raise ValueError(f"template fields not in the DataFrame: {', '.join(missing)} "
                             f"(columns: {', '.join(map(str, prompts.columns))})")
        records = prompts.to_dict("records")
        return prompts.index, [template.format_map(r) for r in records]
    if isinstance(prompts, pd.Series):
        texts = [str(v) for v in prompts.tolist()]
        return prompts.index, _fill(template, texts, prompts.name)
    if isinstance(prompts, str) or not isinstance(prompts, Sequence):
        raise ValueError("prompts must be a list of strings, a pandas Series or a DataFrame")
    texts = [str(p) for p in prompts]
    return pd.RangeIndex(len(texts)), _fill(template, texts, None)


def _fill(template: str | None, texts: list[str], name: Any) -> list[str]:
    """A template over single values: `{}` is the value, and so is `{<Series name>}` (or
    `{text}`, the name most people write)."""
    if not template:
        return texts
    fields = set(_fields(template))
    allowed = {"", "text", "value"} | ({str(name)} if name is not None else set())
    unknown = fields - allowed
    if unknown:
        raise ValueError(f"template field(s) {', '.join(sorted(unknown))} are not known for a "
                         f"list or Series; use {{}} for the value"
                         + (f" or {{{name}}}" if name is not None else ""))
    keys = {f: None for f in fields if f}
    return [template.format(t, **dict.fromkeys(keys, t)) for t in texts]


def _fields(template: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def _plan(s: Session, prompts: Any, template: str | None, provider: str | None,
          model: str | None, system: str | None, params: dict[str, Any],
          schema: Schema | None = None) -> _Plan:
    index, texts = _prompts(prompts, template)
    name, mdl = s.resolve(provider, model)
    settings = json.dumps({"provider": name, "model": mdl, "system": system,
                           "template": template, "params": params,
                           "schema": schema.json_schema if schema else None}, sort_keys=True,
                          default=str, ensure_ascii=False)
    batch_key = hashlib.sha256(settings.encode()).hexdigest()[:16]
    keys = [hashlib.sha256(f"{i}\x00{t}".encode()).hexdigest()[:24]
            for i, t in zip(map(str, index), texts, strict=True)]
    return _Plan(index, texts, name, mdl, keys, batch_key)


def _messages(system: str | None, text: str) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + \
        [{"role": "user", "content": text}]


def _estimate(s: Session, plan: _Plan, system: str | None, params: dict[str, Any],
              schema: Schema | None) -> pd.Series:
    import pandas as pd

    tokens, counted_by = _count_rows(s, plan, system)
    info: dict[str, Any] = {"rows": len(plan.prompts), "provider": plan.provider,
                            "model": plan.model}
    if plan.prompts:  # the first row exactly as it would be sent (the schema included)
        body = {"model": plan.model, "messages": _messages(system, plan.prompts[0]), **params}
        if schema is not None:
            from .structured import adapt_request

            body = adapt_request(dict(body, response_format=schema.response_format()),
                                 s.client(plan.provider).provider)
            schema_tokens = estimate_messages([{"role": "user", "content": schema.text()}])
            info["schema_tokens_per_row"] = schema_tokens
            tokens += schema_tokens * len(plan.prompts)
        info["request"] = body
    exact = counted_by == "the provider's tokenizer" and schema is None
    key = s.client(plan.provider).provider.pricing_key()  # the key its rows are booked under
    cost, currency, status = pricing.cost(key, plan.model, Usage(tokens, 0, tokens),
                                          estimated=not exact)
    info.update({"prompt_tokens": tokens, "prompt_tokens_counted_by": counted_by,
                 "prompt_cost": cost, "currency": currency, "cost_status": status,
                 "note": "answer tokens are not included: they depend on the model"})
    return pd.Series(info)


EXACT_ROWS = 20  # rows a dry run counts with the provider's tokenizer; the rest are scaled


def _count_rows(s: Session, plan: _Plan, system: str | None) -> tuple[int, str]:
    """Prompt tokens of every row: the provider's tokenizer counts the first EXACT_ROWS
    (one request each, remembered), and the rest are our estimate scaled by what it found."""
    messages = [_messages(system, t) for t in plan.prompts]
    estimates = [estimate_messages(m) for m in messages]
    client = s.client(plan.provider)
    counted = []
    for m in messages[:EXACT_ROWS]:
        n, exact = count_prompt(client, plan.model, m)
        if not exact:
            return sum(estimates), "estimate"
        counted.append(n)
    if not counted:
        return sum(estimates), "estimate"
    if len(counted) == len(messages):
        return sum(counted), "the provider's tokenizer"
    scale = sum(counted) / max(1, sum(estimates[:len(counted)]))
    rest = round(sum(estimates[len(counted):]) * scale)
    return sum(counted) + rest, (f"the provider's tokenizer on {len(counted)} rows, the "
                                 "rest estimated and scaled to match")


async def abatch(prompts: Any, *, template: str | None = None, model: str | None = None,
                 provider: str | None = None, system: str | None = None, concurrency: int = 8,
                 max_retries: int = 3, on_error: str = "record", resume: str | bool | None = None,
                 dry_run: bool = False, progress: bool = True, session: Session | None = None,
                 schema: Any = None, max_repairs: int = 1, **params: Any) -> Any:
    """Run one prompt per row with bounded, rate-limit-aware concurrency.

    Returns a DataFrame aligned with the input (same index, same order) with columns
    answer, status, error, prompt_tokens, completion_tokens, cost, latency_s, attempts —
    and with `schema=`, one typed column per field. `dry_run=True` returns the estimated
    prompt tokens and cost, and the first row's exact request, instead of sending."""
    import pandas as pd

    if on_error not in ("record", "raise"):
        raise ValueError("on_error must be 'record' or 'raise'")
    shape = _schema(schema)
    s = session or default_session()
    if system is None:
        system = s.system  # %config GLMMagics.system / .temperature apply to batches too
    if "temperature" not in params and s.temperature is not None:
        params["temperature"] = s.temperature
    plan = _plan(s, prompts, template, provider, model, system, params, shape)
    if dry_run:
        return _estimate(s, plan, system, params, shape)
    s.client(plan.provider).provider.require_credentials()
    if s.client(plan.provider).provider.local:
        concurrency = 1  # one model in-process: rows run one after another
    if resume is True:  # beside the ledger: in its file, or next to a team ledger
        resume = s.ledger.file if not is_url(s.ledger.file) else \
            str(Path(s.ledger.local_dir) / "batch-resume.sqlite")
    store = ResumeStore(resume) if resume else None
    results: list[dict[str, Any] | None] = [None] * len(plan.prompts)
    if store is not None:
        saved = store.load(plan.batch_key)
        for i, k in enumerate(plan.keys):
            if k in saved:
                results[i] = saved[k]
    # the batch owns its client: closing it at the end never cuts a stream of the chat panel
    # or a cell running on the same loop
    client = AsyncClient(s._provider(plan.provider), timeout=s.timeout, max_retries=0,
                         on_retry=s._on_retry, record=False)
    limiter = AdaptiveLimiter(concurrency)
    stop: dict[str, Any] = {"reason": None, "error": None}
    bar = _progress(len(plan.prompts), sum(r is not None for r in results), progress)
    totals = {"ok": 0, "failed": 0, "tokens": 0, "cost": 0.0, "currency": ""}

    def finish(i: int, result: dict[str, Any]) -> None:
        results[i] = result
        if store is not None and result["status"] == "ok":
            store.save(plan.batch_key, plan.keys[i], result)
        totals["ok" if result["status"] == "ok" else "failed"] += 1
        totals["tokens"] += result["prompt_tokens"] + result["completion_tokens"]
        if result["cost"] == result["cost"] and result["cost"]:
            totals["cost"] += result["cost"]
        if bar is not None:
            bar.update(1)
            bar.set_postfix(ok=totals["ok"], failed=totals["failed"], tokens=totals["tokens"],
                            cost=f"{totals['cost']:.4f}", refresh=False)

    async def run_row(i: int) -> None:
        call_id, attempt = uuid.uuid4().hex, 0
        while True:
            attempt += 1
            if stop["reason"]:
                return
            try:
                async with limiter:
                    if stop["reason"]:
                        return
                    call = dict(provider=plan.provider, model=plan.model, system=system,
                                once=True, stream=False, source="batch", call_id=call_id,
                                attempt=attempt, client=client, **params)
                    if shape is None:
                        comp = await s.acomplete(plan.prompts[i], **call)
                    else:
                        answer = await aask(s, plan.prompts[i], shape,
                                            max_repairs=max_repairs, **call)
            except errors.GLMError as err:
                rate = isinstance(err, errors.RateLimitError)
                if rate:
                    limiter.penalize(err.retry_after)
                if isinstance(err, STOPPING):
                    stop["reason"], stop["error"] = errors.describe(err), err
                    finish(i, _row(None, "error", errors.describe(err), attempt))
                    return
                if rate and attempt <= max(max_retries, RATE_LIMIT_RETRIES):
                    # "come back later": the limiter paces the retry, a refusal is no failure
                    await asyncio.sleep(min(backoff_delay(attempt, err.retry_after),
                                            RATE_LIMIT_WAIT_S))
                    continue
                if err.retryable and attempt <= max_retries:
                    await asyncio.sleep(backoff_delay(attempt, err.retry_after))
                    continue
                if on_error == "raise":
                    stop["reason"], stop["error"] = errors.describe(err), err
                status = "filtered" if isinstance(err, errors.ContentFilterError) else "error"
                finish(i, _row(err.partial if isinstance(err.partial, Completion) else None,
                               status, errors.describe(err), attempt))
                return
            except Exception as exc:  # noqa: BLE001 - one row's surprise never costs the rest
                finish(i, _row(None, "error", f"{type(exc).__name__}: {exc}", attempt))
                return
            limiter.reward()
            finish(i, _row(comp, "ok", None, attempt) if shape is None
                   else _structured_row(answer, attempt))
            return

    todo = iter([i for i, r in enumerate(results) if r is None])

    async def worker() -> None:  # a fixed pool of workers: waiting costs O(concurrency)
        for i in todo:
            if stop["reason"]:
                return
            await run_row(i)

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, concurrency))]
    interrupted = False
    try:
        await asyncio.gather(*tasks)
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if bar is not None:
            bar.close()
        if store is not None:
            store.close()
        await client.close()
    if stop["error"] is not None and on_error == "raise":
        raise stop["error"]
    left = "interrupted" if interrupted else "skipped"
    rows = [r if r is not None else _row(None, left, stop["reason"] if not interrupted else
                                         "the batch was interrupted", 0) for r in results]
    df = pd.DataFrame(rows, index=plan.index, columns=COLUMNS)
    if shape is not None:
        df = df.join(shape.columns([r.get("value") for r in rows], plan.index))
    df.attrs["stopped"] = stop["reason"]
    if stop["reason"]:
        print(f"glm-magic: batch stopped: {stop['reason']}")
    return df


def _row(comp: Any, status: str, error: str | None, attempts: int) -> dict[str, Any]:
    u = comp.usage if comp is not None else None
    cost = comp.cost if comp is not None and comp.cost is not None else math.nan
    return {"answer": comp.text if comp is not None and (status == "ok" or comp.text)
            else None,
            "status": status, "error": error,
            "prompt_tokens": u.prompt_tokens if u else 0,
            "completion_tokens": u.completion_tokens if u else 0,
            "cost": cost, "latency_s": comp.latency_s if comp is not None else math.nan,
            "attempts": attempts}


def _schema(spec: Any) -> Schema | None:
    """The batch's schema, refused when a field would overwrite one of batch's columns."""
    if spec is None:
        return None
    shape = Schema.of(spec)
    clash = [f.name for f in shape.fields if f.name in COLUMNS]
    if clash:
        raise ValueError(f"schema field(s) {', '.join(clash)} would overwrite batch's own "
                         f"column(s); rename them (batch columns: {', '.join(COLUMNS)})")
    return shape


def _structured_row(answer: StructuredAnswer, attempts: int) -> dict[str, Any]:
    """A row for a structured answer: its calls (repairs too) summed; `invalid` with the
    reason when no valid value came back."""
    comps = answer.completions
    row = _row(answer.completion, "ok" if answer.ok else "invalid", answer.error, attempts)
    row["prompt_tokens"] = sum(c.usage.prompt_tokens for c in comps if c.usage)
    row["completion_tokens"] = sum(c.usage.completion_tokens for c in comps if c.usage)
    costs = [c.cost for c in comps]
    row["cost"] = math.nan if any(c is None for c in costs) else sum(costs)
    row["latency_s"] = sum(c.latency_s or 0.0 for c in comps)
    value = answer.value
    row["value"] = value.model_dump() if hasattr(value, "model_dump") else value
    return row


def _progress(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="glm batch", unit="row")


def batch(prompts: Any, *, template: str | None = None, model: str | None = None,
          provider: str | None = None, system: str | None = None, concurrency: int = 8,
          max_retries: int = 3, on_error: str = "record", resume: str | bool | None = None,
          dry_run: bool = False, progress: bool = True, session: Session | None = None,
          schema: Any = None, max_repairs: int = 1, via: str = "online",
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

    Works inside a running notebook loop: the batch runs on a private event loop in a worker
    thread (asyncio is never patched). A kernel interrupt stops it and returns what is done."""
    from ._aio import run_in_worker
    from .batch_dask import is_dask

    if is_dask(prompts):
        if via != "online" or dry_run or resume or schema is not None:
            raise ValueError("a dask DataFrame runs online only (no via=, dry_run=, resume= "
                             "or schema= yet); run those on a pandas DataFrame")
        from .batch_dask import batch_dask

        return batch_dask(prompts, template=template, model=model, provider=provider,
                          system=system, concurrency=concurrency, max_retries=max_retries,
                          on_error=on_error, session=session, params=params)
    if via not in ("online", "batch_api"):
        raise ValueError(f"via must be 'online' or 'batch_api', not {via!r}")
    if via == "batch_api":
        return _via_batch_api(prompts, template, model, provider, system, resume, dry_run,
                              session, schema, params)

    return run_in_worker(abatch(
        prompts, template=template, model=model, provider=provider, system=system,
        concurrency=concurrency, max_retries=max_retries, on_error=on_error, resume=resume,
        dry_run=dry_run, progress=progress, session=session, schema=schema,
        max_repairs=max_repairs, **params))


def _via_batch_api(prompts: Any, template: str | None, model: str | None,
                   provider: str | None, system: str | None, resume: Any, dry_run: bool,
                   session: Session | None, schema: Any, params: dict[str, Any]) -> Any:
    """`batch(..., via="batch_api")`: plan the rows as usual, then submit them as one job."""
    from . import batch_api

    if schema is not None:
        raise ValueError("schema= is not available with via='batch_api' yet; run it online")
    s = session or default_session()
    check_options(params)
    plan = _plan(s, prompts, template, provider, model, system, params)
    if not s.client(plan.provider).provider.supports_batches:
        raise ValueError(f"provider {plan.provider!r} has no Batch API; use zhipu or an "
                         "OpenAI-compatible server, or run it online")
    if dry_run:
        return batch_api.dry_run(s, plan, system, params)
    s.client(plan.provider).provider.require_credentials()
    return batch_api.submit(s, plan, system, params,
                            resume if isinstance(resume, (str, os.PathLike)) else None)
