"""The usage ledger on real SQLite files, and prices."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from glm_magic.ledger import Ledger

import glm_magic
from glm_magic import pricing
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import stream_frames, zhipu_error
from glm_magic.types import Usage

ROOT = Path(__file__).resolve().parents[2]


def test_columns_and_dtypes(zhipu):
    s = glm_magic.session()
    s.complete("hi", stream=True, source="api")
    df = glm_magic.usage()
    expected = ["time", "call_id", "request_id", "attempt", "provider", "model", "source",
                "conversation", "status", "finish_reason", "error", "prompt_tokens",
                "completion_tokens", "total_tokens", "cached_tokens", "usage_estimated",
                "latency_s", "ttft_s", "cost", "currency", "cost_status", "cell", "tags"]
    assert set(expected) <= set(df.columns)
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"
    assert str(df["cached_tokens"].dtype) == "Int64"
    assert df["usage_estimated"].dtype == bool
    assert df["attempt"].dtype.kind == "i" and df["cost"].dtype == float
    row = df.iloc[-1]
    assert row["provider"] == "zhipu" and row["model"] == "glm-4-flash"
    assert row["status"] == "ok" and row["cost_status"] == "free" and row["cost"] == 0.0
    assert row["prompt_tokens"] == 11 and not row["usage_estimated"]
    assert row["ttft_s"] > 0 and row["latency_s"] >= row["ttft_s"]
    assert pd.isna(row["cell"])


def test_priced_call_and_filters(zhipu):
    s = glm_magic.session()
    s.complete("a", model="glm-4-plus", stream=False, source="api", tags=["x", "y"])
    s.complete("b", model="glm-4-flash", stream=False, source="batch")
    df = glm_magic.usage(model="glm-4-plus")
    assert len(df) == 1
    row = df.iloc[0]
    # 11 prompt + 2 completion tokens at 5 CNY / M each
    assert row["cost"] == pytest.approx(13 * 5 / 1e6)
    assert row["currency"] == "CNY" and row["cost_status"] == "priced" and row["tags"] == "x,y"
    assert len(glm_magic.usage(source="batch")) == 1
    assert len(glm_magic.usage(since=pd.Timestamp.now(tz="UTC") + pd.Timedelta("1h"))) == 0


def test_retry_attempts_are_rows(zhipu, monkeypatch):
    monkeypatch.setattr("glm_magic.core.responses.backoff_delay", lambda attempt, ra=None: 0.0)
    zhipu.push(zhipu_error("1302", "rate", 429))
    glm_magic.session().complete("x", stream=False)
    df = glm_magic.usage()
    assert list(df["attempt"]) == [1, 2]
    assert list(df["status"]) == ["error", "ok"]
    assert df["call_id"].nunique() == 1
    assert df.iloc[0]["cost"] == 0 and "RateLimitError" in df.iloc[0]["error"]


def test_failed_and_filtered_calls_are_rows(zhipu):
    s = glm_magic.session()
    zhipu.push(zhipu_error("1214", "bad param", 400))
    with pytest.raises(glm_magic.BadRequestError):
        s.complete("x", stream=False)
    zhipu.push(Reply(events=stream_frames("nope nope", "glm-4-flash", finish_reason="sensitive")))
    with pytest.raises(glm_magic.ContentFilterError):
        s.complete("y")
    df = glm_magic.usage()
    assert list(df["status"]) == ["error", "filtered"]
    assert "1214" in df.iloc[0]["error"]
    assert s.chats["default"].messages == []  # the filtered exchange left memory
    assert any("moderation" in n for n in s.drain_notices())


def test_stream_without_usage_is_estimated(zhipu):
    zhipu.push(Reply(events=stream_frames("one two three", "glm-4-plus", usage=False)))
    comp = glm_magic.session().complete("count me", model="glm-4-plus")
    assert comp.usage.estimated and comp.usage.completion_tokens == 4  # ceil(13/4)
    row = glm_magic.usage().iloc[-1]
    assert row["usage_estimated"] and row["cost_status"] == "estimated" and row["cost"] > 0


def test_text_is_stored_only_on_opt_in(zhipu):
    s = glm_magic.session()
    s.complete("secret plans", stream=False)
    assert glm_magic.usage().iloc[-1]["prompt"] is None
    s.log_text = True
    s.complete("public plans", stream=False)
    row = glm_magic.usage().iloc[-1]
    assert row["prompt"] == "public plans" and row["answer"] == "echo: public plans"


def test_key_never_in_ledger(zhipu, tmp_path):
    from glm_magic.testing.zhipu import API_KEY

    zhipu.push(Reply(401, {"error": {"code": "1000", "message": f"bad key {API_KEY}"}}))
    with pytest.raises(glm_magic.AuthenticationError) as ei:
        glm_magic.session().complete("x", stream=False)
    assert API_KEY not in str(ei.value)
    raw = Path(os.environ["GLM_MAGIC_LEDGER"]).read_bytes()
    wal = Path(os.environ["GLM_MAGIC_LEDGER"] + "-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    assert API_KEY.encode() not in raw and API_KEY.split(".")[1].encode() not in raw


# --- prices -------------------------------------------------------------------------------------
def test_prices_tiers_free_unknown_and_images(capsys):
    c, cur, st = pricing.cost("zhipu", "glm-4.5", Usage(1000, 100, 1100))
    assert (cur, st) == ("CNY", "priced") and c == pytest.approx((1000 * 2 + 100 * 8) / 1e6)
    c, _, _ = pricing.cost("zhipu", "glm-4.5", Usage(1000, 1000, 2000))
    assert c == pytest.approx((1000 * 3 + 1000 * 14) / 1e6)
    c, _, _ = pricing.cost("zhipu", "glm-4.5", Usage(100_000, 1000, 101_000))
    assert c == pytest.approx((100_000 * 4 + 1000 * 16) / 1e6)
    assert pricing.cost("zhipu", "glm-4-flash", Usage(10, 10, 20)) == (0.0, "CNY", "free")
    assert pricing.cost("local", "anything", Usage(10, 10, 20))[2] == "free"
    c, cur, st = pricing.cost("zhipu", "glm-99-mystery", Usage(10, 10, 20))
    assert math.isnan(c) and st == "unpriced" and cur is None
    pricing.cost("zhipu", "glm-99-mystery", Usage(10, 10, 20))
    assert capsys.readouterr().err.count("no price known") == 1
    assert pricing.cost("zhipu", "cogview-3", None, images=2) == (pytest.approx(0.2), "CNY",
                                                                     "priced")
    # seed 002's legacy prices: 0.01 / 0.005 / 0.002 CNY per 1K tokens
    for model, per_k in (("chatglm_pro", 0.01), ("chatglm_std", 0.005), ("chatglm_lite", 0.002)):
        assert pricing.cost("zhipu_v3", model, Usage(500, 500, 1000))[0] == pytest.approx(per_k)
    # a dated variant takes its family's price
    assert pricing.lookup("zhipu", "glm-4-plus-0111").model == "glm-4-plus"


def test_cached_tokens_are_cheaper():
    full = pricing.cost("zhipu", "glm-4.6", Usage(10_000, 100, 10_100))[0]
    cached = pricing.cost("zhipu", "glm-4.6", Usage(10_000, 100, 10_100, cached_tokens=8000))[0]
    assert cached == pytest.approx((2000 * 2 + 8000 * 0.4 + 100 * 8) / 1e6) and cached < full


def test_set_price_and_price_file(tmp_path):
    pricing.set_price("my-model", provider="zhipu", input=1.0, output=2.0, currency="usd")
    c, cur, st = pricing.cost("zhipu", "my-model", Usage(1_000_000, 1_000_000, 2_000_000))
    assert (c, cur, st) == (3.0, "USD", "priced")
    f = tmp_path / "p.toml"
    f.write_text('[[price]]\nprovider = "openai"\nmodels = ["gpt-x"]\ncurrency = "USD"\n'
                 'input = 2.5\noutput = 10\nas_of = "2026-01-01"\n')
    assert pricing.load_price_file(f) == 1
    assert pricing.lookup("openai", "gpt-x").as_of == "2026-01-01"
    bad = tmp_path / "bad.toml"
    bad.write_text("[[price]\nbroken")
    with pytest.raises(ValueError, match="cannot read price file"):
        pricing.load_price_file(bad)
    with pytest.raises(ValueError):
        pricing.set_price("x")


def test_format_cost_with_user_rate():
    assert pricing.format_cost(0.5, "CNY", "priced", ("USD", 0.14)) == \
        "¥0.5000 (≈$0.0700 at 1 CNY = 0.14 USD)"
    assert pricing.format_cost(0.0, "CNY", "free") == "free"
    assert pricing.format_cost(float("nan"), None, "unpriced") == "cost unknown"


# --- analysis -----------------------------------------------------------------------------------
def test_cost_summary_plot_and_budget(zhipu, shell, capsys, tmp_path):
    s = glm_magic.session()
    for model in ("glm-4-plus", "glm-4-plus", "glm-4-flash"):
        s.complete("q", model=model, stream=False, chat=model)
    summary = glm_magic.cost_summary(by="model")
    plus = summary[summary["model"] == "glm-4-plus"].iloc[0]
    assert plus["calls"] == 2 and plus["cost"] == pytest.approx(2 * 13 * 5 / 1e6)
    assert set(glm_magic.cost_summary(by="conversation")["conversation"]) == {
        "glm-4-plus", "glm-4-flash"}
    for kind in ("cost", "tokens", "latency"):
        fig = glm_magic.plot_usage(kind=kind)
        ax = fig.axes[0]
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert "CNY" in glm_magic.plot_usage("cost").axes[0].get_ylabel()
    # budget: refuse paid calls past it, free ones still allowed
    shell.run_line_magic("glm", "budget 0.0001 CNY")
    with pytest.raises(glm_magic.BudgetExceededError):
        s.complete("more", model="glm-4-plus", stream=False)
    s.complete("free one", model="glm-4-flash", stream=False)
    result = shell.run_cell("%%glm -m glm-4-plus\nmore")
    assert result.error_in_exec is not None and "budget" in capsys.readouterr().err
    shell.run_line_magic("glm", f"usage --csv {tmp_path / 'u.csv'}")
    assert len(pd.read_csv(tmp_path / "u.csv")) == len(glm_magic.usage())


# --- durability -----------------------------------------------------------------------------------
WRITER = """
import sys, time
from glm_magic.ledger import Ledger
led = Ledger(sys.argv[1])
n = int(sys.argv[2])
for i in range(n):
    led.append({"call_id": f"{sys.argv[3]}-{i}", "provider": "local", "model": "m",
                "status": "ok", "source": "api"})
    if len(sys.argv) > 4:
        print(i, flush=True)
        time.sleep(0.002)
"""


def _writer(path, n, tag, slow=False):
    args = [sys.executable, "-c", WRITER, str(path), str(n), tag] + (["slow"] if slow else [])
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def test_two_processes_append_concurrently(tmp_path):
    path = tmp_path / "shared.sqlite"
    procs = [_writer(path, 1500, tag) for tag in ("a", "b")]
    for p in procs:
        assert p.wait(timeout=120) == 0
    led = Ledger(path)
    assert led.count() == 3000
    ids = {r["call_id"] for r in led.rows()}
    assert len(ids) == 3000


def test_kill_9_loses_no_completed_row(tmp_path):
    path = tmp_path / "killed.sqlite"
    p = _writer(path, 100_000, "k", slow=True)
    done = -1
    for line in p.stdout:
        done = int(line)
        if done >= 200:
            break
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert Ledger(path).count() >= done + 1


def test_persists_across_processes(zhipu, tmp_path):
    glm_magic.session().complete("remember me", stream=False)
    code = ("import glm_magic; df = glm_magic.usage(); "
            "print(len(df), df.iloc[-1]['status'], df.iloc[-1]['provider'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ}, cwd=ROOT, timeout=120)
    assert out.stdout.split() == ["1", "ok", "zhipu"]


def test_unwritable_ledger_falls_back_to_memory(tmp_path, capsys):
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    led = Ledger(bad)
    led.append({"call_id": "x", "status": "ok"})
    assert led.count() == 1 and led.path == ":memory:"
    assert capsys.readouterr().err.count("cannot use the ledger") == 1


def test_append_speed_is_reasonable(tmp_path):
    led = Ledger(tmp_path / "speed.sqlite")
    t0 = time.perf_counter()
    for i in range(2000):
        led.append({"call_id": str(i), "status": "ok"})
    assert led.count() == 2000 and time.perf_counter() - t0 < 60  # figures live in bench/


DIRECT_CALLS = """
import os, sys, time
from glm_magic import Client
c = Client("zhipu", api_key=sys.argv[2], base_url=sys.argv[1])
for i in range(int(sys.argv[3])):
    c.chat.completions.create(model="glm-4-flash", messages=[{"role": "user", "content": "hi"}])
print("done", flush=True)
if sys.argv[4] == "wait":
    time.sleep(60)  # killed here, well after the group commit
"""


@pytest.mark.parametrize("end", ["exit", "kill after 0.3 s"])
def test_direct_call_rows_are_group_committed_and_never_lost(zhipu, tmp_path, end):
    """A bare Client()'s rows are committed together by a writer thread within GROUP_S: a
    clean exit writes them at once; a kill -9 later than that loses none."""
    from glm_magic.testing.zhipu import API_KEY

    path = tmp_path / "direct.sqlite"
    env = {**os.environ, "GLM_MAGIC_LEDGER": str(path)}
    p = subprocess.Popen([sys.executable, "-c", DIRECT_CALLS, zhipu.base_url, API_KEY, "25",
                          "exit" if end == "exit" else "wait"], env=env,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "done"
    if end != "exit":
        time.sleep(0.3)
        os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    rows = Ledger(path).rows()
    assert len(rows) == 25 and {r["source"] for r in rows} == {"client"}


def test_a_read_sees_a_direct_call_at_once(zhipu):
    from glm_magic import Client

    Client().chat.completions.create(model="glm-4-flash",
                                     messages=[{"role": "user", "content": "hi"}])
    assert len(glm_magic.usage(source="client")) == 1  # written before the read, not 50 ms on


def test_group_commit_resumes_after_close(tmp_path):
    """close() retires the writer thread; a row appended after it is still committed soon."""
    import sqlite3

    from glm_magic.accounting.ledger import GROUP_S

    path = tmp_path / "soon.sqlite"
    led = Ledger(path)
    led.append_soon({"call_id": "a", "attempt": 1, "status": "ok"})
    led.close()
    led.append_soon({"call_id": "b", "attempt": 1, "status": "ok"})
    time.sleep(GROUP_S * 6)
    other = sqlite3.connect(path)  # another reader: this ledger's own reads would flush
    try:
        assert [r[0] for r in other.execute("SELECT call_id FROM calls ORDER BY id")] == ["a",
                                                                                          "b"]
    finally:
        other.close()
        led.close()


def test_the_fast_row_path_stores_what_the_careful_one_does(tmp_path):
    """`row_values` recognises a common row by its shape; any row, common or odd (huge ints,
    NaN, surrogates, long text, bytes, dicts), must come out exactly as value-by-value
    conversion makes it, and land in the file as such."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from glm_magic.accounting.ledger_rows import COLUMNS, row_values, scalar

    anything = st.one_of(st.none(), st.integers(), st.integers(min_value=2**62),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(),
                         st.text(min_size=8190, max_size=8300), st.binary(max_size=20),
                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
    fixed = {"time": 1.5, "pid": 7, "os_user": "me", "host": "h", "error": None,
             "prompt": None, "answer": None, "tags": None}

    @settings(max_examples=300, deadline=None)
    @given(st.fixed_dictionaries({k: anything for k in COLUMNS if k not in fixed}))
    def check(row):
        row.update(fixed)
        careful = [None if row.get(k) is None else scalar(kind, k, row[k])
                   for k, kind in COLUMNS.items()]
        assert row_values(row) == careful or any(
            v != v for v in careful if isinstance(v, float))  # NaN is never equal

    check()
    led = Ledger(tmp_path / "odd.sqlite")
    led.append({"call_id": "x" * 9000, "request_id": {"id": 1}, "prompt_tokens": 2**70,
                "cost": float("nan"), "model": "bad\ud800", "status": "ok"})
    row = led.rows()[-1]
    assert len(row["call_id"]) == 8192 and row["request_id"] == '{"id": 1}'
    assert row["prompt_tokens"] == 2**63 - 1 and row["cost"] is None
    assert row["model"] == "bad?"
