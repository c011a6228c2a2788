"""The one way many calls run at once, shared by `batch()`, `embed()` and what is built on them:
a fixed pool of workers (waiting costs O(concurrency), not O(rows)), one adaptive limiter, and
one retry rule — rate limits are paced and retried longer than other retryable errors, errors
that stop a whole job stop it at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from .. import errors
from ..core import responses
from .limiter import RATE_LIMIT_RETRIES, RATE_LIMIT_WAIT_S, STOPPING, AdaptiveLimiter

T = TypeVar("T")
Item = TypeVar("Item")


class Stopped(Exception):
    """The job was stopped (a budget, a quota, a bad key, or `on_error="raise"`) before this
    attempt started: nothing was sent for it."""


class Workers:
    """`concurrency` workers over one AdaptiveLimiter. `attempt()` sends one request with the
    retry rule; `run()` feeds items to the workers and cancels them all on the first error
    that escapes (or an interrupt), so no request is left running unseen."""

    def __init__(self, concurrency: int, max_retries: int = 3) -> None:
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.limiter = AdaptiveLimiter(self.concurrency)
        self.stopped: str | None = None  # why the job stopped: no new attempt starts

    def stop(self, reason: str) -> None:
        self.stopped = self.stopped or reason

    async def attempt(self, send: Callable[[int], Awaitable[T]],
                      failed: Callable[[errors.GLMError, int], None] | None = None) -> T:
        """`send(attempt)` inside the limiter until it succeeds or the rule gives up (then its
        last error is raised). `failed(err, attempt)` sees every failed attempt first (to write
        its ledger row). A stopping error stops the whole pool."""
        attempt = 0
        while True:
            attempt += 1
            if self.stopped:
                raise Stopped(self.stopped)
            try:
                async with self.limiter:
                    if self.stopped:
                        raise Stopped(self.stopped)
                    result = await send(attempt)
            except errors.GLMError as err:
                if failed is not None:
                    failed(err, attempt)
                rate = isinstance(err, errors.RateLimitError)
                if rate:
                    self.limiter.penalize(err.retry_after)
                if isinstance(err, STOPPING):
                    self.stop(errors.describe(err))
                    raise
                if rate and attempt <= max(self.max_retries, RATE_LIMIT_RETRIES):
                    # "come back later": the limiter paces the retry, a refusal is no failure
                    await asyncio.sleep(min(responses.backoff_delay(attempt, err.retry_after),
                                            RATE_LIMIT_WAIT_S))
                    continue
                if err.retryable and attempt <= self.max_retries:
                    await asyncio.sleep(responses.backoff_delay(attempt, err.retry_after))
                    continue
                raise
            self.limiter.reward()
            return result

    async def run(self, items: Iterable[Item], work: Callable[[Item], Awaitable[Any]],
                  size: int | None = None) -> None:
        """`work(item)` for every item on at most `concurrency` workers (fewer when `size`
        says there are fewer items). An error escaping `work`, a cancellation or an interrupt
        cancels every worker and is re-raised once they have all ended."""
        pending = iter(items)

        async def worker() -> None:
            for item in pending:
                if self.stopped:
                    return
                await work(item)

        count = self.concurrency if size is None else max(1, min(self.concurrency, size))
        tasks = [asyncio.ensure_future(worker()) for _ in range(count)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
