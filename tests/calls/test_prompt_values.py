"""`{df}` and other large values in prompts: cut in the open within max_context_tokens, with a
notice; and `%glm fix` with a real exception."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError

from glm_magic.interpolate import interpolate
from glm_magic.testing.zhipu import API_KEY
from glm_magic.tokens import estimate_tokens


def sent(zhipu) -> str:
    return zhipu.received[-1].json["messages"][-1]["content"]


def test_a_small_frame_is_a_whole_markdown_table_with_shape_and_dtypes():
    df = pd.DataFrame({"city": ["Beijing", "Hang|zhou"], "pop": [21.9, 12.4]})
    notes: list[str] = []
    text = interpolate("{df}", {"df": df}, notes)
    assert text.splitlines()[0] == \
        "DataFrame `df`: 2 rows × 2 columns; dtypes: city str, pop float64" or \
        text.splitlines()[0] == \
        "DataFrame `df`: 2 rows × 2 columns; dtypes: city object, pop float64"
    assert "| 1 | Hang\\|zhou | 12.4 |" in text and notes == []


def test_every_row_is_accounted_for_when_a_frame_is_cut(shell, zhipu, capsys):
    df = pd.DataFrame({"id": range(100), "text": [f"row number {i}" for i in range(100)]})
    shell.user_ns["df"] = df
    shell.run_line_magic("config", "GLMMagics.max_context_tokens = 400")
    shell.run_cell_magic("glm", "--once", "Summarise {df}")
    prompt = sent(zhipu)
    shown = [int(line.split("|")[1]) for line in prompt.splitlines()
             if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert shown[0] == 0 and shown[-1] == 99  # the first and the last rows are there
    left_out = 100 - len(shown)
    assert left_out > 0 and f"| … | {left_out} rows left out |" in prompt
    assert f"(showing {len(shown)} of 100 rows; the rest is left out)" in prompt
    assert "..." not in prompt  # never pandas' silent truncation
    assert estimate_tokens(prompt) <= 420
    assert f"{{df}}: sent {len(shown)} of 100 rows (max_context_tokens=400)" in \
        capsys.readouterr().out


def test_wide_frames_lose_columns_in_the_open():
    df = pd.DataFrame(np.arange(40 * 60).reshape(40, 60))
    notes: list[str] = []
    text = interpolate("{df}", {"df": df}, notes, budget=300)
    assert "columns" in notes[0] and "of 60 columns" in text
    assert estimate_tokens(text) <= 300


@pytest.mark.parametrize("value, unit", [
    (pd.Series(range(1000), name="x"), "rows"),
    (np.arange(5000), "rows"),
    ({f"k{i}": i for i in range(1000)}, "keys"),
    (list(range(3000)), "items"),
    ("word " * 5000, "characters"),
])
def test_large_values_of_every_kind_are_cut_with_a_notice(value, unit):
    notes: list[str] = []
    text = interpolate("{v}", {"v": value}, notes, budget=200)
    assert estimate_tokens(text) <= 210
    assert len(notes) == 1 and notes[0].startswith("{v}: sent ") and unit in notes[0]
    assert "left out" in text


def test_small_values_are_sent_exactly_as_python_prints_them():
    ns = {"n": 3, "s": "hi", "d": {"a": 1}, "a": np.arange(3)}
    assert interpolate("{n} {s} {d} {a}", ns) == "3 hi {'a': 1} [0 1 2]"


def test_in_and_out_history_references_work(shell, zhipu):
    shell.run_cell("x = 41 + 1", store_history=True)
    shell.run_cell("x", store_history=True)
    n = shell.execution_count - 1
    shell.run_cell_magic("glm", "--once", f"Code: {{In[{n - 1}]}} gave {{Out[{n}]}}")
    assert sent(zhipu) == "Code: x = 41 + 1 gave 42"


def test_fix_sends_the_exception_and_its_cell_and_puts_the_code_below(shell, zhipu,
                                                                      monkeypatch):
    from glm_magic.testing.loopback import Reply
    from glm_magic.testing.zhipu import completion_body

    monkeypatch.setattr("sys.last_value", None, raising=False)
    monkeypatch.setattr("sys.last_exc", None, raising=False)
    shell.user_ns["token"] = API_KEY
    shell.run_cell(f"secret = {API_KEY!r}\nrows = [1, 2]\nrows[5]", store_history=True)
    zhipu.push(Reply(body=completion_body(
        "The list has two items.\n```python\nrows = [1, 2]\nrows[-1]\n```", "glm-4-flash")))
    inserted: list[str] = []
    monkeypatch.setattr(shell, "set_next_input", lambda text, replace=False:
                        inserted.append(text))
    shell.run_line_magic("glm", "fix keep it short")
    prompt = sent(zhipu)
    assert "IndexError: list index out of range" in prompt
    assert "rows[5]" in prompt and "Also: keep it short" in prompt
    # the cell's frame by a stable name, not the kernel's temporary file (which changes with
    # every kernel, so a cached fix would never be found again)
    assert 'File "<cell>", line 3' in prompt and "ipython-input" not in prompt
    assert API_KEY not in prompt  # keys are masked before sending
    assert inserted == ["rows = [1, 2]\nrows[-1]"]
    assert len(zhipu.received[-1].json["messages"]) == 1  # not added to a conversation


def test_fix_without_an_exception_is_one_line(shell, zhipu, monkeypatch):
    monkeypatch.setattr("sys.last_value", None, raising=False)
    monkeypatch.setattr("sys.last_exc", None, raising=False)
    with pytest.raises(UsageError, match="no exception in this session yet"):
        shell.run_line_magic("glm", "fix")
    assert zhipu.received == []
