"""batch() / abatch() on the loopback server: order, errors, rate limits, resume, ledger."""

from __future__ import annotations

import asyncio
import threading
import time

import pandas as pd
import pytest

import glm_magic
from glm_magic.batching import AdaptiveLimiter
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import completion_body, zhipu_error


def slow_echo(zhipu, delay=0.0, jitter=False):
    """The server answers after a delay (reversed by position when jitter: out of order)."""
    def app(rec):
        body = rec.json
        text = body["messages"][-1]["content"]
        if jitter:
            n = int(text.split()[-1])
            time.sleep(0.002 * (20 - n % 20))
        elif delay:
            time.sleep(delay)
        return Reply(body=completion_body(f"echo: {text}", body["model"]))
    zhipu.app = app
    return zhipu


@pytest.fixture
def echo(zhipu):
    original = zhipu.app
    yield zhipu
    zhipu.app = original


def test_list_results_in_input_order_with_ledger_rows(echo):
    slow_echo(echo, jitter=True)
    prompts = [f"row {i}" for i in range(40)]
    df = glm_magic.batch(prompts, concurrency=8, progress=False, temperature=0.5)
    assert list(df.columns) == ["answer", "status", "error", "prompt_tokens",
                                "completion_tokens", "cost", "latency_s", "attempts"]
    assert list(df["answer"]) == [f"echo: row {i}" for i in range(40)]
    assert (df["status"] == "ok").all() and (df["prompt_tokens"] == 11).all()
    assert (df["cost"] == 0).all()  # glm-4-flash is free
    ledger = glm_magic.usage(source="batch")
    assert len(ledger) == 40 and ledger["call_id"].nunique() == 40
    assert echo.received[-1].json["temperature"] == 0.5
    assert echo.received[-1].json["messages"] == [
        {"role": "user", "content": echo.received[-1].json["messages"][0]["content"]}]
    assert 1 < echo.max_active <= 8


def test_dataframe_template_and_series(echo):
    frame = pd.DataFrame({"text": ["a", "b"], "lang": ["en", "zh"]}, index=["x", "y"])
    df = glm_magic.batch(frame, template="Translate to {lang}: {text}", progress=False,
                         system="You translate.")
    assert list(df.index) == ["x", "y"]
    assert list(df["answer"]) == ["echo: Translate to en: a", "echo: Translate to zh: b"]
    assert echo.received[-1].json["messages"][0] == {"role": "system", "content": "You translate."}
    s = glm_magic.batch(pd.Series(["p", "q"], index=[10, 20]), progress=False)
    assert list(s.index) == [10, 20] and list(s["answer"]) == ["echo: p", "echo: q"]
    with pytest.raises(ValueError, match="missing|not in the DataFrame"):
        glm_magic.batch(frame, template="{nope}", progress=False)


def test_per_row_errors_are_recorded_or_raised(echo, monkeypatch):
    def app(rec):
        text = rec.json["messages"][-1]["content"]
        if text == "bad":
            return zhipu_error("1214", "bad parameter", 400)
        return Reply(body=completion_body(f"echo: {text}", "glm-4-flash"))
    echo.app = app
    df = glm_magic.batch(["ok1", "bad", "ok2"], progress=False)
    assert list(df["status"]) == ["ok", "error", "ok"]
    assert "1214" in df.loc[1, "error"] and pd.isna(df.loc[1, "answer"])
    with pytest.raises(glm_magic.BadRequestError):
        glm_magic.batch(["bad", "ok"], progress=False, on_error="raise")


def test_rate_limits_slow_the_whole_batch_down(echo):
    lock = threading.Lock()
    state = {"n": 0, "active": 0, "peak_after": 0}

    def app(rec):
        with lock:
            state["n"] += 1
            state["active"] += 1
            n = state["n"]
            if n >= 30:  # well after the burst: the client has seen the 429s by now
                state["peak_after"] = max(state["peak_after"], state["active"])
        try:
            time.sleep(0.02)
            if 10 <= n < 18:  # a burst of 429s
                return zhipu_error("1302", "rate limit", 429, **{"Retry-After": "0.05"})
            return Reply(body=completion_body("ok", "glm-4-flash"))
        finally:
            with lock:
                state["active"] -= 1
    echo.app = app
    df = glm_magic.batch([f"r{i}" for i in range(60)], concurrency=16, progress=False)
    assert (df["status"] == "ok").all()
    assert df["attempts"].max() >= 2
    assert state["peak_after"] < 16  # after the 429s fewer requests ran at once
    rows = glm_magic.usage(source="batch")
    retried = rows[rows["status"] == "error"]
    assert len(retried) >= 1 and (retried["error"].str.contains("RateLimitError")).all()
    assert set(rows.groupby("call_id")["attempt"].max()) >= {2}


def test_arrears_stop_the_batch_at_once(echo):
    calls = {"n": 0}

    def app(rec):
        calls["n"] += 1
        if calls["n"] >= 3:
            return zhipu_error("1113", "余额不足", 429)
        time.sleep(0.01)
        return Reply(body=completion_body("ok", "glm-4-flash"))
    echo.app = app
    df = glm_magic.batch([f"r{i}" for i in range(50)], concurrency=2, progress=False)
    assert "1113" in df.attrs["stopped"]
    assert calls["n"] < 10  # not retried, the rest not sent
    assert (df["status"] == "skipped").sum() > 30


def test_dry_run_and_budget(echo):
    est = glm_magic.batch(["a" * 40, "b" * 40], model="glm-4-plus", dry_run=True)
    # counted by the server's tokenizer (3 framing tokens + 1 word per row), nothing else sent
    assert est["rows"] == 2 and est["prompt_tokens"] == 2 * (3 + 1)
    assert est["prompt_tokens_counted_by"] == "the provider's tokenizer"
    assert est["prompt_cost"] == pytest.approx(8 * 5 / 1e6) and est["currency"] == "CNY"
    assert est["cost_status"] == "priced"
    assert {r.path.rsplit("/", 1)[-1] for r in echo.received} == {"tokenizer"}
    echo.received.clear()
    monkey_free = glm_magic.batch(["a" * 40], model="glm-4-plus", dry_run=True)
    assert monkey_free["prompt_tokens"] == 4 and not echo.received  # remembered per prompt
    glm_magic.session().set_budget(0.00001, "CNY")
    df = glm_magic.batch([f"r{i}" for i in range(30)], model="glm-4-plus", concurrency=1,
                         progress=False)
    assert "budget" in df.attrs["stopped"] and (df["status"] == "ok").sum() < 30


def test_resume_sends_only_missing_rows(echo, tmp_path):
    path = str(tmp_path / "resume.sqlite")
    calls = []
    broken = {"r3": True}

    def app(rec):
        text = rec.json["messages"][-1]["content"]
        calls.append(text)
        if broken.get(text):
            return zhipu_error("1214", "transient bad row", 400)
        return Reply(body=completion_body(f"echo: {text}", "glm-4-flash"))
    echo.app = app
    first = glm_magic.batch([f"r{i}" for i in range(6)], resume=path, progress=False,
                            concurrency=1)
    assert list(first["status"]) == ["ok", "ok", "ok", "error", "ok", "ok"]
    calls.clear()
    broken.clear()  # the failure is gone; a new run (as after a kernel restart)
    second = glm_magic.batch([f"r{i}" for i in range(6)], resume=path, progress=False)
    assert calls == ["r3"] and (second["status"] == "ok").all()
    assert list(second["answer"]) == [f"echo: r{i}" for i in range(6)]


def test_interrupt_returns_what_is_done(echo):
    slow_echo(echo, delay=0.05)
    out = {}

    async def main():
        task = asyncio.ensure_future(glm_magic.abatch([f"r{i}" for i in range(100)],
                                                      concurrency=2, progress=False))
        await asyncio.sleep(0.3)
        task.cancel()
        out["df"] = await task

    asyncio.run(main())
    df = out["df"]
    done = (df["status"] == "ok").sum()
    assert 0 < done < 100 and (df["status"] == "interrupted").sum() == 100 - done


def test_sync_batch_works_inside_a_running_loop(echo):
    async def in_a_cell():
        return glm_magic.batch(["x", "y"], progress=False)  # like a notebook cell

    df = asyncio.run(in_a_cell())
    assert list(df["answer"]) == ["echo: x", "echo: y"]


@pytest.mark.local
def test_local_provider_runs_rows_sequentially():
    df = glm_magic.batch(["What is the capital of France?", "What is the capital of Italy?"],
                         provider="local", temperature=0, max_tokens=16, concurrency=8,
                         progress=False)
    assert "Paris" in df.loc[0, "answer"] and "Rome" in df.loc[1, "answer"]
    assert (glm_magic.usage(source="batch")["provider"] == "local").all()


def test_adaptive_limiter_aimd():
    lim = AdaptiveLimiter(8)
    lim.penalize(None)
    lim.penalize(None)
    assert lim.limit == 2
    for _ in range(2):
        lim.reward()
    assert lim.limit == 3


def test_a_rate_limited_server_loses_and_repeats_no_row(echo):
    """Beyond 4 in flight the server refuses with 429 and a Retry-After, as Zhipu's 1302:
    every row is answered exactly once, each with its own answer, and the batch learns a pace
    that keeps refusals rare after the first burst."""
    import threading

    state = {"active": 0, "ok": [], "refused": 0}
    lock = threading.Lock()

    def app(rec):
        with lock:
            if state["active"] >= 4:
                state["refused"] += 1
                return zhipu_error("1302", "您当前使用该API的并发数过高", 429,
                                   **{"Retry-After": "0.02"})
            state["active"] += 1
        try:
            time.sleep(0.01)
            last = rec.json["messages"][-1]["content"]
            with lock:
                state["ok"].append(last)
            return Reply(body=completion_body(f"echo: {last}", "glm-4-flash"))
        finally:
            with lock:
                state["active"] -= 1

    echo.app = app
    prompts = [f"row {i}" for i in range(200)]
    df = glm_magic.batch(prompts, concurrency=32, progress=False)
    assert (df["status"] == "ok").all()
    assert list(df["answer"]) == [f"echo: {p}" for p in prompts]  # each row its own answer
    assert sorted(state["ok"]) == sorted(prompts)  # answered once each: none lost, none twice
    assert state["refused"] < len(prompts)  # the pace keeps refusals well below one per row
