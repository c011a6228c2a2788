"""Prices and the cost of one call, in the provider's own currency.

An unknown model costs NaN with status `unpriced` (never a silent 0); free models cost 0 with
status `free`; figures from counted (not reported) usage have status `estimated`."""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..types import Usage

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PER = 1_000_000
STALE_DAYS = 180  # `%glm models` flags prices older than this


@dataclass
class Tier:
    input: float
    output: float
    max_input: int | None = None
    max_output: int | None = None
    cached_input: float | None = None

    def fits(self, prompt: int, completion: int) -> bool:
        return ((self.max_input is None or prompt <= self.max_input)
                and (self.max_output is None or completion <= self.max_output))


@dataclass
class Price:
    """One model's price: per million tokens (input, output, cached input) or per image."""

    provider: str
    model: str
    currency: str = "CNY"
    input: float | None = None
    output: float | None = None
    cached_input: float | None = None
    per_image: float | None = None
    tiers: list[Tier] = field(default_factory=list)
    free: bool = False
    source: str = ""
    as_of: str = ""
    batch: float | None = None  # the Batch API's share of the online price (0.5: half)
    note: str = ""

    @property
    def age_days(self) -> int | None:
        """Days since `as_of`: prices change, and an old one should be checked."""
        from datetime import date

        try:
            return (date.today() - date.fromisoformat(self.as_of)).days
        except (TypeError, ValueError):
            return None

    @property
    def stale(self) -> bool:
        return (self.age_days or 0) > STALE_DAYS

    def rates(self, prompt: int, completion: int) -> tuple[float | None, float | None,
                                                           float | None]:
        for tier in self.tiers:
            if tier.fits(prompt, completion):
                return tier.input, tier.output, tier.cached_input
        if self.tiers and self.input is None:
            last = self.tiers[-1]  # beyond the last limit: the dearest tier
            return last.input, last.output, last.cached_input
        return self.input, self.output, self.cached_input


_lock = threading.Lock()
_table: dict[tuple[str, str], Price] | None = None
_hinted: set[tuple[str, str]] = set()


def _rows(data: dict[str, Any]) -> list[Price]:
    out = []
    for row in data.get("price", []):
        names = row.get("models") or [row.get("model")]
        tiers = [Tier(**t) for t in row.get("tiers", [])]
        base = {k: row[k] for k in ("currency", "input", "output", "cached_input", "per_image",
                                    "free", "source", "as_of", "batch", "note") if k in row}
        for name in names:
            if name:
                out.append(Price(provider=row.get("provider", "*"), model=str(name),
                                 tiers=tiers, **base))
    return out


def load_price_file(path: str | os.PathLike[str]) -> int:
    """Add or replace prices from a TOML file in the bundled format; returns rows loaded."""
    try:
        rows = _rows(tomllib.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"cannot read price file {path}: {exc}") from None
    table = _get_table()
    with _lock:
        for p in rows:
            table[(p.provider, p.model.lower())] = p
        _found.clear()
    return len(rows)


_user_file: tuple[str, int] | None = None  # the user's price file as last loaded
_checked_at = -1e9
_found: dict[tuple[str, str], Price | None] = {}  # lookup results; emptied on any change
USER_FILE_CHECK_S = 1.0  # how often a changed user price file is noticed


def _get_table() -> dict[tuple[str, str], Price]:
    global _table, _checked_at
    if _table is None:
        with _lock:
            if _table is None:
                # beside this module (no importlib.resources: it costs more to import than
                # the whole price file takes to read)
                text = (Path(__file__).parent.parent / "data" / "prices.toml").read_text("utf-8")
                _table = {(p.provider, p.model.lower()): p for p in _rows(tomllib.loads(text))}
    now = time.monotonic()
    if now - _checked_at >= USER_FILE_CHECK_S:
        _checked_at = now
        _load_user_file()
    return _table


def _load_user_file() -> None:
    """The user's own prices (`$GLM_MAGIC_PRICES`, else ~/.config/glm-magic/prices.toml),
    loaded again when the file (or the variable) changed."""
    global _user_file
    user = os.environ.get("GLM_MAGIC_PRICES") or str(
        Path.home() / ".config" / "glm-magic" / "prices.toml")
    try:
        seen = (user, os.stat(user).st_mtime_ns)
    except OSError:
        return
    if seen == _user_file:
        return
    _user_file = seen
    try:
        load_price_file(user)
    except ValueError as exc:
        print(f"glm-magic: {exc} (ignored)", file=sys.stderr)


def set_price(model: str, *, provider: str = "*", input: float | None = None,
              output: float | None = None, currency: str = "CNY",
              cached_input: float | None = None, per_image: float | None = None,
              free: bool = False, source: str = "set by user", as_of: str = "") -> Price:
    """Add or override one model's price (per million tokens, or per image)."""
    if not free and input is None and output is None and per_image is None:
        raise ValueError("give input=/output= (per million tokens), per_image=, or free=True")
    from datetime import date

    p = Price(provider, model, currency.upper(), input, output, cached_input, per_image, [],
              free, source, as_of or date.today().isoformat())
    table = _get_table()
    with _lock:
        table[(provider, model.lower())] = p
        _found.clear()
    return p


def prices() -> list[Price]:
    return list(_get_table().values())


def lookup(provider: str, model: str) -> Price | None:
    """Exact name first, then a dated variant of a known model (glm-4-plus-0111 → glm-4-plus).
    Results are remembered until a price changes: every call is priced."""
    table = _get_table()
    key = (provider, model)
    if key in _found:
        return _found[key]
    found = _find(table, _price_provider(provider), model)
    _found[key] = found
    return found


def _find(table: dict[tuple[str, str], Price], provider: str, model: str) -> Price | None:
    m = (model or "").lower().split(":")[-1]
    for name in dict.fromkeys((m, m.replace("-", "_"), m.replace("_", "-"))):
        for prov in (provider, "*"):  # ChatGLM-Pro is chatglm_pro; glm_4_flash is glm-4-flash
            p = table.get((prov, name))
            if p is not None:
                return p
    wildcard = table.get((provider, "*"))
    if wildcard is not None:
        return wildcard
    best = None
    for (prov, name), p in table.items():
        if (prov in (provider, "*") and name != "*" and m.startswith(name + "-")
                and (best is None or len(name) > len(best.model))):
            best = p
    return best


def _price_provider(name: str) -> str:
    """Presets bill like their vendor (dashscope_compat prices are DashScope's)."""
    from .. import errors
    from ..providers import provider_class

    try:
        return getattr(provider_class(name), "pricing_name", None) or name
    except errors.ConfigurationError:
        return name


def cost(provider: str, model: str, usage: Usage | None, *, images: int = 0,
         estimated: bool = False, batch: bool = False) -> tuple[float, str | None, str]:
    """(cost, currency, cost_status) for one call; `batch`: at the Batch API's price."""
    price = lookup(provider, model)
    if price is None:
        key = (provider, model)
        if key not in _hinted:
            _hinted.add(key)
            unit = ("per_image=... (one call or item)" if images
                    else "input=..., output=...")
            print(f"glm-magic: no price known for {provider}:{model}; its cost shows as NaN. "
                  f"Add one: glm_magic.pricing.set_price({model!r}, provider={provider!r}, "
                  f"{unit}, currency='CNY')", file=sys.stderr)
        return math.nan, None, "unpriced"
    if price.free:
        return 0.0, price.currency or None, "free"
    total = 0.0
    if images:
        if price.per_image is None:
            return math.nan, price.currency, "unpriced"
        total += images * price.per_image
    if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
        rin, rout, rcache = price.rates(usage.prompt_tokens, usage.completion_tokens)
        if rin is None and rout is None and not images:
            return math.nan, price.currency, "unpriced"
        if rin is not None or rout is not None:
            cached = usage.cached_tokens or 0
            fresh = usage.prompt_tokens - cached
            total += (fresh * (rin or 0) + cached * (rcache if rcache is not None else rin or 0)
                      + usage.completion_tokens * (rout or 0)) / PER
    if batch and price.batch is not None:
        total *= price.batch
    return total, price.currency, "estimated" if estimated else "priced"


def estimate_cost(provider: str, model: str, prompt_tokens: int,
                  completion_tokens: int = 0) -> tuple[float, str | None, str]:
    return cost(provider, model, Usage(prompt_tokens, completion_tokens,
                                       prompt_tokens + completion_tokens), estimated=True)


CURRENCY_SIGN = {"CNY": "¥", "USD": "$", "EUR": "€"}


def format_cost(value: float, currency: str | None, status: str = "priced",
                rate: tuple[str, float] | None = None) -> str:
    """`¥0.0012`, `free`, `unpriced`; with a user-set rate, the converted figure beside it."""
    if status == "free":
        return "free"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "cost unknown"
    sign = CURRENCY_SIGN.get(currency or "", f"{currency} " if currency else "")
    text = sign + _amount(value)
    if status == "estimated":
        text = "~" + text
    if rate and currency and rate[0] != currency:
        other = CURRENCY_SIGN.get(rate[0], rate[0] + " ")
        text += f" (≈{other}{_amount(value * rate[1])} at 1 {currency} = {rate[1]} {rate[0]})"
    return text


def _amount(value: float) -> str:
    """Money with the digits that matter: 1,234.50 · 0.0012 · 0.00000042 (never 0.0000)."""
    if value >= 100:
        return f"{value:,.2f}"
    if 0 < value < 0.01:
        return f"{value:.8f}".rstrip("0")
    return f"{value:.4f}"
