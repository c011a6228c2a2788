"""The one worker pool and retry rule batch() and embed() run on (calls/workers.py), and the one
dry-run estimate every front-end shows (calls/estimates.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

import glm_magic
from glm_magic import errors
from glm_magic.calls.estimates import TOKENIZER, estimate_requests, priced
from glm_magic.calls.workers import Stopped, Workers
from glm_magic.testing.loopback import Reply


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr("glm_magic.core.responses.backoff_delay", lambda attempt, ra=None: 0.0)


def test_rate_limits_are_retried_longer_than_other_errors():
    async def main():
        workers = Workers(concurrency=2, max_retries=1)
        seen = []

        async def refused_four_times(attempt):
            seen.append(attempt)
            if attempt <= 4:
                raise errors.RateLimitError("slow down", retry_after=0.0)
            return "ok"

        assert await workers.attempt(refused_four_times) == "ok"
        assert seen == [1, 2, 3, 4, 5]  # max_retries=1 does not cap "come back later"

        failures = []

        async def always_busy(attempt):
            raise errors.ServerError("busy", status=503)

        with pytest.raises(errors.ServerError):
            await workers.attempt(always_busy, lambda err, n: failures.append(n))
        assert failures == [1, 2]  # the first attempt and max_retries=1 retry, each seen

    asyncio.run(main())


def test_a_stopping_error_stops_the_whole_pool():
    async def main():
        workers = Workers(concurrency=3, max_retries=3)
        started = []

        async def work(i):
            async def send(attempt):
                started.append(i)
                if i == 2:
                    raise errors.QuotaExceededError("no balance", code="1113")
                await asyncio.sleep(0.001)
                return i

            with contextlib.suppress(Stopped, errors.QuotaExceededError):
                await workers.attempt(send)

        await workers.run(range(50), work)
        return workers, started

    workers, started = asyncio.run(main())
    assert "no balance" in workers.stopped
    assert len(started) < 10, "rows after the stop must not be sent"


def test_run_cancels_every_worker_on_an_escaping_error():
    async def main():
        workers = Workers(concurrency=4)
        finished = []

        async def work(i):
            if i == 1:
                raise ValueError("boom")
            await asyncio.sleep(0.5)
            finished.append(i)

        t0 = time.perf_counter()
        with pytest.raises(ValueError, match="boom"):
            await workers.run(range(8), work)
        return finished, time.perf_counter() - t0

    finished, took = asyncio.run(main())
    assert finished == [] and took < 0.4


def test_batch_and_embed_share_the_rule(zhipu, monkeypatch):
    """Both retry a 429 (with the same pacing) and book each attempt they sent."""
    state = {"chat": 0, "embed": 0}
    echo_app = zhipu.app

    def app(rec):
        kind = "embed" if rec.path.endswith("/embeddings") else "chat"
        state[kind] += 1
        if state[kind] == 1:
            return Reply(status=429, body={"error": {"code": "1302", "message": "busy"}})
        return echo_app(rec)

    monkeypatch.setattr(zhipu, "app", app)
    df = glm_magic.batch(["a"], progress=False)
    assert df["status"].tolist() == ["ok"] and df["attempts"].tolist() == [2]
    vectors = glm_magic.embed(["x"], progress=False, summary=False, cache=False)
    assert vectors.shape[0] == 1 and state == {"chat": 2, "embed": 2}
    rows = glm_magic.usage()
    assert rows[rows.source == "embed"]["status"].tolist() == ["error", "ok"]


def test_one_estimate_prices_at_the_booking_key(zhipu):
    client = glm_magic.session().client("zhipu")
    requests = [[{"role": "user", "content": "a" * 40}] for _ in range(3)]
    est = estimate_requests(client, "glm-4-plus", requests)
    assert est.counted_by == TOKENIZER and est.exact and est.prompt_tokens == 3 * 4
    assert est.cost == pytest.approx(12 * 5 / 1e6) and est.currency == "CNY"
    assert est.batch_cost == pytest.approx(est.cost / 2)
    with_schema = estimate_requests(client, "glm-4-plus", requests, extra_tokens=30)
    assert with_schema.prompt_tokens == 42 and not with_schema.exact
    usd = priced("zai", "glm-5", 1000)
    assert usd.currency == "USD" and usd.cost_status == "estimated"
