"""The one dry-run estimate: prompt tokens counted by the provider's tokenizer where it has one
(the first EXACT_ROWS requests, the rest scaled by what it found) and estimated otherwise,
priced under the key the call's rows are booked under — online and at the Batch API price.
`%%glm --dry-run`, `batch(dry_run=True)` (online and `via="batch_api"`) and
`embed(dry_run=True)` all show this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..accounting import pricing
from ..tokens import count_prompt, estimate_messages
from ..types import Usage

EXACT_ROWS = 20  # requests a dry run counts with the provider's tokenizer; the rest are scaled
TOKENIZER = "the provider's tokenizer"
ESTIMATE = "estimate"


@dataclass(frozen=True)
class Estimate:
    """What the prompts of a planned job come to (answer tokens are not included: they
    depend on the model)."""

    prompt_tokens: int
    counted_by: str
    cost: float
    currency: str | None
    cost_status: str
    batch_cost: float  # the same tokens at the Batch API's price (NaN without one)

    @property
    def exact(self) -> bool:
        return self.counted_by == TOKENIZER


def priced(price_key: str, model: str, tokens: int, counted_by: str = ESTIMATE) -> Estimate:
    """`tokens` prompt tokens of `model` priced under `price_key` (`Provider.pricing_key()`,
    so api.z.ai is estimated in USD like the rows it books)."""
    usage = Usage(tokens, 0, tokens)
    exact = counted_by == TOKENIZER
    cost, currency, status = pricing.cost(price_key, model, usage, estimated=not exact)
    batch_cost, _, _ = pricing.cost(price_key, model, usage, estimated=True, batch=True)
    return Estimate(tokens, counted_by, cost, currency, status, batch_cost)


def estimate_requests(client: Any, model: str, requests: list[list[dict[str, Any]]], *,
                      extra_tokens: int = 0, window: int | None = None) -> Estimate:
    """The prompt tokens of `requests` (each a message list) on `client`'s provider, plus
    `extra_tokens` (a schema sent beside each row: always estimated), priced. A request past
    the context `window` is only estimated: it is not worth a counting call."""
    estimates = [estimate_messages(m) for m in requests]
    tokens, counted_by = sum(estimates), ESTIMATE
    if requests and not (window and max(estimates) > window):
        tokens, counted_by = _counted(client, model, requests, estimates)
    if extra_tokens:
        tokens += extra_tokens
        counted_by = ESTIMATE if counted_by == TOKENIZER else counted_by
    return priced(client.provider.pricing_key(), model, tokens, counted_by)


def _counted(client: Any, model: str, requests: list[list[dict[str, Any]]],
             estimates: list[int]) -> tuple[int, str]:
    """The provider's tokenizer on the first EXACT_ROWS requests (one counting call each,
    remembered), the rest our estimate scaled by what it found."""
    counted = []
    for messages in requests[:EXACT_ROWS]:
        n, exact = count_prompt(client, model, messages)
        if not exact:
            return sum(estimates), ESTIMATE
        counted.append(n)
    if len(counted) == len(requests):
        return sum(counted), TOKENIZER
    scale = sum(counted) / max(1, sum(estimates[:len(counted)]))
    rest = round(sum(estimates[len(counted):]) * scale)
    return sum(counted) + rest, (f"the provider's tokenizer on {len(counted)} rows, the rest "
                                 "estimated and scaled to match")
