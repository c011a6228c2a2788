"""Hostile servers, files and pasted code: interpolation runs nothing unmarked, Retry-After and
usage values are bounded, saves are atomic, special files are not sent as images, and bad
`--param` values are one-line UsageErrors that leave the conversation intact."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from glm_magic.client import MAX_RETRY_AFTER_S
from glm_magic.conversation import Conversation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

import glm_magic
from glm_magic import errors
from glm_magic.core.responses import retry_after as _retry_after
from glm_magic.interpolate import interpolate
from glm_magic.testing.loopback import Reply, sse
from glm_magic.types import Usage


# --- interpolation ---------------------------------------------------------------------------
def test_pasted_code_with_calls_runs_nothing(tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("data")
    import pandas as pd

    df = pd.DataFrame({"a": [1], "b": [2]})
    rows = [1, 2, 3]
    ns = {"os": os, "path": str(victim), "df": df, "rows": rows}
    cell = ('why does this print None? logger.info(f"{os.remove(path)} '
            "{df.drop(columns='b', inplace=True)} {rows.pop()}\")")
    assert interpolate(cell, ns) == cell
    assert victim.exists() and list(df.columns) == ["a", "b"] and rows == [1, 2, 3]
    # marked expression fields do run
    assert interpolate("{=len(rows)} {=rows[-1] * 2}", ns) == "3 6"


def test_references_attributes_and_literal_subscripts():
    class Box:
        label = "box"

    ns = {"name": "Ada", "d": {"k": [1, 2]}, "box": Box(), "rows": [5, 6]}
    assert interpolate('{name} {d["k"][1]} {box.label} {rows[-1]}', ns) == "Ada 2 box 6"
    assert interpolate("{box.__class__}", ns) == "{box.__class__}"  # no dunder walking
    assert interpolate("{rows[i]}", ns) == "{rows[i]}"  # only literal keys


@settings(max_examples=200, deadline=None)
@given(value=st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids,
                                                              max_size=3),
    max_leaves=12))
def test_json_in_a_cell_arrives_byte_identical(value):
    body = "Parse this JSON: " + json.dumps(value)
    assert interpolate(body, {"x": 1, "name": "A", "city": "P"}) == body


def test_doubled_braces_collapse_only_around_a_field():
    ns = {"city": "Paris"}
    assert interpolate('{"nested": {"a": {"b": 1}}}', ns) == '{"nested": {"a": {"b": 1}}}'
    assert interpolate("{'a': 1, 'b': {city: 2}}", ns) == "{'a': 1, 'b': {city: 2}}"
    assert interpolate("{{city}} is {city}", ns) == "{city} is Paris"


def test_unknown_reference_gets_a_notice_with_the_nearest_name(shell, zhipu, capsys):
    shell.user_ns["name"] = "Ada"
    shell.run_cell_magic("glm", "--once", "Hello {nmae}")
    out = capsys.readouterr().out
    assert "no variable 'nmae'" in out and "{name}" in out
    assert zhipu.received[-1].json["messages"][-1]["content"] == "Hello {nmae}"


# --- Retry-After and usage from a hostile server ----------------------------------------------
@pytest.mark.parametrize("value, expected", [
    ("nan", None), ("inf", MAX_RETRY_AFTER_S), ("999999", MAX_RETRY_AFTER_S), ("-5", 0.0),
    ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER_S), ("soon", None), ("2", 2.0)])
def test_retry_after_is_bounded(value, expected):
    assert _retry_after(httpx.Headers({"retry-after": value})) == expected


def test_batch_is_not_stalled_by_a_huge_retry_after(zhipu):
    import time

    for _ in range(2):
        zhipu.push(Reply(status=429, body={"error": {"code": "1302", "message": "slow"}},
                         headers={"retry-after": "nan"}))
    t0 = time.monotonic()
    out = glm_magic.batch(["a"], provider="zhipu", max_retries=3)
    assert time.monotonic() - t0 < MAX_RETRY_AFTER_S
    assert out["status"].tolist() == ["ok"]


@pytest.mark.parametrize("usage, prompt, completion, cached", [
    ({"prompt_tokens": -500, "completion_tokens": -1, "total_tokens": -501}, 0, 0, None),
    ({"prompt_tokens": 10, "completion_tokens": 5,
      "prompt_tokens_details": {"cached_tokens": 1600}}, 10, 5, 10),
    ({"prompt_tokens": "NaN", "completion_tokens": 2**63, "total_tokens": {"x": 1}}, 0,
     10**12, None),
    ({"prompt_tokens": "12", "completion_tokens": 3.7}, 12, 3, None),
])
def test_hostile_usage_is_clamped_and_always_recorded(zhipu, usage, prompt, completion, cached):
    zhipu.push(Reply(events=sse(
        {"choices": [{"index": 0, "delta": {"content": "hi"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage})))
    s = glm_magic.session()
    comp = s.complete("x", provider="zhipu", model="glm-4-plus", once=True)
    u = comp.usage
    assert (u.prompt_tokens, u.completion_tokens, u.cached_tokens) == (prompt, completion, cached)
    assert u.total_tokens >= u.prompt_tokens + u.completion_tokens
    assert comp.cost is None or comp.cost != comp.cost or comp.cost >= 0
    row = s.usage().iloc[-1]
    assert row["call_id"] and row["prompt_tokens"] == prompt
    assert not (row["cost"] < 0)


def test_usage_constructor_never_goes_negative():
    u = Usage(-3, "x", None, cached_tokens=-1, reasoning_tokens=99)
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.reasoning_tokens) == (0, 0, 0, 0, 0)


# --- files -----------------------------------------------------------------------------------
def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "chat.json"
    good = Conversation("c")
    good.add("user", "hello")
    good.save(path)
    before = path.read_bytes()
    bad = Conversation("c")
    bad.add("user", "lone surrogate \ud800 here")
    with pytest.raises(UnicodeEncodeError):
        bad.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["chat.json"]  # no temp file left


def test_save_on_a_full_disk_keeps_the_old_file(tmp_path):
    """Runs on a tiny tmpfs when the machine lets us mount one; else on /dev/full."""
    import subprocess

    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                             capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("cannot mount a tmpfs here")
    try:
        path = mnt / "chat.json"
        conv = Conversation("c")
        conv.add("user", "small")
        conv.save(path)
        before = path.read_bytes()
        big = Conversation("c")
        big.add("user", "x" * 200_000)
        with pytest.raises(OSError):
            big.save(path)
        assert path.read_bytes() == before
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_special_files_are_not_sent_as_images(shell, zhipu):
    with pytest.raises(UsageError, match="not an image"):
        shell.run_cell_magic("glm", "--image /proc/self/environ --once", "what is this?")
    assert not zhipu.received


# --- bad options leave the conversation intact ------------------------------------------------
@pytest.mark.parametrize("param", ["model=glm-4", "stream=false", "provider=local",
                                   "seed=1e999", "top_k=NaN", "x=" + "[" * 5000 + "]" * 5000])
def test_bad_params_are_one_line_usage_errors(shell, zhipu, param):
    conv = glm_magic.session().chat("default")
    before = list(conv.messages)
    with pytest.raises(UsageError) as ei:
        shell.run_cell_magic("glm", f"--param '{param}'", "hi")
    assert "\n" not in str(ei.value)
    assert conv.messages == before
    shell.run_cell_magic("glm", "", "still works")
    assert zhipu.received[-1].json["messages"][-1]["content"] == "still works"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["seed", "top_k", "x"]),
       value=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "[1e999]",
                              '{"a": NaN}']))
def test_non_finite_numbers_are_refused(shell, key, value):
    with pytest.raises(UsageError, match="finite"):
        shell.run_cell_magic("glm", f"--dry-run --param '{key}={value}'", "hi")


def test_errors_module_is_intact():
    assert issubclass(errors.ProtocolError, errors.GLMError)


def test_inserted_code_shows_invisible_characters(shell, zhipu, monkeypatch, capsys):
    from glm_magic.testing.zhipu import stream_frames

    inserted: list[str] = []
    monkeypatch.setattr(shell, "set_next_input", lambda text, replace=False: inserted.append(text))
    code = "```python\naccess = 'user' # \u202e } \u2066 if admin: \u2069\u2066\nx\u200b = 1\n```"
    zhipu.push(Reply(events=stream_frames(code, "glm-4-flash")))
    shell.run_cell_magic("glm", "-f code --insert --once", "write code")
    assert inserted and "\\u202e" in inserted[0] and "\\u200b" in inserted[0]
    assert "\u202e" not in inserted[0] and "\u200b" not in inserted[0]
    assert "invisible or control characters" in capsys.readouterr().out
