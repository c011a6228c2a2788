"""How fast many calls go at once, shared by `batch()` and `embed()`: the adaptive limiter
(AIMD concurrency, a pace learned from refusals), the errors that stop a whole job, and the
progress bar."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from .. import errors

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


def progress_bar(total: int, initial: int, enabled: bool, desc: str = "glm batch") -> Any:
    """A tqdm bar (notebook widget or terminal) of rows done, or None when turned off."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="row")
