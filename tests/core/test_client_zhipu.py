"""Client against a loopback server speaking Zhipu v4: call shapes, auth, errors, retries."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import pytest

from glm_magic import AsyncClient, Client, errors
from glm_magic.providers.zhipu import make_jwt
from glm_magic.testing.loopback import Reply, sse
from glm_magic.testing.zhipu import API_KEY, completion_body, stream_frames, zhipu_error

MSGS = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def client(zhipu):
    with Client(provider="zhipu", max_retries=3) as c:
        yield c


def test_call_shape_and_request_passthrough(client, zhipu):
    resp = client.chat.completions.create(
        model="glm-4-flash", messages=MSGS, temperature=0.5, top_p=0.7, max_tokens=64,
        seed=7, stop=["END"], user_id="user-123456", request_id="my-req",
        tools=[{"type": "web_search", "web_search": {"enable": True}}],
        response_format={"type": "text"}, thinking={"type": "disabled"}, brand_new_field=1)
    assert resp.choices[0].message.content == "echo: hello there"
    assert resp.choices[0].message.role == "assistant"
    assert resp.usage.prompt_tokens == 11 and resp.usage.total_tokens == 11 + 3
    assert resp.id and resp.model == "glm-4-flash" and resp.provider == "zhipu"
    sent = zhipu.received[-1]
    assert sent.path == "/api/paas/v4/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    body = sent.json
    assert body == {"model": "glm-4-flash", "messages": MSGS, "temperature": 0.5,
                    "top_p": 0.7, "max_tokens": 64, "seed": 7, "stop": ["END"],
                    "user_id": "user-123456", "request_id": "my-req",
                    "tools": [{"type": "web_search", "web_search": {"enable": True}}],
                    "response_format": {"type": "text"}, "thinking": {"type": "disabled"},
                    "brand_new_field": 1}


def test_sdk_clamps_temperature_ends(client, zhipu):
    client.chat.completions.create(model="glm-4", messages=MSGS, temperature=0)
    assert zhipu.received[-1].json["temperature"] == 0.01
    assert zhipu.received[-1].json["do_sample"] is False
    client.chat.completions.create(model="glm-4", messages=MSGS, temperature=1.0, top_p=1.0)
    assert zhipu.received[-1].json["temperature"] == 0.99
    assert zhipu.received[-1].json["top_p"] == 0.99


def test_stream_yields_chunks_and_usage(client, zhipu):
    stream = client.chat.completions.create(model="glm-4-flash", messages=MSGS, stream=True)
    texts = [c.choices[0].delta.content for c in stream]
    assert "".join(texts) == "echo: hello there"
    comp = stream.completion()
    assert comp.text == "echo: hello there" and comp.finish_reason == "stop"
    assert comp.usage.completion_tokens == 3 and not comp.usage.estimated
    assert comp.ttft_s is not None and comp.latency_s >= comp.ttft_s
    assert zhipu.received[-1].json["stream"] is True
    assert zhipu.received[-1].headers["accept"] == "text/event-stream"


def test_stream_with_crlf_frames(client, zhipu):
    zhipu.push(Reply(events=stream_frames("a b c", "glm-4", crlf=True)))
    s = client.chat.completions.create(model="glm-4", messages=MSGS, stream=True)
    assert "".join(c.text for c in s) == "a b c"


def test_default_base_url_and_env(monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", API_KEY)
    c = Client()
    assert c.provider.name == "zhipu"
    assert c.provider.base_url == "https://open.bigmodel.cn/api/paas/v4"
    assert API_KEY not in repr(c) and "…" in repr(c)
    c2 = Client(provider="zhipu", api_key="x.y", base_url="http://h/v4/")
    assert c2.provider.base_url == "http://h/v4"


def test_jwt_auth_is_accepted_and_cached(zhipu):
    with Client(provider="zhipu", auth="jwt") as c:
        c.chat.completions.create(model="glm-4", messages=MSGS)
        c.chat.completions.create(model="glm-4", messages=MSGS)
    tokens = [r.headers["authorization"][7:] for r in zhipu.received]
    assert tokens[0] == tokens[1] != API_KEY  # one cached token for both
    head = jwt.get_unverified_header(tokens[0])
    assert head["alg"] == "HS256" and head["sign_type"] == "SIGN"
    claims = jwt.decode(tokens[0], API_KEY.split(".")[1], algorithms=["HS256"])
    assert claims["api_key"] == API_KEY.split(".")[0]
    assert claims["exp"] - claims["timestamp"] == 210_000
    assert abs(claims["timestamp"] - time.time() * 1000) < 60_000  # milliseconds


def test_jwt_rejects_key_without_one_dot(zhipu):
    with pytest.raises(errors.ConfigurationError, match="exactly one '.'"):
        make_jwt("nodotkey")
    with Client(provider="zhipu", api_key="a.b.c", auth="jwt") as c, \
            pytest.raises(errors.ConfigurationError):
        c.chat.completions.create(model="glm-4", messages=MSGS)
    assert not zhipu.received


def test_wrong_key_is_authentication_error_not_retried(zhipu):
    with Client(provider="zhipu", api_key="bad.key-not-valid") as c, \
            pytest.raises(errors.AuthenticationError) as ei:
        c.chat.completions.create(model="glm-4", messages=MSGS)
    err = ei.value
    assert err.status == 401 and err.code == "1002" and err.provider == "zhipu"
    assert len(zhipu.received) == 1
    assert "bad.key-not-valid" not in str(err) and "\n" not in str(err)
    assert "check the API key" in str(err)


def test_missing_key_is_configuration_error(monkeypatch):
    with Client(provider="zhipu") as c, pytest.raises(errors.ConfigurationError,
                                                      match="ZHIPUAI_API_KEY"):
        c.chat.completions.create(model="glm-4", messages=MSGS)


@pytest.mark.parametrize(("reply", "cls", "code"), [
    (zhipu_error("1113", "arrears", 429), errors.QuotaExceededError, "1113"),
    (zhipu_error("1304", "daily quota", 429), errors.QuotaExceededError, "1304"),
    (zhipu_error("1301", "unsafe", 400), errors.ContentFilterError, "1301"),
    (zhipu_error("1211", "model not found", 400), errors.NotFoundError, "1211"),
    (zhipu_error("1214", "bad param", 400), errors.BadRequestError, "1214"),
    (zhipu_error("1261", "prompt too long", 400), errors.BadRequestError, "1261"),
    (zhipu_error("1220", "no permission", 403), errors.PermissionDeniedError, "1220"),
    (Reply(400, "<html><title>400 Bad Gateway Thing</title></html>", content_type="text/html"),
     errors.BadRequestError, None),
])
def test_final_errors_map_and_are_not_retried(client, zhipu, reply, cls, code):
    zhipu.push(reply, Reply(body=completion_body("never", "glm-4")))
    with pytest.raises(cls) as ei:
        client.chat.completions.create(model="glm-4", messages=MSGS)
    assert ei.value.code == code
    assert len(zhipu.received) == 1  # counted: not retried
    assert "\n" not in str(ei.value)


def test_html_proxy_page_is_described(client, zhipu):
    page = Reply(502, "<html><head><title>502 Bad Gateway</title></head></html>",
                 content_type="text/html")
    zhipu.push(page, page, page, page)
    with pytest.raises(errors.ServerError, match="HTML page.*502 Bad Gateway"):
        client.chat.completions.create(model="glm-4", messages=MSGS)


@pytest.mark.parametrize("first", [
    zhipu_error("1302", "rate", 429, **{"Retry-After": "0"}),
    zhipu_error("1305", "overloaded", 429),
    zhipu_error("1200", "internal", 500),
    Reply(503, "busy"),
    Reply(408, "timeout"),
])
def test_retryable_then_success(zhipu, first, monkeypatch):
    monkeypatch.setattr("glm_magic.core.responses.backoff_delay", lambda attempt, ra=None: 0.01)
    seen = []
    with Client(provider="zhipu", on_retry=seen.append) as c:
        zhipu.push(first)
        resp = c.chat.completions.create(model="glm-4", messages=MSGS)
    assert resp.text == "echo: hello there" and resp.attempt == 2
    assert len(zhipu.received) == 2
    assert [r.attempt for r in seen] == [1]


def test_retries_are_bounded(zhipu, monkeypatch):
    monkeypatch.setattr("glm_magic.core.responses.backoff_delay", lambda attempt, ra=None: 0.0)
    zhipu.push(*[zhipu_error("1302", "rate", 429)] * 5)
    with Client(provider="zhipu", max_retries=2) as c, pytest.raises(errors.RateLimitError) as ei:
        c.chat.completions.create(model="glm-4", messages=MSGS)
    assert len(zhipu.received) == 3 and ei.value.attempt == 3


def test_retry_after_is_honoured(zhipu):
    zhipu.push(zhipu_error("1302", "rate", 429, **{"Retry-After": "0.4"}))
    with Client(provider="zhipu") as c:
        t0 = time.perf_counter()
        c.chat.completions.create(model="glm-4", messages=MSGS)
    gap = zhipu.received[1].at - zhipu.received[0].at
    assert gap >= 0.35 and time.perf_counter() - t0 < 5


def test_x_should_retry_false_stops_retries(client, zhipu):
    zhipu.push(Reply(503, "no", headers={"x-should-retry": "false"}))
    with pytest.raises(errors.ServerError):
        client.chat.completions.create(model="glm-4", messages=MSGS)
    assert len(zhipu.received) == 1


def test_connection_refused_is_retried_then_raised(monkeypatch):
    monkeypatch.setattr("glm_magic.core.responses.backoff_delay", lambda attempt, ra=None: 0.0)
    seen = []
    with Client(provider="zhipu", api_key="k.secretsecret", base_url="http://127.0.0.1:9/v4",
                max_retries=2, on_retry=seen.append) as c, \
            pytest.raises(errors.APIConnectionError):
        c.chat.completions.create(model="glm-4", messages=MSGS)
    assert len(seen) == 2


def test_read_timeout_before_first_byte(zhipu, monkeypatch):
    monkeypatch.setattr("glm_magic.core.responses.backoff_delay", lambda attempt, ra=None: 0.0)
    zhipu.push(Reply(body=completion_body("slow", "glm-4"), delay=1.0))
    with Client(provider="zhipu", timeout=0.3, max_retries=1) as c:
        t0 = time.perf_counter()
        resp = c.chat.completions.create(model="glm-4", messages=MSGS)
    assert resp.attempt == 2 and time.perf_counter() - t0 < 2.0
    zhipu.push(Reply(delay=1.0), Reply(delay=1.0))
    with Client(provider="zhipu", timeout=0.3, max_retries=1) as c, \
            pytest.raises(errors.APITimeoutError, match="read timeout"):
        c.chat.completions.create(model="glm-4", messages=MSGS)


def test_stall_mid_stream_raises_with_partial(zhipu):
    frames = stream_frames("one two three", "glm-4", pieces=2, done=False)
    zhipu.push(Reply(events=frames, stall=3.0))
    with Client(provider="zhipu", timeout=httpx.Timeout(0.5, connect=2)) as c:
        s = c.chat.completions.create(model="glm-4", messages=MSGS, stream=True)
        got = []
        t0 = time.perf_counter()
        with pytest.raises(errors.APITimeoutError) as ei:
            for chunk in s:
                got.append(chunk.text)
        assert time.perf_counter() - t0 < 2.5
    assert "".join(got) == "one two "
    assert ei.value.partial.text == "one two " and ei.value.partial.status == "error"
    assert len(zhipu.received) == 1  # never retried after the first byte


def test_truncated_stream_is_protocol_error(client, zhipu):
    zhipu.push(Reply(events=stream_frames("a b c d", "glm-4", pieces=2, done=False)))
    s = client.chat.completions.create(model="glm-4", messages=MSGS, stream=True)
    with pytest.raises(errors.ProtocolError, match="truncated") as ei:
        list(s)
    assert ei.value.partial.text == "a b "


def test_connection_reset_mid_stream(client, zhipu):
    zhipu.push(Reply(events=stream_frames("a b c d", "glm-4", pieces=2, done=False),
                     reset=True))
    s = client.chat.completions.create(model="glm-4", messages=MSGS, stream=True)
    with pytest.raises((errors.APIConnectionError, errors.ProtocolError)) as ei:
        list(s)
    assert ei.value.partial.text == "a b "


def test_error_event_and_malformed_json_in_stream(client, zhipu):
    zhipu.push(Reply(events=sse({"choices": [{"index": 0, "delta": {"content": "hi"}}]},
                                {"error": {"code": "1234", "message": "network"}})))
    with pytest.raises(errors.ServerError) as ei:
        list(client.chat.completions.create(model="glm-4", messages=MSGS, stream=True))
    assert ei.value.partial.text == "hi"
    zhipu.push(Reply(events=sse({"choices": [{"index": 0, "delta": {"content": "x"}}]},
                                "{not json")))
    with pytest.raises(errors.ProtocolError, match="malformed"):
        list(client.chat.completions.create(model="glm-4", messages=MSGS, stream=True))


def test_sensitive_finish_reason_mid_stream(client, zhipu):
    zhipu.push(Reply(events=stream_frames("bad words", "glm-4", finish_reason="sensitive")))
    s = client.chat.completions.create(model="glm-4", messages=MSGS, stream=True)
    with pytest.raises(errors.ContentFilterError) as ei:
        list(s)
    assert ei.value.partial.status == "filtered"


def test_stream_request_error_status_is_retried_before_first_byte(zhipu, monkeypatch):
    monkeypatch.setattr("glm_magic.core.responses.backoff_delay", lambda attempt, ra=None: 0.0)
    zhipu.push(zhipu_error("1305", "overloaded", 429))
    with Client(provider="zhipu") as c:
        s = c.chat.completions.create(model="glm-4", messages=MSGS, stream=True)
        assert "".join(ch.text for ch in s) == "echo: hello there"
    assert len(zhipu.received) == 2


def test_async_client_same_shapes(zhipu):
    async def main():
        async with AsyncClient(provider="zhipu") as c:
            r = await c.chat.completions.create(model="glm-4", messages=MSGS)
            s = await c.chat.completions.create(model="glm-4", messages=MSGS, stream=True)
            parts = [ch.choices[0].delta.content async for ch in s]
            many = await asyncio.gather(*[c.chat.completions.create(
                model="glm-4", messages=[{"role": "user", "content": str(i)}]) for i in range(8)])
            return r, "".join(parts), s.completion(), many

    r, text, comp, many = asyncio.run(main())
    assert r.text == "echo: hello there" == text
    assert comp.usage.prompt_tokens == 11
    assert [m.text for m in many] == [f"echo: {i}" for i in range(8)]


def test_async_errors_and_retry(zhipu, monkeypatch):
    monkeypatch.setattr("glm_magic.core.responses.backoff_delay", lambda attempt, ra=None: 0.0)
    zhipu.push(Reply(500, "oops"), zhipu_error("1113", "arrears", 429))

    async def main():
        async with AsyncClient(provider="zhipu") as c:
            await c.chat.completions.create(model="glm-4", messages=MSGS)

    with pytest.raises(errors.QuotaExceededError):
        asyncio.run(main())
    assert len(zhipu.received) == 2


def test_json_body_answer_to_stream_request(client, zhipu):
    zhipu.push(Reply(body=completion_body("whole answer", "glm-4")))
    s = client.chat.completions.create(model="glm-4", messages=MSGS, stream=True)
    assert "".join(c.text for c in s) == "whole answer"
