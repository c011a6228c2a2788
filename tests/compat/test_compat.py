"""Each seed's examples run as written with only the import changed (glm_magic.compat), against
loopback servers that speak the vendor's wire format; the fields the seeds read are checked,
and every call lands in the ledger."""

from __future__ import annotations

import json
import random
from http import HTTPStatus

import pytest
from glm_magic.sessions import session

import glm_magic
from glm_magic.testing.zhipu import API_KEY

CHAT = [
    {"role": "user", "content": "你好"},
    {"role": "assistant", "content": "我是人工智能助手"},
    {"role": "user", "content": "你叫什么名字"},
    {"role": "assistant", "content": "我叫chatGLM"},
    {"role": "user", "content": "你都可以做些什么事"},
]


@pytest.fixture
def zhipuai(v3):
    from glm_magic.compat import zhipuai_v1

    zhipuai_v1.api_key, zhipuai_v1.conversation = None, None
    yield zhipuai_v1
    zhipuai_v1.api_key, zhipuai_v1.conversation = None, None


@pytest.fixture
def dashscope(ds):
    from glm_magic.compat import dashscope as module

    module.api_key, module.conversation = None, None
    yield module
    module.api_key, module.conversation = None, None


def compat_rows():
    df = glm_magic.usage()
    return df[df["source"] == "compat"]


# --- seed 002: zhipuai 1.x on the v3 model API ---------------------------------------------------
def test_seed_002_invoke_returns_the_sdk_envelope(zhipuai, v3):
    zhipuai.api_key = API_KEY  # the seed: zhipuai.api_key = "your api key"
    response = zhipuai.model_api.invoke(model="chatglm_pro", prompt=CHAT)
    assert response["code"] == 200 and response["success"] is True
    assert response["msg"] == "操作成功"
    data = response["data"]
    assert data["task_status"] == "SUCCESS" and data["request_id"]
    content = data["choices"][0]["content"]
    assert data["choices"][0]["role"] == "assistant"
    assert content.startswith('"') and content.endswith('"') and "\\n" in content  # as sent
    assert data["usage"] == {"total_tokens": 10}
    assert v3.received[-1].json["prompt"] == CHAT
    row = compat_rows().iloc[-1]
    assert row["provider"] == "zhipu_v3" and row["model"] == "chatglm_pro"
    assert row["total_tokens"] == 10 and row["cost_status"] == "estimated" and row["cost"] > 0


def test_seed_002_async_invoke_then_query(zhipuai, v3):
    response = zhipuai.model_api.async_invoke(model="chatglm_pro", prompt=CHAT)
    assert response["code"] == 200 and response["data"]["task_status"] == "PROCESSING"
    task_id = response["data"]["task_id"]
    first = zhipuai.model_api.query_async_invoke_result(task_id)
    assert first["data"]["task_status"] == "PROCESSING"
    assert len(compat_rows()) == 0  # nothing to record yet
    done = zhipuai.model_api.query_async_invoke_result(task_id)
    assert done["data"]["task_status"] == "SUCCESS" and done["data"]["task_id"] == task_id
    assert "echo: 你都可以做些什么事" in done["data"]["choices"][0]["content"]
    again = zhipuai.model_api.query_async_invoke_result(task_id)
    assert again["data"]["task_status"] == "SUCCESS"
    rows = compat_rows()
    assert len(rows) == 1 and rows.iloc[0]["total_tokens"] == 10  # recorded once
    assert any(r.path.endswith(f"/-/async-invoke/{task_id}") for r in v3.received)


def test_seed_002_sse_loop_prints_as_the_seed_shows(zhipuai, v3, capsys):
    response = zhipuai.model_api.sse_invoke(model="chatglm_pro", prompt=CHAT, temperature=0.95,
                                           top_p=0.7, incremental=True)
    for event in response.events():  # the seed's loop, verbatim
        if event.event == "add":  # noqa: SIM114
            print(event.data)
        elif event.event == "error" or event.event == "interrupted":
            print(event.data)
        elif event.event == "finish":
            print(event.data)
            print(event.meta)
        else:
            print(event.data)
    lines = capsys.readouterr().out.splitlines()
    meta = json.loads(lines[-1])
    assert meta["task_status"] == "SUCCESS" and meta["usage"]["total_tokens"] == 10
    assert "".join(lines[:-2]).replace(" ", "") == "echo:你都可以做些什么事linetwo"
    sent = v3.received[-1]
    assert sent.path.endswith("/chatglm_pro/sse-invoke") and sent.json["top_p"] == 0.7
    assert compat_rows().iloc[-1]["status"] == "ok"


def test_seed_002_cumulative_events_when_not_incremental(zhipuai):
    events = list(zhipuai.model_api.sse_invoke(model="chatglm_std", prompt=CHAT[:1],
                                               incremental=False).events())
    adds = [e.data for e in events if e.event == "add"]
    assert all(b.startswith(a) for a, b in zip(adds, adds[1:], strict=False))
    assert adds[-1] == "echo: 你好\nline two"


@pytest.mark.parametrize("end", ["error", "interrupted"])
def test_seed_002_error_events_come_after_every_piece(zhipuai, v3, end):
    v3.stream_end = end
    events = list(zhipuai.model_api.sse_invoke(model="chatglm_pro", prompt=CHAT[:1]).events())
    kinds = [e.event for e in events]
    assert kinds[-1] == end and set(kinds[:-1]) == {"add"}
    assert "".join(e.data for e in events[:-1]) == "echo: 你好\nline two"
    assert events[-1].data in ("服务内部错误", "输出包含敏感内容")
    row = compat_rows().iloc[-1]
    assert row["status"] == ("filtered" if end == "interrupted" else "error")


def test_seed_002_business_error_is_an_envelope(zhipuai):
    zhipuai.api_key = "wrongid.wrongsecret"
    response = zhipuai.model_api.invoke(model="chatglm_pro", prompt=CHAT)
    assert response["success"] is False and response["code"] == 1002
    assert "非法" in response["msg"]
    assert "wrongsecret" not in json.dumps(response, ensure_ascii=False)


def test_seed_002_budget_and_shared_conversation(zhipuai, v3, shell):
    zhipuai.conversation = "legacy"
    zhipuai.model_api.invoke(model="chatglm_pro", prompt=CHAT)
    conv = session().chat("legacy")
    assert [m["role"] for m in conv.messages][-2:] == ["user", "assistant"]
    assert conv.messages[-1]["content"] == "echo: 你都可以做些什么事\nline two"  # unquoted
    shell.run_cell_magic("glm", "--chat legacy -m zhipu_v3:chatglm_pro --no-stream", "继续")
    assert [m["content"] for m in v3.received[-1].json["prompt"]][-3:] == [
        "你都可以做些什么事", "echo: 你都可以做些什么事\nline two", "继续"]
    session().set_budget(0.00001, "CNY")  # the first call already spent more
    with pytest.raises(glm_magic.BudgetExceededError):
        zhipuai.model_api.invoke(model="chatglm_pro", prompt=CHAT)


# --- seed 001: dashscope Generation.call ---------------------------------------------------------
def test_seed_001_call_with_messages(dashscope, ds, capsys):
    from glm_magic.compat.dashscope import Generation

    messages = [{'role': 'system', 'content': 'You are a helpful assistant.'},
                {'role': 'user', 'content': '如何做西红柿炒鸡蛋？'}]
    response = dashscope.Generation.call(
        dashscope.Generation.Models.qwen_turbo,
        messages=messages,
        seed=random.randint(1, 10000),
        result_format='message',
    )
    if response.status_code == HTTPStatus.OK:
        print(response)
    else:
        print('Request id: %s, Status code: %s, error code: %s, error message: %s' % (  # noqa: UP031
            response.request_id, response.status_code, response.code, response.message))
    shown = json.loads(capsys.readouterr().out)
    assert shown["status_code"] == 200 and shown["request_id"].startswith("ds-")
    assert shown["output"]["choices"][0]["message"]["content"] == "echo: 如何做西红柿炒鸡蛋？"
    assert response.output.choices[0]['message']['role'] == "assistant"
    assert response.usage.input_tokens == 8 and response.usage.output_tokens == 3
    sent = ds.received[-1].json
    assert sent["model"] == "qwen-turbo" and sent["input"]["messages"] == messages
    assert 1 <= sent["parameters"]["seed"] <= 10000
    assert Generation is dashscope.Generation
    assert compat_rows().iloc[-1]["model"] == "qwen-turbo"


def test_seed_001_call_with_prompt_sends_input_prompt(dashscope, ds, capsys):
    response = dashscope.Generation.call(model=dashscope.Generation.Models.qwen_turbo,
                                         prompt="用萝卜、土豆、茄子做饭，给我个菜谱")
    if response.status_code == HTTPStatus.OK:
        print(response.output)
        print(response.usage)
    out = capsys.readouterr().out
    assert ds.received[-1].json["input"] == {"prompt": "用萝卜、土豆、茄子做饭，给我个菜谱"}
    assert response.output.text == "echo: 用萝卜、土豆、茄子做饭，给我个菜谱"
    assert response.output.finish_reason == "stop"
    assert '"input_tokens": 8' in out and "echo: 用萝卜" in out


def test_dashscope_sends_no_result_format_unless_asked_and_streams_finish_null(dashscope, ds):
    """As the SDK: no `result_format` when the caller set none (the service's default then
    applies), and streamed events carry `finish_reason == "null"` until the last."""
    response = dashscope.Generation.call("qwen-turbo", prompt="a b c")
    assert "result_format" not in ds.received[-1].json["parameters"]
    assert response.output.text == "echo: a b c"
    events = list(dashscope.Generation.call("qwen-turbo", prompt="a b c", stream=True))
    assert "result_format" not in ds.received[-1].json["parameters"]
    assert [e.output.finish_reason for e in events] == ["null"] * (len(events) - 1) + ["stop"]
    assert events[-1].output.text == "echo: a b c"
    dashscope.Generation.call("qwen-turbo", prompt="x", result_format="message")
    assert ds.received[-1].json["parameters"]["result_format"] == "message"


def test_seed_001_conversation_loop_with_role(dashscope, ds):
    from glm_magic.compat.dashscope import Generation, Role

    messages = [{'role': Role.SYSTEM, 'content': 'You are a helpful assistant.'}]
    for prompt in ("你好", "再说一遍"):  # the seed reads these with input()
        messages.append({'role': Role.USER, 'content': prompt})
        response = Generation.call(Generation.Models.qwen_turbo, messages=messages,
                                   result_format='message')
        assert response.status_code == HTTPStatus.OK
        messages.append({'role': response.output.choices[0]['message']['role'],
                         'content': response.output.choices[0]['message']['content']})
    assert len(ds.received[-1].json["input"]["messages"]) == 4
    assert messages[-1] == {"role": "assistant", "content": "echo: 再说一遍"}
    assert len(compat_rows()) == 2


def test_seed_001_bad_key_is_a_response_not_an_exception(dashscope):
    dashscope.api_key = "sk-wrong-key-000000"
    response = dashscope.Generation.call("qwen-turbo", prompt="你好")
    assert response.status_code == 401 and response.code == "InvalidApiKey"
    assert response.message and response.request_id == "r-401"
    assert response.output is None and "sk-wrong" not in str(response)


@pytest.mark.parametrize("incremental", [False, True])
def test_seed_001_streams_grow_or_give_deltas(dashscope, incremental):
    pieces = [r.output.choices[0]["message"]["content"] for r in dashscope.Generation.call(
        "qwen-turbo", messages=[{"role": "user", "content": "a b c"}], result_format="message",
        stream=True, incremental_output=incremental)]
    if incremental:
        assert "".join(pieces) == "echo: a b c"
    else:
        assert pieces[-1] == "echo: a b c" and all(b.startswith(a) for a, b in
                                                   zip(pieces, pieces[1:], strict=False))
    assert compat_rows().iloc[-1]["completion_tokens"] > 0


# --- seed 004: qianfan ChatCompletion().do --------------------------------------------------------
@pytest.fixture
def iam(qf, monkeypatch):
    """The seed's recommended way in: IAM keys only (every request signed)."""
    monkeypatch.delenv("QIANFAN_AK")
    monkeypatch.delenv("QIANFAN_SK")
    monkeypatch.setenv("QIANFAN_ACCESS_KEY", qf.iam_ak)
    monkeypatch.setenv("QIANFAN_SECRET_KEY", qf.iam_sk)
    return qf


def test_seed_004_endpoint_with_iam_signing(iam, capsys):
    from glm_magic.compat import qianfan

    chat_comp = qianfan.ChatCompletion()
    resp = chat_comp.do(endpoint="your_custom_endpoint", messages=[{
        "role": "user",
        "content": "你好"
    }])
    print(resp["body"])
    assert resp["body"]["result"] == "echo: 你好" and resp.code == 200
    assert "echo: 你好" in capsys.readouterr().out
    sent = iam.received[-1]
    assert sent.path.endswith("/wenxinworkshop/chat/your_custom_endpoint")
    assert "access_token" not in sent.query and iam.signed == 1
    assert sent.headers["authorization"].startswith(f"bce-auth-v1/{iam.iam_ak}/")
    assert iam.iam_sk not in json.dumps(sent.headers)
    assert not iam.requests_to("/oauth/2.0/token")


def test_seed_004_multi_turn_and_stream(iam, capsys):
    from glm_magic.compat import qianfan

    chat_comp = qianfan.ChatCompletion()
    resp = chat_comp.do(endpoint="your_custom_endpoint", messages=[
        {"role": "user", "content": "你好"},
        {"role": "assistant", "content": "你好,请问有什么我可以帮助你的吗?"},
        {"role": "user", "content": "我在北京,周末可以去哪里玩?"},
    ])
    assert resp["body"]["result"] == "echo: 我在北京,周末可以去哪里玩?"
    resp = chat_comp.do(endpoint="your_custom_endpoint", messages=[{
        "role": "user", "content": "你好"}], stream=True)
    bodies = []
    for r in resp:
        print(r["body"])
        bodies.append(r["body"])
    assert "".join(b["result"] for b in bodies) == "echo: 你好"
    assert bodies[-1]["is_end"] is True and bodies[-1]["usage"]["total_tokens"] == 10
    assert iam.signed == 2 and len(compat_rows()) == 2


def test_seed_004_client_side_options_are_not_sent(qf):
    from glm_magic.compat import qianfan

    resp = qianfan.ChatCompletion(ak=qf.ak, sk=qf.sk).do(
        model="ERNIE-Speed-8K", messages=[{"role": "user", "content": "hi"}], temperature=0.5,
        penalty_score=1.2, retry_count=2, request_timeout=30, backoff_factor=0.01)
    assert resp["body"]["result"] == "echo: hi"
    body = qf.received[-1].json
    assert body["temperature"] == 0.5 and body["penalty_score"] == 1.2
    assert not {"retry_count", "request_timeout", "backoff_factor"} & set(body)
    assert qf.received[-1].path.endswith("/chat/ernie_speed")


def test_seed_004_sdk_exception_names_still_catch(qf, monkeypatch):
    from glm_magic.compat import qianfan
    from glm_magic.testing.dialects import qianfan_error

    qianfan.ChatCompletion().do(messages=[{"role": "user", "content": "hi"}])  # a token
    qf.push(qianfan_error(336003, "the request parameter is invalid"))
    with pytest.raises(qianfan.errors.APIError) as info:
        qianfan.ChatCompletion().do(messages=[{"role": "user", "content": "hi"}])
    assert info.value.error_code == 336003 and "invalid" in info.value.error_msg

    class Never(set):
        def __contains__(self, item):
            return False

    qf.valid = Never()  # every token is refused, also the one fetched again
    with pytest.raises(qianfan.errors.AccessTokenExpiredError):
        qianfan.ChatCompletion().do(messages=[{"role": "user", "content": "hi"}])
    assert len(qf.requests_to("/oauth/2.0/token")) >= 2


def test_qianfan_iam_signature_refused_with_the_wrong_secret(qf, monkeypatch):
    from glm_magic import Client

    monkeypatch.delenv("QIANFAN_AK")
    monkeypatch.setenv("QIANFAN_ACCESS_KEY", qf.iam_ak)
    monkeypatch.setenv("QIANFAN_SECRET_KEY", "not-the-secret")
    with pytest.raises(glm_magic.AuthenticationError):
        Client("qianfan", max_retries=0).chat.completions.create(
            messages=[{"role": "user", "content": "hi"}])
    assert qf.signed == 0


# --- seeds 000 and 003: the v4 and OpenAI clients, with the SDK idioms -----------------------------
def test_seed_000_zhipuai_client_and_sdk_idioms(zhipu, capsys):
    from glm_magic.compat.zhipuai import APIAuthenticationError, ZhipuAI

    client = ZhipuAI(api_key="")  # the seed's placeholder: the key comes from the environment
    response = client.chat.completions.create(model="glm-4", messages=[
        {"role": "user", "content": "作为一名营销专家,请为我的产品创作一个吸引人的slogan"}])
    print(response.choices[0].message)
    out = capsys.readouterr().out
    assert out.startswith("content=") and "role='assistant'" in out
    assert response.object == "chat.completion"
    dumped = response.model_dump()
    assert dumped["choices"][0]["message"]["content"] == response.choices[0].message.content
    assert json.loads(response.model_dump_json()) == dumped == response.to_dict()
    assert json.loads(response.to_json())["usage"]["total_tokens"] == response.usage.total_tokens
    assert str(response).startswith("id=") and "choices=[Choice(" in str(response)
    assert len(repr(response)) < 300 and repr(response).startswith("Completion(")
    for chunk in client.chat.completions.create(model="glm-3-turbo", stream=True, messages=[
            {"role": "user", "content": "土星"}]):
        print(chunk.choices[0].delta)
        assert chunk.object == "chat.completion.chunk"
        assert chunk.model_dump()["choices"][0]["delta"]["content"] == chunk.choices[0].delta.content
    assert capsys.readouterr().out.count("content=") >= 2
    with pytest.raises(APIAuthenticationError):
        ZhipuAI(api_key="bad.key", max_retries=0).chat.completions.create(
            model="glm-4", messages=[{"role": "user", "content": "hi"}])
    assert set(compat_rows()["model"]) >= {"glm-4", "glm-3-turbo"}


def test_seed_003_openai_gateway_stream_has_no_extra_chunk(oai, capsys):
    from glm_magic.compat.openai import OpenAI

    client = OpenAI(api_key=oai.key, base_url=oai.base_url)
    response = client.chat.completions.create(model="glm-4.7", messages=[
        {"role": "user", "content": "你好,给我科普一下量子力学吧"}])
    print(response.choices[0].message.content)
    assert capsys.readouterr().out.strip() == "echo: 你好,给我科普一下量子力学吧"
    pieces = [c.choices[0].delta.content for c in client.chat.completions.create(
        model="glm-4.7", stream=True, messages=[{"role": "user", "content": "a b"}])]
    assert "".join(p or "" for p in pieces) == "echo: a b"
    assert compat_rows().iloc[-1]["total_tokens"] == 12  # the usage chunk went to the ledger


def test_printed_sdk_responses_keep_escapes_inert():
    from glm_magic.compat._common import attr_dict

    resp = attr_dict({"output": {"text": "ok\u202egnp.exe\x1b[2J\u200b"}})
    shown = str(resp)
    assert "\u202e" not in shown and "\x1b" not in shown and "\u200b" not in shown
    assert json.loads(json.dumps(resp))["output"]["text"].startswith("ok")  # the value is kept
