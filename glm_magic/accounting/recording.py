"""What a call costs and leaves behind: the ledger row of every attempt (retries included),
its price, the running spend, and the budget that refuses paid calls past a limit. One
collaborator of the session, usable and testable on its own."""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors
from ..tokens import estimate_messages, estimate_tokens
from ..types import Completion, Usage
from . import pricing
from .caching import lookup, store
from .ledger import Ledger, chosen_path, safe_url
from .ledgers import open_ledger
from .response_cache import CACHE_NAME, DEFAULT_MAX_MB, ResponseCache

if TYPE_CHECKING:
    from ..core.hooks import AttemptReport


@dataclass
class Call:
    """Everything known about one call while it runs; becomes ledger rows."""

    call_id: str
    provider: str
    model: str
    source: str
    conversation: str | None
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    cell: int | None = None
    tags: str | None = None
    started: float = field(default_factory=time.time)
    attempt_offset: int = 0  # attempts made by the caller before this one (batch retries)
    # a re-run cell's earlier exchange, taken out of the conversation: (index, messages), put
    # back if this call fails before an answer
    replaced: tuple[int, list[dict[str, Any]]] | None = None
    pricing: str | None = None  # whose price rows apply (`Provider.pricing_key()`: api.z.ai…)
    # what the session applies when the call begins: its conversation turn (a
    # `calls.turns.PendingTurn`, opaque here), whether to reserve the conversation, and
    # the notices to show; and the session's client it was checked against (a sync call is
    # sent with it: looking it up again costs another credential check)
    turn: Any = None
    claim: bool = True
    client: Any = field(default=None, repr=False, compare=False)
    notices: list[str] = field(default_factory=list)
    # the response cache: this call's mode (None: the session's), how a replay miss names it,
    # and the (key, request) its live answer is stored under
    cache: str | None = None
    where: str | None = None
    cache_entry: tuple[str, str] | None = None

    @property
    def price_key(self) -> str:
        return self.pricing or self.provider


class Recorder:
    """Ledger rows, cost, spend and budget for one session."""

    def __init__(self, ledger_path: str | None = None, *, log_text: bool = False,
                 notice: Any = None) -> None:
        self.ledger_path = ledger_path
        self.log_text = log_text
        self.budget: tuple[float, str] | None = None
        self.spent: dict[str, float] = {}
        self._ledger: Ledger | None = None
        self._opened_env: str | None = None
        self.unwritten: list[dict[str, Any]] = []
        self._ledger_warned = False
        self._budget_warned = False
        self._notice = notice or (lambda text: None)
        self._direct: DirectHooks | None = None
        self.cache_mode = "off"  # the session's `cache` setting (accounting/caching.py)
        self.cache_path: str | None = None  # None: beside the ledger
        self.cache_max_mb = DEFAULT_MAX_MB
        self._cache: ResponseCache | None = None

    # --- the ledger ---------------------------------------------------------------------------
    @property
    def ledger(self) -> Ledger:
        """The ledger, opened on first use. `$GLM_MAGIC_LEDGER` is read at every call like the
        key: changed after the first call, the ledger moves there (with a notice)."""
        env = os.environ.get("GLM_MAGIC_LEDGER") or None
        if self._ledger is not None and env != self._opened_env:
            print(f"glm-magic: GLM_MAGIC_LEDGER changed; usage now goes to "
                  f"{safe_url(chosen_path(self.ledger_path) or 'the default ledger')}")
            self._ledger.close()
            self._ledger = None
        if self._ledger is None:
            self._opened_env = env
            self._ledger = open_ledger(self.ledger_path)
        return self._ledger

    @property
    def response_cache(self) -> ResponseCache | None:
        """The response cache file (opened on first use; moved when `cache_path` changes)."""
        path = self.cache_path or str(Path(self.ledger.local_dir) / CACHE_NAME)
        if self._cache is not None and self._cache.path != path:
            self._cache.close()
            self._cache = None
        if self._cache is None:
            self._cache = ResponseCache(path, self.cache_max_mb)
        return self._cache

    def write(self, row: dict[str, Any], *, soon: bool = False) -> None:
        """Append a row (`soon`: group-committed, `Ledger.append_soon`)."""
        self.write_many([row], soon=soon)

    def write_many(self, rows: list[dict[str, Any]], *, soon: bool = True) -> None:
        """Append rows; a ledger that cannot be opened or written never costs the answers
        those rows describe: the rows wait in `unwritten` (one warning) and are written first
        the next time the ledger works."""
        handed = 0  # rows the ledger has taken
        try:
            ledger = self.ledger
            for waiting in self.unwritten[:]:
                ledger.append(waiting)
                self.unwritten.remove(waiting)
            bulk = getattr(ledger, "extend_soon" if soon else "extend", None)
            if bulk is not None and len(rows) > 1:
                bulk(rows)
                handed = len(rows)
            for row in rows[handed:]:
                (getattr(ledger, "append_soon", ledger.append) if soon else ledger.append)(row)
                handed += 1
        except Exception as exc:  # the ledger is bookkeeping: the call already succeeded
            self.unwritten.extend(rows[handed:])
            if not self._ledger_warned:
                self._ledger_warned = True
                from .._secrets import scrub
                print(f"glm-magic: the usage ledger cannot be written "
                      f"({type(exc).__name__}: {scrub(safe_url(str(exc)))[:200]}); rows wait "
                      "in memory — check %config GLMSettings.ledger_path", file=sys.stderr)

    def set_ledger(self, path: str | None) -> None:
        self.close()
        self.ledger_path = path

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    # --- pricing and rows ---------------------------------------------------------------------
    def settle(self, call: Call, comp: Completion, *, images: int | None = None,
               write: bool = True, soon: bool = False) -> Completion:
        """The one place a finished call is priced and booked, whatever made it (a cell, the
        panel, batch, embed, the Batch API, images, async tasks, the compat shims, a bare
        Client): usage filled in (estimated when the server sent none), the cost at the call's
        own price key (`call.price_key`: api.z.ai in USD, the batch price for Batch API rows,
        per image for images), the ledger row written (`write=False`: priced only, for a
        result read again) and the session's spend updated. A cached answer's row says what
        it saved and is group-committed (it cost nothing)."""
        images, model = self._priced(call, comp, images)
        if write:
            self.write(self.row(call, comp, model, images), soon=soon or comp.cached)
        if call.cache_entry is not None:
            store(self, call, comp)
        return comp

    def settle_many(self, settled: Iterable[tuple[Call, Completion]]) -> None:
        """`settle` for many answers at once (a batch re-run from the response cache): each
        priced and booked as `settle` does, the rows written at once in one transaction. Not
        left to the ledger's writer thread: its write would land in the middle of what the
        caller does next (the next re-run's reads), and the two threads trading the
        interpreter made those reads two to three times slower (measured)."""
        rows = []
        for call, comp in settled:
            images, model = self._priced(call, comp, None)
            rows.append(self.row(call, comp, model, images))
            if call.cache_entry is not None:
                store(self, call, comp)
        self.write_many(rows, soon=False)

    def _priced(self, call: Call, comp: Completion, images: int | None
                ) -> tuple[int | None, str]:
        """Price a finished call (`price`), a cached one at 0 with what it saved; returns the
        items it is priced per and the model it is booked under."""
        comp.provider = comp.provider or call.provider
        if images is None:
            images = comp.units  # a call priced per item (a web search) says how many
        if comp.latency_s is None:
            comp.latency_s = time.time() - call.started
        model = self.price(call, comp, images=images)
        if comp.cached:  # nothing was paid: the row shows what the cache saved
            comp.saved, comp.cost = comp.cost, 0.0
        return images, model

    def price(self, call: Call, comp: Completion, images: int | None = None) -> str:
        """Fill in usage (estimated when the server sent none) and cost; returns the model
        name the row is priced and recorded under."""
        u = comp.usage
        # (a per-image price needs no token estimate)
        if u is None and not images and (comp.status != "error" or comp.text):
            comp.usage = Usage(estimate_messages(call.messages), estimate_tokens(comp.text), 0,
                               estimated=True)
            comp.usage.total_tokens = comp.usage.prompt_tokens + comp.usage.completion_tokens
        elif u is not None and u.total_tokens and not (u.prompt_tokens or u.completion_tokens):
            # only a total (the v3 API, some gateways): split it by our count of the request
            prompt = min(estimate_messages(call.messages), u.total_tokens)
            comp.usage = Usage(prompt, u.total_tokens - prompt, u.total_tokens, estimated=True)
        model = ledger_model(call, comp)
        nothing = not comp.usage or not (comp.usage.prompt_tokens or comp.usage.completion_tokens)
        if comp.status != "ok" and nothing and not images:
            comp.cost, comp.currency, comp.cost_status = 0.0, None, "free"  # nothing was served
            return model
        comp.cost, comp.currency, comp.cost_status = pricing.cost(
            call.price_key, model, comp.usage, images=images or 0,
            estimated=bool(comp.usage and comp.usage.estimated),
            batch=call.source == "batch_api")
        return model

    def row(self, call: Call, comp: Completion, model: str, images: int | None = None
            ) -> dict[str, Any]:
        """The ledger row of a priced call; its cost counts towards the session's spend."""
        u = comp.usage
        row = {
            "time": max(call.started, time.time() - (comp.latency_s or 0.0)),
            "call_id": call.call_id, "request_id": comp.request_id,
            "attempt": comp.attempt + call.attempt_offset, "provider": call.provider,
            "model": model,
            "source": call.source, "conversation": call.conversation,
            "status": "cached" if comp.cached else comp.status, "saved": comp.saved,
            "finish_reason": comp.finish_reason, "error": comp.error,
            "prompt_tokens": u.prompt_tokens if u else 0,
            "completion_tokens": u.completion_tokens if u else 0,
            "total_tokens": u.total_tokens if u else 0,
            "cached_tokens": u.cached_tokens if u else None,
            "reasoning_tokens": u.reasoning_tokens if u else None,
            "usage_estimated": int(bool(u and u.estimated)),
            "latency_s": comp.latency_s, "ttft_s": comp.ttft_s, "cost": comp.cost,
            "currency": comp.currency, "cost_status": comp.cost_status, "cell": call.cell,
            "tags": call.tags, "images": images,
        }
        if self.log_text:
            last_user = next((m for m in reversed(call.messages) if m.get("role") == "user"), {})
            row["prompt"] = str(last_user.get("content", ""))
            row["answer"] = comp.text
        if comp.cost_status in ("priced", "estimated") and comp.cost and not math.isnan(comp.cost):
            self.spent[comp.currency or ""] = self.spent.get(comp.currency or "", 0.0) + comp.cost
        return row

    def observer(self, call: Call) -> CallRecorder:
        """What a session pins on its client for `call`: retried attempts become rows; the
        session settles the call itself when it ends."""
        return CallRecorder(self, call, settles=False)

    def hooks(self) -> DirectHooks:
        """The hooks a bare `Client()` records through (registered by the package); one per
        recorder, asked for on every call."""
        if self._direct is None:
            self._direct = DirectHooks(self)
        return self._direct

    def retried(self, call: Call, report: AttemptReport) -> None:
        """A failed attempt that the client will retry: its own row, free."""
        err = report.error
        self.write({
            "time": time.time() - report.elapsed_s, "call_id": call.call_id,
            "request_id": err.request_id, "attempt": report.attempt + call.attempt_offset,
            "provider": call.provider,
            "model": call.model, "source": call.source, "conversation": call.conversation,
            "status": "error", "error": errors.describe(err), "latency_s": report.elapsed_s, "cost": 0.0,
            "cost_status": "free", "cell": call.cell, "tags": call.tags,
            "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
        })

    # --- budget -------------------------------------------------------------------------------
    def set_budget(self, amount: float | None, currency: str = "CNY") -> None:
        self.budget = None if amount is None else (float(amount), currency.upper())
        self._budget_warned = False

    def check_budget(self, call: Call) -> None:
        """Refuse a paid call once the budget is spent; warn once at 80%."""
        if self.budget is None:
            return
        limit, currency = self.budget
        price = pricing.lookup(call.price_key, call.model)
        if price is not None and price.free:
            return
        spent = self.spent.get(currency, 0.0)
        if spent >= limit:
            raise errors.BudgetExceededError(
                f"budget of {limit:g} {currency} reached ({spent:.4f} spent this session); "
                "paid calls are refused", provider=call.provider)
        if spent >= 0.8 * limit and not self._budget_warned:
            self._budget_warned = True
            self._notice(f"80% of the budget used: {spent:.4f} of {limit:g} {currency}")


def ledger_model(call: Call, comp: Completion) -> str:
    """The model a row is recorded under: the one the server named when we sent 'default'."""
    if call.model in ("default", "", None) and comp.model:
        return comp.model
    return call.model


# --- calls made with a Client directly (not through a session) -------------------------------
_ID_PREFIX = ""
_ids = itertools.count()


def _new_prefix() -> None:
    """A fresh random prefix: at the first call, and in a forked child (which would
    otherwise repeat its parent's ids)."""
    global _ID_PREFIX
    import uuid

    _ID_PREFIX = f"{os.getpid() & 0xFFFFFFFF:08x}{uuid.uuid4().hex[:12]}"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: globals().update(_ID_PREFIX=""))


def new_call_id() -> str:
    """A call id unique across processes and machines (a random prefix drawn once per
    process, then a counter), without the entropy read `uuid4()` costs on every call."""
    if not _ID_PREFIX:
        _new_prefix()
    return f"{_ID_PREFIX}{next(_ids):012x}"


def direct_call(provider: str, body: dict[str, Any], source: str = "client",
                pricing_key: str | None = None) -> Call:
    """The record of a `client.chat.completions.create(...)` made in user code."""
    messages = body.get("messages")
    call = Call(new_call_id(), provider, str(body.get("model") or ""), source, None,
                list(messages) if isinstance(messages, list) else [], {})
    call.pricing = pricing_key
    return call


class CallRecorder:
    """One call's `CallObserver` (core.hooks): retries are rows; a direct call is settled —
    priced and booked — when it ends, failed or not."""

    def __init__(self, recorder: Recorder, call: Call, *, settles: bool) -> None:
        self.recorder, self.call, self.settles = recorder, call, settles

    def retried(self, report: AttemptReport) -> None:
        self.recorder.retried(self.call, report)

    def cached(self, provider: Any, body: dict[str, Any]) -> Completion | None:
        """The response cache's answer to this call, if it holds one (see caching.py)."""
        return lookup(self.recorder, self.call, provider, body)

    def finished(self, completion: Completion) -> None:
        if self.settles:  # a direct call: its row is group-committed (Ledger.append_soon)
            self.recorder.settle(self.call, completion, soon=True)

    def failed(self, error: errors.GLMError) -> None:
        if self.settles:
            self.recorder.settle(self.call, failed_completion(self.call, error))


class DirectHooks:
    """`CallHooks` for calls made with a Client in user code: the budget may refuse the call;
    it is recorded under the client's `source` at its provider's price key."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def started(self, provider: Any, body: dict[str, Any], source: str) -> CallRecorder:
        call = direct_call(provider.name, body, source, provider.pricing_key())
        self.recorder.check_budget(call)
        return CallRecorder(self.recorder, call, settles=True)


def _default_recorder() -> Recorder:
    """The recorder behind the registered default hooks (the kernel session's)."""
    from ..core.hooks import default_hooks

    hooks = default_hooks()
    if not isinstance(hooks, DirectHooks):
        raise errors.ConfigurationError("no session records direct calls here")
    return hooks.recorder


def record_direct(call: Call, comp: Completion) -> None:
    """Price and record a direct client call in the kernel session's ledger."""
    _default_recorder().settle(call, comp)


def failed_completion(call: Call, err: errors.GLMError) -> Completion:
    """What a failed call leaves: the partial answer if any, marked error or filtered."""
    from ..types import Choice, Message

    comp = err.partial if isinstance(err.partial, Completion) else Completion(
        provider=call.provider, model=call.model, request_id=err.request_id,
        choices=[Choice(0, Message("assistant", ""), None)])
    comp.status = "filtered" if isinstance(err, errors.ContentFilterError) else "error"
    comp.error = errors.describe(err)
    comp.attempt = getattr(err, "attempt", comp.attempt) or 1
    comp.request_id = comp.request_id or err.request_id
    return comp


def record_direct_failure(call: Call, err: errors.GLMError) -> None:
    record_direct(call, failed_completion(call, err))
