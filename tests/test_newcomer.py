"""What a newcomer trips on: charts that show in a fresh kernel, summaries that count right,
cost lines that say something."""

from __future__ import annotations

import math
import time

import pytest

import glm_magic
from glm_magic.ledger import Ledger, plot, summarize
from glm_magic.pricing import format_cost
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
