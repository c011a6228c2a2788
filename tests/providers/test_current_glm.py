"""Today's GLM line: models and prices with dates, exact counts from the tokenizer endpoint,
cached and thinking tokens priced and shown, keys entered with getpass, the %env warning."""

from __future__ import annotations

import json
import os
import stat

import pytest
from glm_magic.sessions import session

import glm_magic
from glm_magic import Client, pricing
from glm_magic.testing.zhipu import API_KEY


def test_models_lists_the_current_line_with_limits_and_dated_prices(shell, capsys):
    models = shell.run_line_magic("glm", "models zhipu")
    row = models.set_index("model").loc["glm-5.1"]
    assert row["context"] == 200_000 and row["max_output"] == 128_000 and row["thinking"]
    assert row["input_per_M"] > 0 and row["cached_input_per_M"] < row["input_per_M"]
    assert row["batch_input_per_M"] == row["input_per_M"] / 2
    assert row["price_as_of"] and row["price_source"].startswith("https://")
    for name in ("glm-5", "glm-5-turbo", "glm-5v-turbo", "glm-4.6v", "cogview-4",
                 "cogvideox-3", "embedding-3"):
        assert name in models["model"].values
    assert models.set_index("model").loc["glm-4.6v-flash", "free"]
    assert models.set_index("model").loc["glm-4.6v", "kind"] == "vision"
    stale = models["price_stale"].fillna(False).astype(bool)
    if stale.any():  # a price older than 180 days is flagged, and said so
        assert "older than 180 days" in capsys.readouterr().out


def test_tokenizer_counts_exactly_and_once_per_prompt(zhipu):
    client = Client("zhipu")
    msgs = [{"role": "user", "content": "你好 world"}]
    counted = client.tokenizer.create(model="glm-5", messages=msgs)
    assert counted.prompt_tokens == counted.usage.prompt_tokens == 3 + 2 + 1
    assert zhipu.received[-1].json == {"model": "glm-5", "messages": msgs}
    from glm_magic.tokens import count_prompt

    before = len(zhipu.received)
    assert count_prompt(client, "glm-5", msgs) == (6, True)
    assert count_prompt(client, "glm-5", msgs) == (6, True)
    assert len(zhipu.received) == before + 1  # remembered
    assert not glm_magic.usage()["source"].eq("client").any()  # counting is not a call


def test_dry_run_counts_with_the_tokenizer_and_falls_back_offline(shell, zhipu, capsys,
                                                                  monkeypatch):
    shell.run_cell_magic("glm", "--dry-run -m glm-5 --once", "一二三 four five")
    info = json.loads(capsys.readouterr().out)
    assert info["prompt_tokens"] == 3 + 3 + 2
    assert info["prompt_tokens_counted_by"] == "the provider's tokenizer"
    assert not info["estimated_prompt_cost"].startswith("~")  # exact count, exact price
    monkeypatch.delenv("ZHIPUAI_API_KEY")
    shell.run_cell_magic("glm", "--dry-run -p zhipu -m glm-5 --once", "一二三 four six")
    info = json.loads(capsys.readouterr().out)
    assert info["prompt_tokens_counted_by"] == "estimate"
    assert info["estimated_prompt_cost"].startswith("~")


def test_the_local_model_counts_exactly(monkeypatch):
    client = Client("local")
    msgs = [{"role": "user", "content": "Count these tokens, please."}]
    counted = client.tokenizer.create(messages=msgs).prompt_tokens
    answer = client.chat.completions.create(messages=msgs, max_tokens=1)
    assert counted == answer.usage.prompt_tokens and not answer.usage.estimated


def test_cached_tokens_are_priced_lower_and_shown(zhipu, shell, capsys):
    zhipu.cached_tokens = 8
    try:
        comp = Client("zhipu").chat.completions.create(
            model="glm-4.7", messages=[{"role": "user", "content": "a b"}])
    finally:
        zhipu.cached_tokens = 0
    assert comp.usage.cached_tokens == 8
    row = glm_magic.usage().iloc[-1]
    assert row["cached_tokens"] == 8
    out = comp.usage.completion_tokens
    # first tier of glm-4.7: 2 per M fresh input, 0.4 per M cached, 8 per M output
    assert row["cost"] == pytest.approx(((11 - 8) * 2.0 + 8 * 0.4 + out * 8.0) / 1e6)
    from glm_magic.render import footer_text

    assert "(8 cached)" in footer_text(comp)


def test_thinking_on_and_off(shell, zhipu, capsys):
    shell.run_cell_magic("glm", "--thinking -m glm-5 --no-stream --once", "why?")
    assert zhipu.received[-1].json["thinking"] == {"type": "enabled"}
    row = glm_magic.usage().iloc[-1]
    assert row["reasoning_tokens"] == 3
    assert "3 thinking" in capsys.readouterr().out
    shell.run_cell_magic("glm", "--no-thinking -m glm-5 --no-stream --once", "why?")
    assert zhipu.received[-1].json["thinking"] == {"type": "disabled"}
    assert pd_na(glm_magic.usage().iloc[-1]["reasoning_tokens"])
    shell.run_cell_magic("glm", "--thinking -m glm-4-plus --no-stream --once", "why?")
    assert "no thinking switch" in capsys.readouterr().out  # said, and sent as asked


def pd_na(value) -> bool:
    import pandas as pd

    return value is pd.NA or pd.isna(value)


def test_zai_base_url_prices_in_usd():
    from glm_magic.recording import direct_call, record_direct

    from glm_magic.providers.zhipu import ZhipuProvider
    from glm_magic.types import Choice, Completion, Message, Usage

    assert ZhipuProvider(base_url="https://api.z.ai/api/paas/v4").pricing_key() == "zai"
    assert ZhipuProvider().pricing_key() == "zhipu"
    call = direct_call("zhipu", {"model": "glm-5", "messages": []}, pricing_key="zai")
    comp = Completion(model="glm-5", choices=[Choice(0, Message("assistant", "x"), "stop")],
                      usage=Usage(1_000_000, 1_000_000, 2_000_000, cached_tokens=0))
    record_direct(call, comp)
    assert comp.currency == "USD" and comp.cost == pytest.approx(1.0 + 3.2)
    assert pricing.lookup("zhipu", "glm-5").currency == "CNY"


def test_trimming_uses_the_models_window(zhipu):
    s = session()
    chat = s.chat("long")
    for _ in range(6):
        chat.add("user", "word " * 600)
        chat.add("assistant", "ok")
    s.complete("and now?", model="glm-4v", chat="long", stream=False)  # a 2,000-token window
    notes = s.drain_notices()
    assert any("glm-4v's context window" in n for n in notes)
    sent = zhipu.received[-1].json["messages"]
    assert len(sent) < 13 and sent[-1]["content"] == "and now?"


def test_login_asks_without_echo_and_saves_0600(shell, monkeypatch, tmp_path, capsys):
    (tmp_path / ".git").mkdir()
    asked = []

    def fake_getpass(prompt=""):
        asked.append(prompt)
        return "abc123.def456secret"

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.delenv("ZHIPUAI_API_KEY", raising=False)
    shell.run_line_magic("glm", "login zhipu")
    out = capsys.readouterr().out
    assert os.environ["ZHIPUAI_API_KEY"] == "abc123.def456secret"
    assert "def456secret" not in out and "ZHIPUAI_API_KEY" in asked[0]
    assert not (tmp_path / ".env").exists()
    shell.run_line_magic("glm", "login zhipu --save")
    env = tmp_path / ".env"
    assert "ZHIPUAI_API_KEY=abc123.def456secret" in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert ".env" in (tmp_path / ".gitignore").read_text().splitlines()
    shell.run_line_magic("glm", "login zhipu --save")  # again: one line each, no duplicates
    assert env.read_text().count("ZHIPUAI_API_KEY=") == 1
    assert (tmp_path / ".gitignore").read_text().count(".env") == 1


def test_login_for_qianfan_asks_both_keys_and_refuses_nothing(shell, monkeypatch):
    from IPython.core.error import UsageError

    answers = iter(["ak-value-123", "sk-value-456"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    shell.run_line_magic("glm", "login qianfan")
    assert os.environ["QIANFAN_AK"] == "ak-value-123"
    assert os.environ["QIANFAN_SK"] == "sk-value-456"
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "  ")
    with pytest.raises(UsageError, match="nothing was entered"):
        shell.run_line_magic("glm", "login zhipu")


def test_env_magic_with_a_key_gets_a_warning(shell, capsys, monkeypatch):
    shell.run_cell(f"%env ZHIPUAI_API_KEY={API_KEY}")
    err = capsys.readouterr().err
    assert "%glm login" in err and "clear that output" in err and API_KEY not in err
    shell.run_cell("%env SOME_SETTING=1")
    assert "%glm login" not in capsys.readouterr().err
    monkeypatch.delenv("ZHIPUAI_API_KEY", raising=False)
    monkeypatch.delenv("SOME_SETTING", raising=False)


# --- GLM-5.2 / GLM-5.3: limits, reasoning effort, thinking that cannot be switched off ---------
def test_models_lists_glm_5_3_with_its_limits_effort_and_dated_usd_price(shell, monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "id.secret")
    monkeypatch.setenv("ZHIPUAI_BASE_URL", "https://api.z.ai/api/paas/v4")  # USD prices
    models = shell.run_line_magic("glm", "models zhipu").set_index("model")
    row = models.loc["glm-5.3"]
    assert (row["context"], row["max_output"]) == (1_048_576, 131_072)
    assert row["thinking"] and row["thinking_always"]
    assert (row["reasoning_effort"], row["default_effort"]) == ("low|high|max", "max")
    assert (row["input_per_M"], row["output_per_M"], row["cached_input_per_M"]) == \
        (1.4, 4.4, 0.26)
    assert row["currency"] == "USD" and row["price_as_of"] == "2026-12-04"
    five_two = models.loc["glm-5.2"]
    assert five_two["context"] == 1_000_000 and five_two["reasoning_effort"] == "high|max"
    assert not five_two["thinking_always"]
    assert list(models.index[:2]) == ["glm-5.3", "glm-5.2"]  # the current line first


def test_effort_is_sent_and_checked_per_model(shell, zhipu):
    from IPython.core.error import UsageError

    shell.run_cell_magic("glm", "-m glm-5.3 --effort low --once", "hi")
    assert zhipu.received[-1].json["reasoning_effort"] == "low"
    sent = len(zhipu.received)
    with pytest.raises(UsageError, match=r"glm-5.2 takes reasoning_effort high \| max, "
                                         r"not 'low'"):
        shell.run_cell_magic("glm", "-m glm-5.2 --effort low --once", "hi")
    with pytest.raises(UsageError, match="glm-4.7 takes no reasoning_effort.*glm-5.3"):
        shell.run_cell_magic("glm", "-m glm-4.7 --effort high --once", "hi")
    with pytest.raises(UsageError, match="glm-5.3 always thinks.*'low' thinks least"):
        shell.run_cell_magic("glm", "-m glm-5.3 --no-thinking --once", "hi")
    assert len(zhipu.received) == sent  # refused before anything was sent
    shell.run_cell_magic("glm", "-m glm-5.2 --no-thinking --effort max --once", "hi")
    assert zhipu.received[-1].json["thinking"] == {"type": "disabled"}
    assert zhipu.received[-1].json["reasoning_effort"] == "max"


def test_effort_is_checked_outside_the_magic_too(zhipu):
    with pytest.raises(glm_magic.BadRequestError, match="glm-5.3 takes reasoning_effort"):
        session().complete("hi", model="glm-5.3", reasoning_effort="medium", once=True)
    assert zhipu.received == []
    unlisted = session().complete("hi", model="glm-9", reasoning_effort="ultra", once=True)
    assert unlisted.text == "echo: hi"  # a model the list does not know is sent as asked
    assert zhipu.received[-1].json["reasoning_effort"] == "ultra"
