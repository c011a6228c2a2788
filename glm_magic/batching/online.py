"""Prompts over lists, Series and DataFrames: bounded concurrency that slows the whole batch
down on rate limits, a progress bar with running cost, resume after an interruption, and a
ledger row for every call (source "batch")."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

from .. import errors
from ..accounting.caching import cache_mode
from ..accounting.ledger import is_url, patiently
from ..calls.limiter import STOPPING, progress_bar
from ..calls.sessions import Session
from ..calls.sessions import session as default_session
from ..calls.structured import StructuredAnswer, aask
from ..calls.workers import Stopped, Workers
from ..core.client import AsyncClient
from ..schema import Schema
from ..types import Completion
from .cached_rows import answer_from_cache
from .plan import COLUMNS, estimate, make_plan


class ResumeStore:
    """Finished rows of a batch, keyed by the batch's settings and each row's prompt, in a
    SQLite file: running the same batch again sends only what is missing."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False,
                                    isolation_level=None)
        # switching a new file to WAL takes an exclusive lock that ignores the timeout: the
        # processes of a dask computation opening one store at once wait their turn
        patiently(lambda: self.conn.execute("PRAGMA journal_mode=WAL"), 10.0)
        patiently(lambda: self.conn.execute(
            "CREATE TABLE IF NOT EXISTS batch_rows (batch TEXT, row TEXT, result TEXT, "
            "PRIMARY KEY (batch, row))"), 10.0)
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


async def abatch(prompts: Any, *, template: str | None = None, model: str | None = None,
                 provider: str | None = None, system: str | None = None, concurrency: int = 8,
                 max_retries: int = 3, on_error: str = "record", resume: str | bool | None = None,
                 dry_run: bool = False, progress: bool = True, session: Session | None = None,
                 schema: Any = None, max_repairs: int = 1, cache: str | bool | None = None,
                 source: str = "batch", tags: Any = None, **params: Any) -> Any:
    """Run one prompt per row with bounded, rate-limit-aware concurrency.

    Returns a DataFrame aligned with the input (same index, same order) with columns
    answer, status, error, prompt_tokens, completion_tokens, cost, latency_s, attempts —
    and with `schema=`, one typed column per field. `dry_run=True` returns the estimated
    prompt tokens and cost, and the first row's exact request, instead of sending."""
    import pandas as pd

    if on_error not in ("record", "raise"):
        raise ValueError("on_error must be 'record' or 'raise'")
    shape = _schema(schema)
    label = next(iter(shape.label_fields()), None) if shape is not None else None
    s = session or default_session()
    if system is None:
        system = s.system  # %config GLMMagics.system / .temperature apply to batches too
    if "temperature" not in params and s.temperature is not None:
        params["temperature"] = s.temperature
    plan = make_plan(s, prompts, template, provider, model, system, params, shape)
    if dry_run:
        return estimate(s, plan, system, params, shape)
    mode = cache_mode(cache) or s.recorder.cache_mode
    if mode != "replay":  # a replay answers from the file alone: no key needed
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
    if shape is None:  # a re-run: the cached rows are answered before any worker starts
        answer_from_cache(s, plan, system, params, mode, results,
                          lambda comp, attempts: _row(comp, "ok", None, attempts), source,
                          ",".join(tags) if isinstance(tags, (list, tuple)) else tags)
    # the batch owns its client: closing it at the end never cuts a stream of the chat panel
    # or a cell running on the same loop
    todo = [i for i, r in enumerate(results) if r is None]
    client = AsyncClient(s.provider_for(plan.provider), timeout=s.timeout, max_retries=0,
                         record=False) if todo else None  # none when the cache answered all
    workers = Workers(concurrency, max_retries)
    stop: dict[str, Any] = {"error": None}
    missed: dict[str, Any] = {"error": None}  # a replay miss fails the batch, whatever on_error
    bar = progress_bar(len(plan.prompts), sum(r is not None for r in results), progress)
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
        call_id = uuid.uuid4().hex
        last = {"attempt": 0}

        async def send(attempt: int) -> Any:
            last["attempt"] = attempt
            call = dict(provider=plan.provider, model=plan.model, system=system, once=True,
                        stream=False, source=source, call_id=call_id, attempt=attempt,
                        client=client, cache=cache, tags=tags, **params)
            if shape is None:
                return await s.acomplete(plan.prompts[i], **call)
            return await aask(s, plan.prompts[i], shape, max_repairs=max_repairs, **call)

        try:
            answer = await workers.attempt(send)
        except Stopped:
            return  # left for the end: "skipped" with the reason the batch stopped
        except errors.GLMError as err:
            if isinstance(err, errors.CacheMissError):  # replay: say which row, stop
                err.message = f"row {plan.index[i]!r}: {err.message}"
                missed["error"] = missed["error"] or err
            if isinstance(err, (*STOPPING, errors.CacheMissError)) or on_error == "raise":
                stop["error"] = stop["error"] or err
                workers.stop(errors.describe(err))
            status = "filtered" if isinstance(err, errors.ContentFilterError) else "error"
            partial = err.partial if isinstance(err.partial, Completion) and \
                not isinstance(err, STOPPING) else None
            finish(i, _row(partial, status, errors.describe(err), last["attempt"]))
            return
        except Exception as exc:  # noqa: BLE001 - one row's surprise never costs the rest
            finish(i, _row(None, "error", f"{type(exc).__name__}: {exc}", last["attempt"]))
            return
        finish(i, _row(answer, "ok", None, last["attempt"]) if shape is None
               else _structured_row(answer, last["attempt"], label))

    interrupted = False
    try:
        await workers.run(todo, run_row)
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
        if store is not None:
            store.close()
        if client is not None:
            await client.close()
    reason = workers.stopped
    if missed["error"] is not None:
        raise missed["error"]
    if stop["error"] is not None and on_error == "raise":
        raise stop["error"]
    left = "interrupted" if interrupted else "skipped"
    rows = [r if r is not None else _row(None, left, reason if not interrupted else
                                         "the batch was interrupted", 0) for r in results]
    df = pd.DataFrame(rows, index=plan.index, columns=COLUMNS)
    if params.get("logprobs"):  # asked for: how sure the model was of each answer
        df["logprob_confidence"] = [r.get("logprob_confidence") for r in rows]
    if shape is not None:
        df = df.join(shape.columns([r.get("value") for r in rows], plan.index))
    df.attrs["stopped"] = reason
    if reason:
        print(f"glm-magic: batch stopped: {reason}")
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
            "attempts": attempts, "logprob_confidence": answer_probability(comp)}


def answer_probability(comp: Any, field_value: tuple[str, str] | None = None
                       ) -> float | None:
    """The probability of the answer's tokens — exp of the sum of their log-probabilities —
    when the server returned them (OpenAI-compatible `logprobs`), else None.

    With `field_value=(name, value)`, only the tokens that spell that field's value in the JSON
    answer count: how the model spaced or quoted the JSON says nothing of how sure it was of
    the label, and those tokens' probabilities would drown the label's."""
    raw = getattr(comp, "raw", None)
    if raw is None:  # a cached answer, or a server that sent none
        return None
    try:
        content = raw["choices"][0]["logprobs"]["content"]
        pieces = [(str(t["token"]), float(t["logprob"])) for t in content]
    except (TypeError, KeyError, IndexError, ValueError):
        return None
    if not pieces:
        return None
    if field_value is not None:
        text = "".join(p for p, _ in pieces)
        key = text.find(json.dumps(field_value[0]))
        start = text.find(field_value[1], key + len(field_value[0]) + 2) if key >= 0 else -1
        if start >= 0:
            end, at, chosen = start + len(field_value[1]), 0, []
            for piece, lp in pieces:
                if at < end and at + len(piece) > start:
                    chosen.append(lp)
                at += len(piece)
            pieces = [("", lp) for lp in chosen]
    return math.exp(sum(lp for _, lp in pieces))


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


def _structured_row(answer: StructuredAnswer, attempts: int, label: str | None
                    ) -> dict[str, Any]:
    """A row for a structured answer: its calls (repairs too) summed; `invalid` with the
    reason when no valid value came back. With log-probabilities, the confidence is that of
    the `label` field's value (the schema's first enum field), not of the JSON around it."""
    comps = answer.completions
    row = _row(answer.completion, "ok" if answer.ok else "invalid", answer.error, attempts)
    row["prompt_tokens"] = sum(c.usage.prompt_tokens for c in comps if c.usage)
    row["completion_tokens"] = sum(c.usage.completion_tokens for c in comps if c.usage)
    costs = [c.cost for c in comps]
    row["cost"] = math.nan if any(c is None for c in costs) else sum(costs)
    row["latency_s"] = sum(c.latency_s or 0.0 for c in comps)
    value = answer.value
    row["value"] = value.model_dump() if hasattr(value, "model_dump") else value
    if label and isinstance(row["value"], dict) and row["value"].get(label) is not None:
        spelled = json.dumps(row["value"][label], ensure_ascii=False).strip('"')
        row["logprob_confidence"] = answer_probability(answer.completion, (label, spelled))
    return row


def run_online(prompts: Any, **options: Any) -> Any:
    """`abatch` from sync code: on a private event loop in a worker thread (asyncio is never
    patched), so it works inside a running notebook loop."""
    from .._aio import run_in_worker

    return run_in_worker(abatch(prompts, **options))
