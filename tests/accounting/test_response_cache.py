"""The response cache over loopback: a re-run sends nothing and answers the same, refresh sends
again, replay answers with no key and no server, a miss is one line, anything that changes the
answer misses, the file never holds a key, and a hostile or broken file is a warning."""

from __future__ import annotations

import gc
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import glm_magic
from glm_magic import Client, errors
from glm_magic.accounting.response_cache import (
    MessageKeys,
    ResponseCache,
    cache_key,
    request_text,
)
from glm_magic.testing.zhipu import API_KEY

M = [{"role": "user", "content": "hello"}]


def chats(server):
    return [r for r in server.received if r.path.endswith("/chat/completions")]


@pytest.fixture
def cache_on(tmp_path):
    s = glm_magic.session()
    s.settings.cache_path = str(tmp_path / "answers.glm-cache.sqlite")
    s.settings.cache = "on"
    return s


def test_a_rerun_sends_nothing_and_answers_the_same(zhipu, cache_on):
    s = cache_on
    first = s.complete("what is 2+2?", once=True, stream=False, temperature=0.9)
    again = s.complete("what is 2+2?", once=True, stream=False, temperature=0.9)
    assert len(chats(zhipu)) == 1
    assert again.text == first.text and again.cached and not first.cached
    streamed = s.complete("what is 2+2?", once=True, stream=True, temperature=0.9)
    assert streamed.text == first.text and streamed.cached and len(chats(zhipu)) == 1
    rows = glm_magic.usage()
    assert rows["status"].tolist() == ["ok", "cached", "cached"]
    assert (rows["cost"].iloc[1:] == 0).all()
    assert rows["saved"].iloc[1] == pytest.approx(rows["cost"].iloc[0])


def test_what_changes_the_answer_misses_and_bookkeeping_does_not(zhipu, cache_on):
    s = cache_on
    s.complete("q", once=True, stream=False, model="glm-4-plus")
    s.complete("q", once=True, stream=False, model="glm-4-plus", request_id="other-id")
    assert len(chats(zhipu)) == 1  # a request id is bookkeeping
    s.complete("q", once=True, stream=False, model="glm-4-flash")
    s.complete("q", once=True, stream=False, model="glm-4-plus", temperature=0.1)
    s.complete("q", once=True, stream=False, model="glm-4-plus", system="be terse")
    assert len(chats(zhipu)) == 4


def test_priced_answers_save_money_and_cost_summary_shows_it(zhipu, cache_on):
    s = cache_on
    for _ in range(3):
        s.complete("price me", once=True, stream=False, model="glm-4-plus")
    summary = glm_magic.cost_summary()
    row = summary.iloc[0]
    assert row["calls"] == 3 and row["cached"] == 2 and row["errors"] == 0
    assert row["saved"] == pytest.approx(2 * row["cost"]) and row["saved"] > 0
    with capture_output() as out:
        stats = glm_magic.session().recorder.response_cache.stats()
    assert stats["entries"] == 1 and stats["session_hits"] == 2
    assert stats["session_saved"]["CNY"] == pytest.approx(row["saved"])
    assert not out.stdout


def test_refresh_sends_again_and_replaces_the_stored_answer(zhipu, cache_on):
    from glm_magic.testing.loopback import Reply
    from glm_magic.testing.zhipu import completion_body

    s = cache_on
    s.complete("news?", once=True, stream=False)
    zhipu.push(Reply(body=completion_body("fresh answer", "glm-4-flash")))
    fresh = s.complete("news?", once=True, stream=False, cache="refresh")
    assert fresh.text == "fresh answer" and not fresh.cached and len(chats(zhipu)) == 2
    assert s.complete("news?", once=True, stream=False).text == "fresh answer"
    assert len(chats(zhipu)) == 2


def test_replay_answers_with_no_key_and_no_server(zhipu, cache_on, monkeypatch):
    s = cache_on
    recorded = s.complete("offline please", once=True, stream=False).text
    monkeypatch.delenv("ZHIPUAI_API_KEY")
    s.settings.cache = "replay"
    s.reset_clients()
    assert s.complete("offline please", once=True, stream=False).text == recorded
    assert len(chats(zhipu)) == 1  # nothing reached the server
    with pytest.raises(errors.CacheMissError, match="not in the response cache") as info:
        s.complete("never recorded", once=True, stream=False)
    assert "\n" not in str(info.value)


def test_replaying_a_committed_file_leaves_it_unchanged(zhipu, tmp_path, shell):
    """A cache file committed with a notebook is only read in replay: the same bytes after
    many hits, no -wal/-shm beside it, so replaying leaves the repository clean."""
    (tmp_path / "repo").mkdir()
    path = tmp_path / "repo" / "analysis.glm-cache.sqlite"
    s = glm_magic.session()
    s.settings.cache_path = str(path)
    s.settings.cache = "on"
    recorded = s.complete("committed", once=True, stream=False).text
    glm_magic.batch(["row a", "row b"], progress=False)
    s.recorder.response_cache.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # as the recording script leaves it
    before = path.read_bytes()
    s.settings.cache_path = str(tmp_path / "elsewhere.sqlite")
    s.settings.cache_path = str(path)  # a fresh cache object, first opened in replay
    s.settings.cache = "replay"
    for _ in range(3):
        assert s.complete("committed", once=True, stream=False).text == recorded
        assert (glm_magic.batch(["row a", "row b"], progress=False)["cost"] == 0).all()
    with pytest.raises(errors.CacheMissError):
        s.complete("never recorded", once=True, stream=False)
    with pytest.raises(UsageError, match="replay only reads"):
        shell.run_line_magic("glm", "cache clear")
    s.recorder.response_cache.close()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["analysis.glm-cache.sqlite"]
    s.settings.cache = "on"  # writing again: the file is reopened for it
    s.complete("a new question", once=True, stream=False)
    assert len(chats(zhipu)) == 4
    assert s.complete("a new question", once=True, stream=False).cached


def test_a_replay_miss_in_a_cell_is_one_line_naming_the_cell(shell, zhipu, cache_on):
    cache_on.settings.cache = "replay"
    with pytest.raises(UsageError) as info:
        shell.run_cell_magic("glm", "", "not cached")
    text = str(info.value)
    assert "\n" not in text and "not in the response cache" in text and "cell" in text
    assert not chats(zhipu)


def test_cells_stream_format_and_remember_cached_answers(shell, zhipu, cache_on):
    """Restart & Run All: the same cells send the same requests (the conversation grows the
    same way), so the second run is answered by the cache, streamed, stored in -o
    variables, and remembered in the conversation."""
    def run_all():
        with capture_output() as out:
            glm_magic.session().chats.clear()  # a restarted kernel
            shell.run_cell_magic("glm", "-o a", "tell me")
            shell.run_cell_magic("glm", "-o b", "and more")
        return out.stdout

    first = run_all()
    again = run_all()
    assert len(chats(zhipu)) == 2
    assert shell.user_ns["a"] == "echo: tell me" and shell.user_ns["b"] == "echo: and more"
    assert "echo: and more" in again and again.count("cached") == 2 and "cached" not in first
    conv = glm_magic.session().chat("default")
    assert [m["content"] for m in conv.messages] == ["tell me", "echo: tell me", "and more",
                                                     "echo: and more"]
    assert shell.user_ns["_glm"].cached


def test_no_cache_and_cache_flags_win_over_the_setting(shell, zhipu, cache_on):
    with capture_output():
        shell.run_cell_magic("glm", "--once", "q1")
        shell.run_cell_magic("glm", "--once --no-cache", "q1")
    assert len(chats(zhipu)) == 2
    cache_on.settings.cache = "off"
    with capture_output():
        shell.run_cell_magic("glm", "--once --cache", "q1")
    assert len(chats(zhipu)) == 2


def test_schema_answers_come_from_the_cache_too(shell, zhipu, cache_on):
    from glm_magic.testing.loopback import Reply
    from glm_magic.testing.zhipu import completion_body

    zhipu.push(Reply(body=completion_body('{"city": "Paris"}', "glm-4-flash")))
    with capture_output():
        shell.run_cell_magic("glm", "--once --schema '{\"city\": \"str\"}' -o c", "capital?")
        shell.run_cell_magic("glm", "--once --schema '{\"city\": \"str\"}' -o d", "capital?")
    assert shell.user_ns["c"] == shell.user_ns["d"] == {"city": "Paris"}
    assert len(chats(zhipu)) == 1


def test_a_bare_client_call_is_cached(zhipu, cache_on):
    with Client("zhipu") as c:
        a = c.chat.completions.create(model="glm-4-flash", messages=M)
        b = c.chat.completions.create(model="glm-4-flash", messages=M)
        streamed = "".join(ch.choices[0].delta.content or "" for ch in
                           c.chat.completions.create(model="glm-4-flash", messages=M,
                                                     stream=True))
    assert a.text == b.text == streamed and b.cached and len(chats(zhipu)) == 1


def test_a_batch_rerun_comes_from_the_cache(zhipu, cache_on):
    rows = [f"item {i}" for i in range(20)]
    first = glm_magic.batch(rows, progress=False)
    sent = len(chats(zhipu))
    again = glm_magic.batch(rows, progress=False)
    assert len(chats(zhipu)) == sent == 20
    assert again["answer"].tolist() == first["answer"].tolist()
    assert (again["status"] == "ok").all() and (again["cost"] == 0).all()
    ledger = glm_magic.usage()
    assert (ledger["status"] == "cached").sum() == 20


HOLE = "\x00glm-magic: the messages go here\x00"


EVERY_CHARACTER = "".join(map(chr, [*range(0xD800), *range(0xE000, 0x110000)]))


@pytest.mark.parametrize("body", [
    {"model": "glm-4-flash"},
    {"model": "glm-4-plus", "temperature": 1e-05, "top_p": 0.7, "max_tokens": 2**70,
     "tools": [{"type": "function", "function": {"name": "f", "parameters": {"b": 1, "a": [2]}}}],
     "stream": True, "request_id": "bookkeeping"},
    {"model": "m", "user_id": HOLE},  # a value that looks like the placeholder
    {"model": "m", "extra": {"when": time.struct_time((2026, 1, 1, 0, 0, 0, 0, 1, 0))}},
    {"model": "模型", "thinking": {"type": "enabled"}, "stop": ["\ud800", "。"]},
])
@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": "hello"}],
    [{"role": "system", "content": "be terse 简洁"}, {"role": "user", "content": "\ud83d x"}],
    [{"role": "user", "content": [{"type": "text", "text": HOLE}]}],
    [{"role": "user", "content": "\x00\x1f\x7f\u2028\ufeff \\ \" \t\n", "name": "Ünï"}],
    [{"role": "user", "content": EVERY_CHARACTER}],
    [{"content": "keys out of order", "role": "user", "Role": "x", "é": "y"}],
])
def test_the_keys_of_a_batch_are_the_keys_of_its_whole_requests(body, messages):
    keys = MessageKeys("zhipu", "https://open.bigmodel.cn/api/paas/v4", body)
    whole = request_text("zhipu", "https://open.bigmodel.cn/api/paas/v4",
                         {**body, "messages": messages})
    assert keys.key(messages) == cache_key(whole)
    assert keys.key([{"role": "user", "content": "other"}]) != cache_key(whole)


def test_a_batch_rerun_with_a_system_prompt_and_parameters_is_cached(zhipu, cache_on):
    rows = [f"item {i}" for i in range(30)]
    kw = {"system": "answer in one word", "temperature": 0.3, "max_tokens": 50,
          "model": "glm-4-plus", "progress": False}
    first = glm_magic.batch(rows, **kw)
    again = glm_magic.batch(rows, **kw)
    assert len(chats(zhipu)) == 30 and gc.isenabled()
    assert again["answer"].tolist() == first["answer"].tolist()
    assert again["prompt_tokens"].tolist() == first["prompt_tokens"].tolist()
    changed = glm_magic.batch(rows[:3], **{**kw, "temperature": 0.4})
    assert len(chats(zhipu)) == 33 and (changed["cost"] > 0).all()
    ledger = glm_magic.usage()
    cached = ledger[ledger["status"] == "cached"]
    assert len(cached) == 30 and (cached["cost"] == 0).all()
    assert cached["saved"].sum() == pytest.approx(first["cost"].sum())
    assert cached["call_id"].is_unique


def test_a_batch_replay_miss_names_the_row(zhipu, cache_on):
    glm_magic.batch(["a", "b"], progress=False)
    cache_on.settings.cache = "replay"
    with pytest.raises(errors.CacheMissError, match=r"row 2: .*not in the response cache"):
        glm_magic.batch(["a", "b", "c"], progress=False)
    assert len(chats(zhipu)) == 2


def test_the_file_never_holds_the_key_and_secrets_are_not_stored(zhipu, cache_on, tmp_path):
    cache_on.complete("hello", once=True, stream=False)
    cache_on.complete(f"my key is {API_KEY}", once=True, stream=False)
    cache_on.complete(f"my key is {API_KEY}", once=True, stream=False)
    raw = Path(cache_on.recorder.response_cache.path).read_bytes()
    assert API_KEY.encode() not in raw and API_KEY.split(".")[1].encode() not in raw
    assert len(chats(zhipu)) == 3  # a request carrying a secret is never cached


def test_a_tampered_entry_is_ignored(zhipu, cache_on):
    s = cache_on
    s.complete("swap me", once=True, stream=False)
    s.complete("other", once=True, stream=False)
    path = s.recorder.response_cache.path
    s.recorder.response_cache.close()
    with sqlite3.connect(path) as db:  # put "other"'s answer under "swap me"'s key
        rows = dict(db.execute("SELECT request, answer FROM responses").fetchall())
        swap, other = sorted(rows, key=lambda r: "swap me" not in r)
        db.execute("UPDATE responses SET answer = ? WHERE request = ?", (rows[other], swap))
        db.execute("UPDATE responses SET request = ? WHERE request = ?",
                   (swap.replace("swap me", "changed"), swap))
    assert s.complete("swap me", once=True, stream=False).text == "echo: swap me"
    assert len(chats(zhipu)) == 3  # the entry whose request does not hash to its key: ignored


@pytest.mark.parametrize("damage", ["truncated", "not sqlite", "wrong schema", "deep json"])
def test_a_broken_or_hostile_cache_file_is_a_warning_and_an_empty_cache(zhipu, tmp_path,
                                                                       damage, capfd):
    s = glm_magic.session()
    path = tmp_path / "hostile.glm-cache.sqlite"
    s.settings.cache_path = str(path)
    s.settings.cache = "on"
    s.complete("x", once=True, stream=False)
    s.recorder.response_cache.close()
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:1500])
    elif damage == "not sqlite":
        path.write_bytes(b"\x00hello" * 1000)
    elif damage == "wrong schema":
        path.unlink()
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE responses (key TEXT, junk TEXT)")
    else:
        text = request_text("zhipu", s.client("zhipu").provider.base_url,
                            {"model": "glm-4-flash", "messages": [{"role": "user",
                                                                   "content": "x"}]})
        deep = '{"choices": ' + "[" * 5000 + "]" * 5000 + "}"
        with sqlite3.connect(path) as db:
            db.execute("UPDATE responses SET answer = ? WHERE key = ?", (deep, cache_key(text)))
    for name in ("-wal", "-shm"):
        Path(str(path) + name).unlink(missing_ok=True)
    s.settings.cache_path = str(tmp_path / "elsewhere.sqlite")
    s.settings.cache_path = str(path)
    answer = s.complete("x", once=True, stream=False)
    assert answer.text == "echo: x" and not answer.cached
    err = capfd.readouterr().err
    if damage != "deep json":
        assert "response cache" in err and "cannot be used" in err and err.count("\n") <= 2


def test_two_processes_share_one_cache_file(tmp_path):
    path = tmp_path / "shared.sqlite"
    code = (
        "import sys\n"
        "from glm_magic.accounting.response_cache import ResponseCache, cache_key\n"
        "c = ResponseCache(sys.argv[1])\n"
        "for i in range(200):\n"
        "    k = f'{sys.argv[2]}-{i}'\n"
        "    c.put(cache_key(k), k, {'choices': [{'message': {'content': k}}]}, 0.1, 'CNY')\n"
        "c.close()\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), name])
             for name in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 400


def test_kill_9_while_writing_loses_at_most_an_entry(tmp_path):
    path = tmp_path / "killed.sqlite"
    code = (
        "import sys\n"
        "from glm_magic.accounting.response_cache import ResponseCache, cache_key\n"
        "c = ResponseCache(sys.argv[1])\n"
        "i = 0\n"
        "while True:\n"
        "    t = f'req {i}'\n"
        "    c.put(cache_key(t), t, {'choices': [{'message': {'content': 'x' * 5000}}]},"
        " 0.1, 'CNY')\n"
        "    i += 1\n"
        "    if i == 50: print('ready', flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.2)
    proc.kill()
    proc.wait()
    cache = ResponseCache(path)
    stats = cache.stats()
    assert stats["entries"] >= 50 and stats["problem"] is None
    assert cache.get(cache_key("req 10")) is not None


def test_cache_subcommands(shell, zhipu, tmp_path, monkeypatch):
    with capture_output() as out:
        shell.run_line_magic("glm", "cache here analysis")
    path = tmp_path / "analysis.glm-cache.sqlite"
    assert str(path) in out.stdout and glm_magic.session().settings.cache == "on"
    with capture_output():
        shell.run_cell_magic("glm", "--once -m glm-4-plus", "q")
        shell.run_cell_magic("glm", "--once -m glm-4-plus", "q")
    stats = shell.run_line_magic("glm", "cache")
    assert stats["entries"] == 1 and stats["hits"] == 1 and stats["session_misses"] == 1
    assert "entries: 1" in repr(stats) and "saved: ¥" in repr(stats)
    assert "\x1b" not in repr(stats)
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "nb" / "report.ipynb"))
    with capture_output():
        shell.run_line_magic("glm", "cache here")
    assert glm_magic.session().recorder.response_cache.path == \
        str(tmp_path / "nb" / "report.glm-cache.sqlite")
    shell.run_line_magic("glm", f"cache here {path.name}")
    with capture_output() as out:
        shell.run_line_magic("glm", "cache clear --older-than 30d")
    assert "0 answer(s) removed" in out.stdout
    with capture_output() as out:
        shell.run_line_magic("glm", "cache clear")
    assert "1 answer(s) removed" in out.stdout
    for bad in ("cache clear --older-than soon", "cache maybe", "cache on extra"):
        with pytest.raises(UsageError) as info:
            shell.run_line_magic("glm", bad)
        assert "\n" not in str(info.value)
    with capture_output():
        shell.run_line_magic("glm", "cache replay")
    assert glm_magic.session().settings.cache == "replay"


def test_a_bad_cache_setting_is_refused_in_one_line(shell, capsys):
    shell.run_line_magic("config", "GLMSettings.cache = 'sometimes'")
    assert glm_magic.session().settings.cache == "off"
    err = capsys.readouterr()
    assert "cache must be one of" in err.out + err.err


def test_the_size_cap_evicts_the_least_recently_used(tmp_path):
    cache = ResponseCache(tmp_path / "small.sqlite", max_mb=1.0)
    big = "y" * 200_000
    for i in range(12):
        text = f"req {i}"
        cache.put(cache_key(text), text, {"choices": [{"message": {"content": big}}]}, None,
                  None)
        time.sleep(0.002)
    for i in range(12, 70):  # eviction runs every 64 stores
        text = f"req {i}"
        cache.put(cache_key(text), text, {"choices": []}, None, None)
    stats = cache.stats()
    assert stats["bytes"] <= 1024 * 1024
    assert cache.get(cache_key("req 0")) is None and cache.get(cache_key("req 69")) is not None
    assert json.loads(json.dumps(stats))  # plain data: `x = %glm cache` is usable


def test_hit_counts_of_a_bulk_reread_are_written_later_but_never_lost(tmp_path):
    """A re-run reading thousands of entries does not rewrite each one's counters as it goes
    (that was a fifth of its time); stats, close and the end of the process write them."""
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    keys = []
    for i in range(300):
        text = request_text("zhipu", "http://x", {"model": "m", "messages": [{"n": i}]})
        keys.append(cache_key(text))
        cache.put(keys[-1], text, {"choices": [{"message": {"content": str(i)}}]}, 0.01, "CNY")
    cache.get_many(keys)
    on_disk = sqlite3.connect(path).execute("SELECT SUM(hits) FROM responses").fetchone()[0]
    assert on_disk == 0  # not yet: the counts wait
    assert cache.stats()["hits"] == 300  # stats writes them first
    cache.get_many(keys[:10])
    cache.close()
    assert sqlite3.connect(path).execute("SELECT SUM(hits) FROM responses").fetchone()[0] == 310
    script = (f"from glm_magic.accounting.response_cache import ResponseCache\n"
              f"c = ResponseCache({str(path)!r}); c.get_many({keys[:5]!r})\n")
    subprocess.run([sys.executable, "-c", script], check=True)  # exits without close()
    assert sqlite3.connect(path).execute("SELECT SUM(hits) FROM responses").fetchone()[0] == 315


def test_a_remembered_answer_gives_way_to_another_kernels_newer_one(tmp_path):
    """A re-run cell's answer is served from memory only while no other connection changed the
    file: a colleague's `refresh` in a second kernel is seen on the next read."""
    path = tmp_path / "shared.sqlite"
    text = request_text("zhipu", "http://x", {"model": "m", "messages": [{"n": 1}]})
    key = cache_key(text)
    first, second = ResponseCache(path), ResponseCache(path)
    first.put(key, text, {"choices": [{"message": {"content": "old"}}]}, 0.5, "CNY")
    for _ in range(3):  # read, then served from memory
        entry = first.get(key)
        assert entry.answer["choices"][0]["message"]["content"] == "old"
    entry.answer["choices"][0]["message"]["content"] = "changed by the caller"
    again = first.get(key)
    assert again.answer["choices"][0]["message"]["content"] == "old"  # each caller's own copy
    assert first.hits == 4 and first.saved == {"CNY": 2.0}  # memory hits are counted
    second.put(key, text, {"choices": [{"message": {"content": "new"}}]}, 0.5, "CNY")
    assert first.get(key).answer["choices"][0]["message"]["content"] == "new"
    second.clear()
    assert first.get(key) is None
    first.close()
    second.close()
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 0


def test_a_remembered_answer_is_forgotten_when_this_kernel_replaces_or_clears_it(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    text = request_text("zhipu", "http://x", {"model": "m", "messages": [{"n": 2}]})
    key = cache_key(text)
    cache.put(key, text, {"choices": [{"message": {"content": "a"}}]}, None, None)
    assert cache.get(key).answer["choices"][0]["message"]["content"] == "a"
    cache.put(key, text, {"choices": [{"message": {"content": "b"}}]}, None, None)
    assert cache.get(key).answer["choices"][0]["message"]["content"] == "b"
    cache.clear()
    assert cache.get(key) is None


def test_the_fast_encoding_of_text_messages_is_byte_for_byte_json_or_declines():
    from glm_magic._json import text_dicts_json

    canonical = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    text = [{"role": "user", "content": EVERY_CHARACTER, "a": "\x00"}]
    assert text_dicts_json(text) == canonical.encode(text).encode("utf-8")
    for other in ([{"role": "user", "content": "\ud800"}], [{"n": 1.5}], [{"c": [{"t": "x"}]}],
                  ["not a dict"], [{1: "int key"}]):
        assert text_dicts_json(other) is None
