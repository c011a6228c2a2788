"""What a newcomer trips on: charts that show in a fresh kernel, summaries that count right,
cost lines that say something."""

from __future__ import annotations

import math
import time

import pytest
from glm_magic.ledger import Ledger, plot, summarize
from glm_magic.pricing import format_cost

import glm_magic
from glm_magic.testing.zhipu import zhipu_error


def _rows(led: Ledger) -> None:
    now = time.time()
    # call a: a 429 retried to success (2 attempts); call b: failed twice; c: local, free;
    # d: an unpriced model on the same day as priced ones
    led.append({"time": now - 50, "call_id": "a", "attempt": 1, "provider": "zhipu",
                "model": "glm-4-plus", "source": "batch", "status": "error", "cost": 0.0,
                "cost_status": "free"})
    led.append({"time": now - 49, "call_id": "a", "attempt": 2, "provider": "zhipu",
                "model": "glm-4-plus", "source": "batch", "status": "ok", "cost": 0.002,
                "currency": "CNY", "cost_status": "priced", "prompt_tokens": 10,
                "completion_tokens": 5, "total_tokens": 15})
    for attempt in (1, 2):
        led.append({"time": now - 40 + attempt, "call_id": "b", "attempt": attempt,
                    "provider": "zhipu", "model": "glm-4-plus", "source": "batch",
                    "status": "error", "cost": 0.0, "cost_status": "free"})
    led.append({"time": now - 30, "call_id": "c", "attempt": 1, "provider": "local",
                "model": "gemma", "source": "magic", "status": "ok", "cost": 0.0,
                "cost_status": "free"})
    led.append({"time": now - 20, "call_id": "d", "attempt": 1, "provider": "openai",
                "model": "mystery", "source": "magic", "status": "ok", "cost": math.nan,
                "cost_status": "unpriced"})


def test_summary_counts_calls_by_their_final_status(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    _rows(led)
    by_source = summarize(led.frame(), "source").set_index("source")
    assert by_source.loc["batch", "calls"] == 2
    assert by_source.loc["batch", "attempts"] == 4
    assert by_source.loc["batch", "errors"] == 1  # the retried 429 is not an error
    by_day = summarize(led.frame(), "day")
    assert len(by_day) == 1 and by_day.iloc[0]["currency"] == "CNY"  # not split by unpriced
    assert by_day.iloc[0]["calls"] == 4


def test_missing_text_values_are_none_not_nan(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    _rows(led)
    df = led.frame()
    for col in ("error", "request_id", "currency"):
        assert all(v is None or isinstance(v, str) for v in df[col]), col


def test_the_local_model_has_no_currency():
    from glm_magic import pricing
    from glm_magic.types import Usage

    assert pricing.cost("local", "anything.gguf", Usage(5, 5, 10)) == (0.0, None, "free")


def test_small_converted_costs_keep_their_digits():
    text = format_cost(0.000042, "CNY", rate=("USD", 0.14))
    assert "≈$0.0000 " not in text and "≈$0.00000588" in text


@pytest.mark.parametrize("kind", ["cost", "tokens", "latency"])
def test_figures_carry_their_own_png(tmp_path, kind):
    led = Ledger(tmp_path / "l.sqlite")
    _rows(led)
    fig = plot(led.frame(), kind)
    png = fig._repr_png_()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    if kind == "tokens":
        ticks = fig.axes[0].get_xticks()
        assert all(float(t).is_integer() for t in ticks)
    if kind == "cost":
        labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        assert all(len(lbl) in (0, 8) for lbl in labels), labels  # one format: HH:MM:SS
        assert all(line.get_marker() == "o" for line in fig.axes[0].get_lines())


def test_a_fresh_kernel_shows_charts_as_images(tmp_path, monkeypatch):
    """nbclient in a new kernel, no %matplotlib: plot_usage() and %glm cost render PNGs."""
    import nbformat
    from nbclient import NotebookClient

    path = tmp_path / "ledger.sqlite"
    led = Ledger(path)
    _rows(led)
    led.close()
    monkeypatch.setenv("GLM_MAGIC_LEDGER", str(path))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import glm_magic\nglm_magic.plot_usage()"),
                nbformat.v4.new_code_cell("%load_ext glm_magic"),
                nbformat.v4.new_code_cell("table = %glm cost\ntype(table).__name__")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    first = [o for o in nb.cells[0].outputs if o.get("output_type") == "execute_result"]
    assert first and "image/png" in first[0]["data"]
    assert "<Figure size" not in str(nb.cells[0].outputs)
    shown = [o for o in nb.cells[2].outputs if "data" in o]
    assert any("image/png" in o["data"] for o in shown)
    assert any(o["data"].get("text/plain") == "'DataFrame'" for o in shown)


def test_glm_cost_returns_the_table(shell, zhipu):
    glm_magic.session().complete("hello", stream=False)
    zhipu.push(zhipu_error("1302", "rate", 429, **{"Retry-After": "0"}))
    glm_magic.session().complete("again", stream=False)
    table = shell.run_line_magic("glm", "cost")
    assert list(table.columns)[:4] == ["provider", "model", "currency", "calls"]
    assert int(table["calls"].sum()) == 2 and int(table["errors"].sum()) == 0
    assert int(table["attempts"].sum()) == 3


# --- one clean line per error ---------------------------------------------------------------
def test_a_server_failure_in_a_cell_is_one_line_with_its_class(shell, zhipu, capsys):
    zhipu.push(zhipu_error("1000", "身份验证失败", 401))
    capsys.readouterr()
    result = shell.run_cell("%%glm\nhello")
    out = capsys.readouterr()
    assert result.error_in_exec is not None
    lines = [ln for ln in (out.out + out.err).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("AuthenticationError: [zhipu] 身份验证失败")
    assert "UsageError" not in lines[0] and "· ERROR" not in lines[0]


def test_python_shows_the_class_name_once(zhipu):
    from glm_magic import errors

    zhipu.push(zhipu_error("1000", "bad key", 401))
    with pytest.raises(errors.AuthenticationError) as info:
        glm_magic.Client("zhipu", max_retries=0).chat.completions.create(
            model="glm-4-flash", messages=[{"role": "user", "content": "hi"}])
    assert "AuthenticationError" not in str(info.value)
    assert errors.describe(info.value).count("AuthenticationError") == 1


def test_a_missing_async_task_gets_the_right_hint(zhipu):
    from glm_magic import errors

    zhipu.push(zhipu_error("1211", "task not found", 404))
    with pytest.raises(errors.NotFoundError) as info:
        glm_magic.session().task_result("no-such-task")
    assert "check the id" in str(info.value) and "model name" not in str(info.value)


# --- prompts sent as written: a re-run replaces its exchange ------------------------------------
def test_rerunning_a_cell_replaces_its_exchange(shell, zhipu, capsys):
    shell.run_cell("%%glm\nthe answer is n=2", cell_id="cell-a")
    shell.run_cell("%%glm\nthe answer is n=3", cell_id="cell-a")  # edited and re-run
    msgs = glm_magic.session().chat().messages
    assert [m["content"] for m in msgs] == ["the answer is n=3", "echo: the answer is n=3"]
    assert "replaced" in capsys.readouterr().out
    sent = zhipu.received[-1].json["messages"]
    assert [m["content"] for m in sent] == ["the answer is n=3"]
    assert all("cell_id" not in m for m in sent)  # our bookkeeping never goes on the wire
    shell.run_cell("%%glm\nanother question", cell_id="cell-b")
    shell.run_cell("%%glm --append\nthe answer is n=4", cell_id="cell-a")
    assert glm_magic.session().chat().turns == 3


def test_a_failed_rerun_keeps_the_earlier_exchange(shell, zhipu):
    shell.run_cell("%%glm\nfirst version", cell_id="cell-x")
    zhipu.push(zhipu_error("1000", "bad key", 401))
    shell.run_cell("%%glm\nsecond version", cell_id="cell-x")
    assert [m["content"] for m in glm_magic.session().chat().messages] == \
        ["first version", "echo: first version"]


# --- honest dry runs --------------------------------------------------------------------------
def test_dry_run_shows_the_wire_body_and_warns_about_the_window(shell, zhipu, capsys):
    import json

    shell.run_cell_magic("glm", "--dry-run -t 0 -m glm-4-flash", "hello")
    info = json.loads(capsys.readouterr().out)
    req = info["request"]
    assert req["temperature"] == 0.01 and req["do_sample"] is False and req["stream"] is True
    huge = "word " * 400_000  # far past glm-4-flash's window
    shell.run_cell_magic("glm", "--dry-run -m glm-4-flash", huge)
    out = capsys.readouterr().out
    info = json.loads(out)
    assert "larger than glm-4-flash's context window" in info["warning"]
    assert len(out) < 20_000 and "more characters, sent in full" in out
    # only the short prompt was counted by the tokenizer; the one past the window was not
    assert [r.path.rsplit("/", 1)[-1] for r in zhipu.received] == ["tokenizer"]
    assert glm_magic.session().notices == []  # nothing left over for the next cell


def test_a_prompt_past_the_window_is_announced_before_sending(zhipu):
    s = glm_magic.Session()
    s.complete("word " * 400_000, model="glm-4-flash", stream=False, once=True)
    assert any("context window" in n for n in s.drain_notices())


# --- clear errors ------------------------------------------------------------------------------
def test_an_unknown_local_model_names_the_file_that_would_answer(shell):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="no local model named 'nonexistent-model'"):
        shell.run_cell_magic("glm", "-m local:nonexistent-model --once", "hi")


def test_a_mistyped_option_gets_a_suggestion(shell):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="did you mean --temperature\\?"):
        shell.run_cell_magic("glm", "--temprature 0.5", "hi")


def test_config_refuses_a_temperature_out_of_range(shell, capsys):
    shell.run_line_magic("config", "GLMMagics.temperature = 3.0")
    out = capsys.readouterr()
    magics = next(c for c in shell.configurables if type(c).__name__ == "GLMMagics")
    assert magics.temperature != 3.0
    assert "outside zhipu's range" in out.out + out.err


def test_batch_has_a_real_signature_and_series_templates(zhipu):
    import inspect

    import pandas as pd

    params = inspect.signature(glm_magic.batch).parameters
    assert {"template", "concurrency", "resume", "dry_run"} <= set(params)
    s = pd.Series(["a", "b"], name="text")
    df = glm_magic.batch(s, template="Say {text}", progress=False)
    assert list(df["answer"]) == ["echo: Say a", "echo: Say b"]
    df = glm_magic.batch(["x"], template="Say {}", progress=False)
    assert df.loc[0, "answer"] == "echo: Say x"
    with pytest.raises(ValueError, match="use {} for the value"):
        glm_magic.batch(pd.Series(["a"], name="col"), template="{other}", progress=False)


def test_load_refuses_a_message_without_content(shell, tmp_path):
    from IPython.core.error import UsageError

    path = tmp_path / "c.json"
    path.write_text('{"messages": [{"role": "user"}]}')
    with pytest.raises(UsageError, match="has no content"):
        shell.run_line_magic("glm", f"load {path}")


def test_image_generation_shows_its_cost(shell, zhipu, capsys):
    shell.run_line_magic("glm", "image -m cogview-4 a cat")
    assert "cogview-4 · 1 image · " in capsys.readouterr().out


# --- every call is in the ledger, Client() included ---------------------------------------------
def test_direct_client_calls_are_recorded(zhipu):
    import asyncio

    msgs = [{"role": "user", "content": "hi"}]
    with glm_magic.Client("zhipu") as c:
        c.chat.completions.create(model="glm-4-flash", messages=msgs)
        for _ in c.chat.completions.create(model="glm-4-flash", messages=msgs, stream=True):
            pass
        zhipu.push(zhipu_error("1302", "rate", 429, **{"Retry-After": "0"}))
        c.chat.completions.create(model="glm-4-flash", messages=msgs)
        zhipu.push(zhipu_error("1000", "bad key", 401))
        with pytest.raises(glm_magic.AuthenticationError):
            c.chat.completions.create(model="glm-4-flash", messages=msgs)

    async def async_call():
        async with glm_magic.AsyncClient("zhipu") as ac:
            await ac.chat.completions.create(model="glm-4-flash", messages=msgs)

    asyncio.run(async_call())
    with glm_magic.Client("zhipu", record=False) as c:
        c.chat.completions.create(model="glm-4-flash", messages=msgs)
    df = glm_magic.usage()
    assert set(df["source"]) == {"client"}
    assert list(df["status"]) == ["ok", "ok", "error", "ok", "error", "ok"]
    assert df["call_id"].nunique() == 5  # the 429 and its retry are one call, two rows
    assert df.iloc[1]["completion_tokens"] > 0  # the stream, recorded when it ended


# --- one place for each fact ---------------------------------------------------------------------
def test_a_mistyped_routing_option_is_a_type_error(zhipu):
    s = glm_magic.Session()
    with pytest.raises(TypeError, match="did you mean chat="):
        s.complete("hi", conversation="work", stream=False)
    with pytest.raises(TypeError, match="did you mean system="):
        s.complete("hi", system_prompt="be brief", stream=False)
    assert zhipu.received == []  # nothing went to the vendor
    s.complete("hi", stream=False, temperature=0.3, foo_param=1)  # real API params pass
    assert zhipu.received[-1].json["foo_param"] == 1


def test_the_panel_and_batch_use_the_configured_temperature_and_system(shell, zhipu):
    from glm_magic.widget import ChatPanel

    shell.run_line_magic("config", "GLMMagics.temperature = 0.2")
    shell.run_line_magic("config", "GLMMagics.system = 'Answer in French.'")
    panel = ChatPanel(provider="zhipu", chat="fresh")
    assert panel.temperature_w.value == 0.2
    panel.send("hello")
    body = zhipu.received[-1].json
    assert body["temperature"] == 0.2
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}
    glm_magic.batch(["x"], progress=False)
    body = zhipu.received[-1].json
    assert body["temperature"] == 0.2 and body["messages"][0]["role"] == "system"


def test_dotenv_values_drop_trailing_comments(tmp_path, monkeypatch):
    from glm_magic import config

    (tmp_path / ".env").write_text("ZHIPUAI_API_KEY=abc123456789  # my key\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZHIPUAI_API_KEY", raising=False)
    config.load_dotenv()
    import os

    assert config.env_value("ZHIPUAI_API_KEY") == "abc123456789"
    assert "ZHIPUAI_API_KEY" not in os.environ  # .env never writes the environment


def test_help_comes_from_the_registry(shell, capsys):
    from glm_magic.subcommands import SUBCOMMANDS

    shell.run_line_magic("glm", "help")
    out = capsys.readouterr().out
    assert all(f"%glm {name}" in out for name in SUBCOMMANDS)


def test_a_provider_subclass_and_an_entry_point_register(monkeypatch):
    from importlib.metadata import EntryPoint

    from glm_magic import providers
    from glm_magic.providers.openai import OpenAIProvider

    monkeypatch.setattr(providers, "_registered", dict(providers._registered))  # restored after

    class Mine(OpenAIProvider):
        default_base_url = "http://127.0.0.1:9/v1"
        key_env = None

    glm_magic.register_provider("mine", Mine)
    assert providers.provider_class("mine").default_base_url == "http://127.0.0.1:9/v1"
    assert "mine" in providers.names()
    import sys
    import types

    mod = types.ModuleType("glm_magic_test_plugin")
    mod.Plugged = Mine
    monkeypatch.setitem(sys.modules, "glm_magic_test_plugin", mod)
    ep = EntryPoint("plugged", "glm_magic_test_plugin:Plugged", "glm_magic.providers")
    monkeypatch.setattr("importlib.metadata.entry_points",
                        lambda group=None: [ep] if group == "glm_magic.providers" else [])
    monkeypatch.setattr(providers, "_plugins_loaded", False)
    assert providers.provider_class("plugged").name == "plugged"


def test_tab_completion_offers_the_subcommands(shell):
    _, matches = shell.complete("co", line="%glm co", cursor_pos=7)
    assert "cost" in matches and "config" in matches
