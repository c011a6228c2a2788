"""Every other dialect against a loopback server that speaks its wire format."""

from __future__ import annotations

import asyncio

import pytest

import glm_magic
from glm_magic import AsyncClient, Client, errors
from glm_magic.testing.loopback import Reply, sse
from tests.servers.others import OpenAIServer, qianfan_error

M = [{"role": "user", "content": "hi"}]
TWO = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
       {"role": "user", "content": "c"}]


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr("glm_magic.core.responses.backoff_delay", lambda attempt, ra=None: 0.0)


# --- OpenAI-compatible -----------------------------------------------------------------------------
def test_openai_sync_stream_and_seed_fields(oai):
    with Client(provider="openai") as c:
        r = c.chat.completions.create(model="glm-4.7", messages=TWO, n=1, presence_penalty=0.5,
                                      frequency_penalty=0.2, stop=["x"], temperature=1.5)
        assert r.text == "echo: c" and r.usage.total_tokens == 12
        body = oai.received[-1].json
        assert body["n"] == 1 and body["presence_penalty"] == 0.5 and body["temperature"] == 1.5
        assert "stream_options" not in body
        s = c.chat.completions.create(model="glm-4.7", messages=M, stream=True)
        assert "".join(ch.text for ch in s) == "echo: hi"
        comp = s.completion()
    assert oai.received[-1].json["stream_options"] == {"include_usage": True}
    assert comp.usage.prompt_tokens == 9 and not comp.usage.estimated
    assert comp.finish_reason == "stop"


def test_openai_stream_without_usage_is_estimated_in_the_ledger(monkeypatch):
    server = OpenAIServer(usage_in_stream=False, crlf=True)
    monkeypatch.setenv("OPENAI_API_KEY", server.key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    try:
        comp = glm_magic.session().complete("count", provider="openai", model="gpt-4o-mini")
    finally:
        server.close()
    assert comp.text == "echo: count" and comp.usage.estimated
    row = glm_magic.usage().iloc[-1]
    assert bool(row["usage_estimated"]) and row["provider"] == "openai"


def test_openai_errors(oai):
    with Client(provider="openai", api_key="sk-wrong-key-123456") as c, \
            pytest.raises(errors.AuthenticationError, match="Incorrect API key") as ei:
        c.chat.completions.create(model="m", messages=M)
    assert ei.value.code == "invalid_api_key" and "sk-wrong-key-123456" not in str(ei.value)
    oai.push(Reply(429, {"error": {"message": "slow down", "type": "rate_limit"}}))
    with Client(provider="openai") as c:
        assert c.chat.completions.create(model="m", messages=M).attempt == 2


def test_presets_and_register_provider(oai, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", oai.key)
    monkeypatch.setenv("DEEPSEEK_BASE_URL", oai.base_url)
    with Client(provider="deepseek") as c:
        r = c.chat.completions.create(messages=M)
    assert oai.received[-1].json["model"] == "deepseek-chat" and r.text == "echo: hi"
    glm_magic.register_provider("mygw", base_url=oai.base_url, key_env="MYGW_KEY",
                                default_model="glm-4.7")
    monkeypatch.setenv("MYGW_KEY", oai.key)
    with Client(provider="mygw") as c:
        assert c.chat.completions.create(messages=M).text == "echo: hi"
    assert oai.received[-1].json["model"] == "glm-4.7"
    with pytest.raises(errors.ConfigurationError):
        glm_magic.register_provider("zhipu", base_url="http://x")
    # the dashscope_compat preset is priced with DashScope's rows
    from glm_magic import pricing
    assert pricing.lookup("dashscope_compat", "qwen-plus").provider == "dashscope"


def test_loopback_openai_servers_need_no_key(monkeypatch):
    server = OpenAIServer()
    server.key = None  # accept only requests without a key

    def answer(rec):
        assert "authorization" not in rec.headers
        return Reply(body={"choices": [{"index": 0, "message": {"content": "ok"},
                                        "finish_reason": "stop"}]})
    server.app = answer
    try:
        with Client(provider="openai", base_url=server.base_url) as c:
            assert c.chat.completions.create(model="m", messages=M).text == "ok"
    finally:
        server.close()


# --- Qianfan ----------------------------------------------------------------------------------------
def test_qianfan_token_endpoint_and_result(qf):
    with Client(provider="qianfan") as c:
        r = c.chat.completions.create(model="ChatGLM3-6B", messages=TWO, temperature=0.5,
                                      top_k=3, penalty_score=1.2, max_tokens=50)
        r2 = c.chat.completions.create(model="ERNIE-3.5-8K", messages=M)
    assert r.text == "echo: c" and r.usage.total_tokens == 10 and r2.text == "echo: hi"
    assert r.extra == {"is_truncated": False, "need_clear_history": False}
    paths = [x.path for x in qf.received]
    assert paths == ["/oauth/2.0/token",
                     "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/ChatGLM3-6B",
                     "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions"]  # token cached
    body = qf.received[1].json
    assert body["max_output_tokens"] == 50 and body["top_k"] == 3 and "model" not in body
    assert qf.received[1].query["access_token"] == [qf.tokens[0]]


def test_qianfan_stream_without_done(qf):
    with Client(provider="qianfan") as c:
        s = c.chat.completions.create(model="ERNIE-Speed-8K", messages=M, stream=True)
        assert "".join(ch.text for ch in s) == "echo: hi"
        comp = s.completion()
    assert comp.finish_reason == "stop" and comp.usage.completion_tokens == 2


def test_qianfan_refreshes_an_expired_token_once(qf):
    with Client(provider="qianfan") as c:
        c.chat.completions.create(messages=M)
        qf.expire_tokens()
        assert c.chat.completions.create(messages=M).text == "echo: hi"
    assert len(qf.tokens) == 2 and len(qf.requests_to("/oauth")) == 2


def test_qianfan_errors_and_retries(qf):
    qf.push(*[])
    with Client(provider="qianfan") as c:
        c.chat.completions.create(messages=M)  # fetch a token first
        qf.push(qianfan_error(18, "Open api qps request limit reached"))
        assert c.chat.completions.create(messages=M).attempt == 2
        qf.push(qianfan_error(336100, "high load"))
        assert c.chat.completions.create(messages=M).attempt == 2
        qf.push(qianfan_error(17, "Open api daily request limit reached"))
        n = len(qf.received)
        with pytest.raises(errors.QuotaExceededError, match="daily"):
            c.chat.completions.create(messages=M)
        assert len(qf.received) == n + 1
        qf.push(qianfan_error(336003, "bad param", status=400))
        with pytest.raises(errors.BadRequestError):
            c.chat.completions.create(messages=M)


def test_qianfan_bad_keys_and_missing_keys(qf, monkeypatch):
    with Client(provider="qianfan", api_key="wrong", secret_key="wrong") as c, \
            pytest.raises(errors.AuthenticationError, match="unknown client id"):
        c.chat.completions.create(messages=M)
    monkeypatch.delenv("QIANFAN_SK")
    with Client(provider="qianfan") as c, pytest.raises(errors.ConfigurationError,
                                                        match="QIANFAN_SK"):
        c.chat.completions.create(messages=M)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
     "odd number"),
    ({"messages": [{"role": "assistant", "content": "a"}]}, "must be 'user'"),
    ({"messages": [{"role": "user", "content": ""}]}, "empty content"),
    ({"messages": [{"role": "user", "content": "x" * 4801}]}, "limit is 4800"),
    ({"messages": M, "temperature": 0}, r"temperature must be in \(0, 1\]"),
    ({"messages": M, "penalty_score": 2.5}, "penalty_score"),
    ({"messages": M, "top_k": 0}, "top_k"),
    ({"messages": M, "stop": ["a"] * 5}, "stop"),
    ({"messages": [{"role": "system", "content": "s"}, *M], "model": "ChatGLM3-6B"},
     "no system prompt"),
])
def test_qianfan_validates_before_sending(qf, kwargs, match):
    with Client(provider="qianfan") as c, pytest.raises(errors.BadRequestError, match=match):
        c.chat.completions.create(**{"model": "ERNIE-3.5-8K", **kwargs})
    assert not qf.requests_to("/rpc/")


def test_qianfan_system_goes_to_system_field_on_ernie(qf):
    with Client(provider="qianfan") as c:
        r = c.chat.completions.create(model="ERNIE-3.5-8K",
                                      messages=[{"role": "system", "content": "be kind"}, *M])
    assert r.text == "echo: hi [system: be kind]"
    assert qf.requests_to("/rpc/")[-1].json["messages"] == M


def test_qianfan_need_clear_history_clears_the_conversation(qf):
    s = glm_magic.session()
    s.complete("first", provider="qianfan", stream=False)
    qf.push(Reply(body={"id": "x", "result": "", "need_clear_history": True, "ban_round": 1,
                        "usage": {"prompt_tokens": 1, "completion_tokens": 0,
                                  "total_tokens": 1}}))
    comp = s.complete("bad", provider="qianfan", stream=False)
    assert comp.extra["need_clear_history"] and comp.extra["ban_round"] == 1
    assert s.chats["default"].messages == []
    assert any("need_clear_history" in n for n in s.drain_notices())


def test_qianfan_in_the_magic_with_multi_turn(qf, shell, capsys):
    shell.run_cell_magic("glm", "-p qianfan -m ChatGLM3-6B", "你好")
    shell.run_cell_magic("glm", "-m qianfan:ChatGLM3-6B", "你叫什么名字")
    assert qf.requests_to("/rpc/")[-1].json["messages"] == [
        {"role": "user", "content": "你好"}, {"role": "assistant", "content": "echo: 你好"},
        {"role": "user", "content": "你叫什么名字"}]
    assert "echo: 你叫什么名字" in capsys.readouterr().out


# --- DashScope ---------------------------------------------------------------------------------------
def test_dashscope_sync_and_stream(ds):
    with Client(provider="dashscope") as c:
        r = c.chat.completions.create(model="qwen-turbo", messages=TWO, seed=1234, top_p=0.8)
        s = c.chat.completions.create(model="qwen-plus", messages=M, stream=True)
        text = "".join(ch.text for ch in s)
        comp = s.completion()
    assert r.text == "echo: c" and r.usage.prompt_tokens == 8 and r.usage.total_tokens == 11
    sent = ds.received[0]
    assert sent.path == "/api/v1/services/aigc/text-generation/generation"
    assert sent.json == {"model": "qwen-turbo", "input": {"messages": TWO},
                         "parameters": {"result_format": "message", "seed": 1234, "top_p": 0.8}}
    assert text == "echo: hi" and comp.finish_reason == "stop"
    assert comp.usage.completion_tokens == 2
    streamed = ds.received[1]
    assert streamed.headers["x-dashscope-sse"] == "enable"
    assert streamed.json["parameters"]["incremental_output"] is True


def test_dashscope_errors(ds):
    with Client(provider="dashscope", api_key="sk-nope-000000") as c, \
            pytest.raises(errors.AuthenticationError) as ei:
        c.chat.completions.create(model="qwen-turbo", messages=M)
    assert ei.value.code == "InvalidApiKey" and ei.value.request_id == "r-401"
    ds.push(Reply(429, {"code": "Throttling.RateQuota", "message": "Requests rate limit "
                        "exceeded", "request_id": "r"}))
    with Client(provider="dashscope") as c:
        assert c.chat.completions.create(model="qwen-turbo", messages=M).attempt == 2
    ds.push(Reply(events=[b'id:1\nevent:result\ndata:{"output":{"choices":[{"message":'
                          b'{"content":"par"},"finish_reason":"null"}]}}\n\n',
                          b'id:2\nevent:error\n:HTTP_STATUS/400\ndata:{"code":'
                          b'"DataInspectionFailed","message":"Output data may contain '
                          b'inappropriate content.","request_id":"r2"}\n\n']))
    with Client(provider="dashscope") as c, pytest.raises(errors.ContentFilterError) as ei:
        list(c.chat.completions.create(model="qwen-turbo", messages=M, stream=True))
    assert ei.value.partial.text == "par"


# --- Zhipu v3 -----------------------------------------------------------------------------------------
def test_v3_invoke_unwraps_quoted_content(v3):
    with Client(provider="zhipu_v3") as c:
        r = c.chat.completions.create(model="chatglm_pro", messages=TWO, temperature=0.9)
    assert r.text == "echo: c\nline two" and r.usage.total_tokens == 10
    assert v3.received[-1].path.endswith("/chatglm_pro/invoke")
    assert v3.received[-1].json == {"prompt": TWO, "temperature": 0.9}


def test_v3_sse_with_meta_usage(v3):
    with Client(provider="zhipu_v3") as c:
        s = c.chat.completions.create(model="chatglm_std", messages=M, stream=True)
        text = "".join(ch.text for ch in s)
        comp = s.completion()
    assert text == "echo: hi\nline two" and comp.usage.completion_tokens == 4
    assert v3.received[-1].path.endswith("/chatglm_std/sse-invoke")
    assert v3.received[-1].json["incremental"] is True


def test_v3_errors_interrupted_and_system_refused(v3):
    with Client(provider="zhipu_v3", api_key="other.keysecretvalue") as c, \
            pytest.raises(errors.AuthenticationError, match="非法"):
        c.chat.completions.create(model="chatglm_std", messages=M)
    v3.push(Reply(events=[b"event:add\ndata:some\n\n", b"event:interrupted\ndata:stop\n\n"]))
    with Client(provider="zhipu_v3") as c:
        with pytest.raises(errors.ContentFilterError) as ei:
            list(c.chat.completions.create(model="chatglm_std", messages=M, stream=True))
        assert ei.value.partial.text == "some"
        with pytest.raises(errors.BadRequestError, match="system"):
            c.chat.completions.create(model="chatglm_std",
                                      messages=[{"role": "system", "content": "x"}, *M])


# --- every provider: async, and through the magic -------------------------------------------------
def test_async_client_for_each_dialect(oai, qf, ds, v3):
    async def main():
        out = []
        for provider, model in (("openai", "m"), ("qianfan", "ERNIE-Speed-8K"),
                                ("dashscope", "qwen-turbo"), ("zhipu_v3", "chatglm_std")):
            async with AsyncClient(provider=provider) as c:
                s = await c.chat.completions.create(model=model, messages=M, stream=True)
                out.append("".join([ch.text async for ch in s]).split("\n")[0])
        return out

    assert asyncio.run(main()) == ["echo: hi"] * 4


def test_models_subcommand_lists_each_provider(shell):
    for p in ("zhipu", "qianfan", "dashscope", "zhipu_v3", "openai", "deepseek"):
        df = shell.run_line_magic("glm", f"models {p}")
        assert len(df) >= 1 and set(df["provider"]) == {p}


def test_sse_terminator_missing_for_openai_is_truncation(oai):
    oai.push(Reply(events=sse({"choices": [{"index": 0, "delta": {"content": "x"}}]},
                              done=False)))
    with Client(provider="openai") as c, pytest.raises(errors.ProtocolError):
        list(c.chat.completions.create(model="m", messages=M, stream=True))
