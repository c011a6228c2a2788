"""Nothing lost: the ledger under kill -9 and bad paths; parsers and loaders under fuzzing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from glm_magic.client import _StreamCore
from glm_magic.conversation import Conversation
from glm_magic.ledger import Ledger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

import glm_magic
from glm_magic import errors, pricing
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import completion_body, stream_frames

ROOT = Path(__file__).resolve().parents[2]

BATCH = """
import glm_magic
glm_magic.batch([f"row {i}" for i in range(500)], concurrency=4, progress=False)
"""


def test_kill_9_during_a_batch_keeps_completed_calls(zhipu, tmp_path):
    lock = threading.Lock()
    answered = {"n": 0}

    def app(rec):
        time.sleep(0.02)
        with lock:
            answered["n"] += 1
        return Reply(body=completion_body("ok", "glm-4-flash"))

    original = zhipu.app
    zhipu.app = app
    ledger = tmp_path / "killed.sqlite"
    env = {**os.environ, "GLM_MAGIC_LEDGER": str(ledger)}
    proc = subprocess.Popen([sys.executable, "-c", BATCH], env=env, cwd=ROOT)
    try:
        deadline = time.time() + 60
        while answered["n"] < 40 and time.time() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        with lock:
            sent = answered["n"]
    finally:
        zhipu.app = original
    rows = Ledger(ledger).rows()
    assert sent >= 40
    # every answer the client had fully received is recorded; at most the 4 in flight are not
    assert len(rows) >= sent - 4 - 4
    assert {r["status"] for r in rows} == {"ok"} and {r["source"] for r in rows} == {"batch"}


def test_unusable_ledger_paths_fall_back(zhipu, tmp_path, monkeypatch, capsys):
    for bad in ("/dev/null/inside/ledger.sqlite", str(tmp_path / "garbage.sqlite")):
        if bad.endswith("garbage.sqlite"):
            Path(bad).write_bytes(b"\x00not a database" * 64)
        from glm_magic import sessions

        sessions._reset_session()
        monkeypatch.setenv("GLM_MAGIC_LEDGER", bad)
        comp = glm_magic.session().complete("still works", stream=False)
        assert comp.text == "echo: still works"
        assert len(glm_magic.usage()) == 1
        err = capsys.readouterr().err
        assert err.count("cannot use the ledger") == 1 and "in memory" in err


# --- every provider's stream parser: any split equals the whole; random bytes are safe -----
def _provider(name):
    from glm_magic.providers import make_provider

    return make_provider(name, api_key="0123456789.abcdefghijklmnop", secret_key="sk")


STREAMS = {
    "zhipu": b"".join(stream_frames("alpha beta 中文 \u2028 gamma", "glm-4")),
    "openai": b"".join(stream_frames("one two three", "gpt", crlf=True)).replace(
        b"data: [DONE]", b": ping\r\n\r\ndata: [DONE]"),
    "dashscope": ("id:1\nevent:result\n:HTTP_STATUS/200\ndata:{\"output\":{\"choices\":[{\"message"
                  "\":{\"content\":\"你好 \"},\"finish_reason\":\"null\"}]},\"usage\":{\"input_tokens"
                  "\":3,\"output_tokens\":1}}\n\nid:2\nevent:result\n:HTTP_STATUS/200\ndata:{\"output"
                  "\":{\"choices\":[{\"message\":{\"content\":\"world\"},\"finish_reason\":\"stop\"}]},"
                  "\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}\n\n").encode(),
    "qianfan": ("data: {\"id\":\"a\",\"result\":\"你\",\"is_end\":false,\"usage\":{\"prompt_tokens\":1,"
                "\"completion_tokens\":1,\"total_tokens\":2}}\n\ndata: {\"id\":\"a\",\"result\":\"好\","
                "\"is_end\":true,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,"
                "\"total_tokens\":3}}\n\n").encode(),
    "zhipu_v3": (b"event:add\nid:1\ndata:line one\ndata:line two\n\nevent:add\nid:1\ndata: more\n\n"
                 b"event:finish\nid:1\ndata:\nmeta:{\"usage\":{\"prompt_tokens\":2,"
                 b"\"completion_tokens\":3,\"total_tokens\":5}}\n\n"),
}


def _parse(provider, parts):
    core = _StreamCore(provider, time.perf_counter(), 1)
    chunks = []
    try:
        for p in parts:
            chunks.extend(core.feed(p))
            if core.finished:
                break
        else:
            chunks.extend(core.feed(b"", final=True))
        core.end()
        outcome = "ok"
    except errors.GLMError as exc:
        outcome = type(exc).__name__
    comp = core.completion()
    return outcome, comp.text, comp.finish_reason, comp.usage


@pytest.mark.parametrize("name", sorted(STREAMS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10))
def test_stream_parsers_fuzz(name, cuts):
    data = STREAMS[name]
    provider = _provider(name)
    whole = _parse(provider, [data])
    assert whole[0] == "ok" and whole[1]
    points = sorted({c % (len(data) + 1) for c in cuts})
    parts, prev = [], 0
    for c in points + [len(data)]:
        parts.append(data[prev:c])
        prev = c
    assert _parse(provider, parts) == whole


@pytest.mark.parametrize("name", sorted(STREAMS))
@settings(max_examples=60, deadline=None)
@given(noise=st.binary(max_size=400))
def test_random_bytes_raise_only_our_errors(name, noise):
    provider = _provider(name)
    _parse(provider, [noise[:100], noise[100:]])  # any exception but GLMError fails the test


# --- loaders ----------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.text(max_size=200), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12).map(lambda v: __import__("json").dumps(v))))
def test_conversation_files_fuzz(text):
    try:
        conv = Conversation.from_json(text)
    except ValueError:
        return
    assert all(m["role"] in ("system", "user", "assistant", "tool") for m in conv.messages)


def test_load_of_a_bad_file_leaves_no_state(shell, tmp_path):
    f = tmp_path / "bad.json"
    for content in ("{not json", '{"messages": 5}', '[{"role": "user", "content": 3}]'):
        f.write_text(content)
        with pytest.raises(UsageError):
            shell.run_line_magic("glm", f"load {f}")
        assert glm_magic.session().chats == {}


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_price_files_fuzz(text, tmp_path_factory):
    f = tmp_path_factory.mktemp("prices") / "p.toml"
    f.write_text("[[price]]\n" + text)
    try:
        pricing.load_price_file(f)
    except ValueError as exc:
        assert "cannot read price file" in str(exc)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.sampled_from(["choices", "delta", "content", "usage", "output", "result", "error",
                         "code", "is_end", "finish_reason", "message", "index", "x"]), c,
        max_size=4),
    max_leaves=10)


@pytest.mark.parametrize("name", sorted(STREAMS))
@settings(max_examples=80, deadline=None)
@given(value=JSON_VALUES)
def test_valid_json_of_any_shape_raises_only_our_errors(name, value):
    import json

    frame = f"data: {json.dumps(value)}\n\n".encode()
    _parse(_provider(name), [frame, frame])
