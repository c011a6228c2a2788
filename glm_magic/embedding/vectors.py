"""`glm_magic.embed(texts)`: vectors for a column, packed into as few requests as each
provider allows, run with batch's rate-limit-aware concurrency, priced and recorded (source
"embed"), and cached in SQLite so a re-run sends only new texts. `similar()` finds the nearest
rows with numpy alone."""

from __future__ import annotations

import math
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors
from ..accounting import pricing
from ..accounting.recording import Call
from ..calls.estimates import priced
from ..calls.limiter import progress_bar
from ..calls.sessions import Session
from ..calls.sessions import session as default_session
from ..calls.workers import Workers
from ..core.client import AsyncClient
from ..tokens import estimate_tokens
from ..types import Completion, Usage
from .cache import VectorCache, cache_key, checked_vectors

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["VectorCache", "aembed", "cache_key", "checked_vectors", "embed", "similar"]
CACHE_NAME = "embeddings.sqlite"
MAX_REQUEST_TOKENS = 300_000  # OpenAI's per-request cap, the strictest documented one


def _rows(texts: Any) -> tuple[Any, list[str | None]]:
    """(index, texts) with None where a row has nothing to embed (None, NaN, empty)."""
    import pandas as pd

    if isinstance(texts, pd.DataFrame):
        raise ValueError("embed() takes one column: pass df['text'], not the whole DataFrame")
    if isinstance(texts, str):
        texts = [texts]
    if isinstance(texts, pd.Series):
        index, values = texts.index, texts.tolist()
    else:
        values = list(texts)
        index = pd.RangeIndex(len(values))
    out: list[str | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out.append(None)
        else:
            text = v if isinstance(v, str) else str(v)
            out.append(text if text.strip() else None)
    return index, out


def _fit(text: str, limit: int) -> str:
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _pack(texts: list[str], max_inputs: int, counts: dict[str, int]) -> list[list[int]]:
    """Positions of `texts` grouped into requests within the input and token limits."""
    groups: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for i, t in enumerate(texts):
        n = counts[t]
        if current and (len(current) >= max_inputs or tokens + n > MAX_REQUEST_TOKENS):
            groups.append(current)
            current, tokens = [], 0
        current.append(i)
        tokens += n
    if current:
        groups.append(current)
    return groups


def embed(texts: Any, *, model: str | None = None, provider: str | None = None,
          dimensions: int | None = None, batch_size: int | None = None, concurrency: int = 8,
          cache: bool | str = True, as_frame: bool = False, truncate: bool = False,
          dry_run: bool = False, max_retries: int = 3, progress: bool = True,
          summary: bool = True, session: Session | None = None) -> Any:
    """Vectors for `texts` (a list, a Series or a DataFrame column): a float32 numpy array
    with one row per input row (NaN rows for None, NaN and empty texts, which are not sent),
    or with `as_frame=True` a DataFrame indexed like the input.

    model: the provider's embedding model (default: embedding-3 on zhipu,
        text-embedding-3-small on openai, text-embedding-v3 on dashscope, the GGUF locally).
    batch_size: texts per request (default: the provider's documented maximum).
    cache: True (a SQLite file beside the ledger), a path, or False; cached texts are not
        sent and cost nothing. truncate: cut texts over the model's limit instead of refusing.
    dry_run: the texts, requests, estimated tokens and cost; nothing is sent.
    summary: print one line (rows, cached, sent, requests, tokens, cost) when done.

    Works inside a running notebook loop (a private loop in a worker thread)."""
    from .._aio import run_in_worker

    return run_in_worker(aembed(
        texts, model=model, provider=provider, dimensions=dimensions, batch_size=batch_size,
        concurrency=concurrency, cache=cache, as_frame=as_frame, truncate=truncate,
        dry_run=dry_run, max_retries=max_retries, progress=progress, summary=summary,
        session=session))


async def aembed(texts: Any, *, model: str | None = None, provider: str | None = None,
                 dimensions: int | None = None, batch_size: int | None = None,
                 concurrency: int = 8, cache: bool | str = True, as_frame: bool = False,
                 truncate: bool = False, dry_run: bool = False, max_retries: int = 3,
                 progress: bool = True, summary: bool = True,
                 session: Session | None = None) -> Any:
    """`embed` for async code (it does not block the kernel's loop)."""
    import numpy as np

    s = session or default_session()
    name, _ = s.resolve(provider, None)
    prov = s.client(name).provider
    model = model or prov.default_embedding_model or ("default" if prov.local else "")
    if not model:
        raise errors.ConfigurationError(f"provider {name!r} has no default embedding model",
                                        provider=name, hint="pass model=")
    max_inputs, max_tokens = prov.embedding_limit(model)
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        max_inputs = min(batch_size, max_inputs)
    index, rows = _rows(texts)
    counts: dict[str, int] = {}
    for pos, text in enumerate(rows):
        if text is None:
            continue
        n = counts.get(text)
        if n is None:
            n = counts[text] = estimate_tokens(text)
        if n > max_tokens:
            if not truncate:
                raise ValueError(
                    f"row {index[pos]!r}: ~{n:,} tokens, over {model}'s "
                    f"limit of {max_tokens:,} per text; shorten it or pass truncate=True")
            rows[pos] = _fit(text, max_tokens)
            counts[rows[pos]] = estimate_tokens(rows[pos])
    unique = list(dict.fromkeys(t for t in rows if t is not None))
    keys = {t: cache_key(name, model, dimensions, t, prov.base_url) for t in unique}
    store = None if cache is False else VectorCache(
        cache if isinstance(cache, str) else Path(s.ledger.local_dir) / CACHE_NAME)
    try:
        found = store.get(list(keys.values())) if store is not None else {}
        vectors: dict[str, Any] = {t: np.frombuffer(found[k], dtype=np.float32)
                                   for t, k in keys.items() if k in found}
        todo = [t for t in unique if t not in vectors]
        groups = _pack(todo, max_inputs, counts)
        if dry_run:
            return _estimate(name, prov.pricing_key(), model, rows, unique, todo, groups,
                             counts)
        if todo:
            prov.require_credentials()
            tokens, costs = await _send(s, name, model, dimensions, todo, groups, keys,
                                        vectors, store, concurrency, max_retries, progress)
        else:
            tokens, costs = 0, []
    finally:
        if store is not None:
            store.close()
    matrix = _matrix(rows, vectors)
    if summary:
        _summary(model, rows, unique, todo, groups, tokens, costs, s)
    note = prov.embedding_note(model) if todo else None
    if note:
        print(f"glm-magic: {note}")
    if as_frame:
        import pandas as pd

        return pd.DataFrame(matrix, index=index)
    return matrix


def _matrix(rows: list[str | None], vectors: dict[str, Any]) -> np.ndarray:
    import numpy as np

    dims = {len(v) for v in vectors.values()}
    if len(dims) > 1:
        raise errors.ProtocolError(f"the provider returned vectors of different sizes {dims}",
                                   hint="pass dimensions= or clear the cache for this model")
    dim = dims.pop() if dims else 0
    out = np.full((len(rows), dim), np.nan, dtype=np.float32)
    for i, t in enumerate(rows):
        if t is not None:
            out[i] = vectors[t]
    return out


async def _send(s: Session, name: str, model: str, dimensions: int | None, todo: list[str],
                groups: list[list[int]], keys: dict[str, str], vectors: dict[str, Any],
                store: VectorCache | None, concurrency: int, max_retries: int,
                progress: bool) -> tuple[int, list[tuple[float | None, str | None, str]]]:
    """Run the requests; every attempt is a ledger row; done vectors are cached at once."""

    client = AsyncClient(s.provider_for(name), timeout=s.timeout, max_retries=0, record=False)
    workers = Workers(concurrency, max_retries)
    bar = progress_bar(len(todo), 0, progress, desc="glm embed")
    totals = {"tokens": 0}
    costs: list[tuple[float | None, str | None, str]] = []

    async def run(group: list[int]) -> None:
        batch = [todo[i] for i in group]
        call = Call(uuid.uuid4().hex, name, model, "embed", None, [], {})
        call.pricing = client.provider.pricing_key()
        started = {"at": 0.0, "attempt": 0}

        async def send(attempt: int) -> tuple[Any, list[Any]]:
            s.recorder.check_budget(call)
            started.update(at=time.perf_counter(), attempt=attempt)
            resp = await client.embeddings.create(input=batch, model=model,
                                                  dimensions=dimensions)
            return resp, checked_vectors(resp.data, len(batch), dimensions, name)

        def failed(err: errors.GLMError, attempt: int) -> None:
            if started["at"]:  # sent and failed: its row (a refused budget sent nothing)
                _record(s, call, attempt, time.perf_counter() - started["at"], None, err)
            started["at"] = 0.0

        resp, checked = await workers.attempt(send, failed)
        comp = _record(s, call, started["attempt"], time.perf_counter() - started["at"],
                       resp, None)
        costs.append((comp.cost, comp.currency, comp.cost_status))
        totals["tokens"] += resp.usage.prompt_tokens
        got = list(zip(batch, checked, strict=True))
        vectors.update(got)
        if store is not None:
            store.put([(keys[t], v.tobytes()) for t, v in got])
        if bar is not None:
            bar.update(len(batch))

    try:
        await workers.run(groups, run, size=len(groups))
    except BaseException as exc:
        done = sum(t in vectors for t in todo)
        if isinstance(exc, errors.GLMError) and done:
            exc.hint = (f"{done:,} of {len(todo):,} texts were embedded and cached; run again "
                        "to send only the rest. " + (exc.hint or "")).strip()
        raise
    finally:
        if bar is not None:
            bar.close()
        await client.close()
    return totals["tokens"], costs


def _record(s: Session, call: Call, attempt: int, latency: float, resp: Any,
            err: errors.GLMError | None) -> Completion:
    """One ledger row for one embeddings request (priced by its input tokens)."""
    comp = Completion(provider=call.provider, model=call.model, latency_s=latency,
                      attempt=attempt)
    if err is not None:
        comp.status, comp.error, comp.request_id = "error", errors.describe(err), err.request_id
        comp.usage = Usage(0, 0, 0)  # nothing was embedded: nothing to pay
    else:
        tokens = resp.usage.prompt_tokens or resp.usage.total_tokens
        comp.usage = Usage(tokens, 0, tokens)
        resp.completion = comp
    return s.recorder.settle(call, comp, soon=True)  # group-committed, like a bare Client


def _estimate(name: str, price_key: str, model: str, rows: list[str | None],
              unique: list[str], todo: list[str], groups: list[list[int]],
              counts: dict[str, int]) -> pd.Series:
    """What `embed(dry_run=True)` shows: the one estimate (`calls.estimates`) of the texts
    still to send, priced at the key their rows are booked under."""
    import pandas as pd

    est = priced(price_key, model, sum(counts[t] for t in todo))
    return pd.Series({"rows": len(rows), "empty_rows": sum(t is None for t in rows),
                      "distinct_texts": len(unique), "cached": len(unique) - len(todo),
                      "to_send": len(todo), "requests": len(groups), "provider": name,
                      "model": model, "estimated_tokens": est.prompt_tokens,
                      "estimated_cost": est.cost, "currency": est.currency,
                      "cost_status": est.cost_status})


def _summary(model: str, rows: list[str | None], unique: list[str], todo: list[str],
             groups: list[list[int]], tokens: int, costs: list[Any], s: Session) -> None:
    paid = [c for c in costs if c[0] is not None and c[0] == c[0]]
    currency = next((c[1] for c in paid if c[1]), None)
    status = "free" if paid and all(c[2] == "free" for c in paid) else \
        ("priced" if paid else "unpriced")
    cost = pricing.format_cost(sum(c[0] for c in paid), currency, status, s.exchange_rate) \
        if todo else "nothing sent"
    empty = sum(t is None for t in rows)
    print(f"glm-magic: embedded {len(rows) - empty:,} rows ({len(unique):,} distinct texts) "
          f"with {model}: {len(unique) - len(todo):,} cached, {len(todo):,} sent in "
          f"{len(groups):,} request(s), {tokens:,} tokens, {cost}"
          + (f"; {empty:,} empty row(s) left as NaN" if empty else ""))


def similar(query: str, texts: Any, vectors: Any = None, k: int = 5, **embed_options: Any
            ) -> pd.DataFrame:
    """The `k` rows of `texts` nearest to `query` by cosine similarity: a DataFrame with
    `text` and `score`, indexed like `texts`. Pass `vectors` (from `embed`) to reuse them;
    otherwise they are embedded (and cached) with `embed_options`."""
    import numpy as np
    import pandas as pd

    index, rows = _rows(texts)
    if vectors is None:
        vectors = embed(texts, **embed_options)
    matrix = np.asarray(vectors, dtype=np.float32)
    if len(matrix) != len(rows):
        raise ValueError(f"vectors has {len(matrix)} rows but texts has {len(rows)}")
    q = np.asarray(embed([query], **{**embed_options, "progress": False, "summary": False}),
                   dtype=np.float32)[0]
    if matrix.shape[1] != q.shape[0]:
        raise ValueError(f"the vectors have {matrix.shape[1]} dimensions and the query "
                         f"{q.shape[0]}: embed both with the same model and dimensions")
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = matrix @ q / norms
    scores = np.where(np.isnan(scores), -np.inf, scores)
    top = np.argsort(-scores, kind="stable")[:max(0, k)]
    top = [i for i in top if np.isfinite(scores[i])]
    return pd.DataFrame({"text": [rows[i] for i in top],
                         "score": [float(scores[i]) for i in top]},
                        index=index[top] if len(top) else index[:0])
