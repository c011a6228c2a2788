"""The transport and framing faults of the matrix, for every other HTTP dialect: each with its
own error bodies and stream framing, through the session (so the ledger is checked too)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

import glm_magic
from glm_magic import errors
from glm_magic.testing.loopback import Reply
from tests.servers import free_port
from tests.servers.outcomes import OUTCOMES

PARTIAL = "alpha beta "
MODEL = {"openai": "gpt-4o-mini", "dashscope": "qwen-turbo", "qianfan": "ERNIE-Speed-8K",
         "zhipu_v3": "chatglm_std"}


def frames(dialect: str, words: list[str], end: bool) -> list[bytes]:
    out = []
    for i, w in enumerate(words):
        last = end and i == len(words) - 1
        if dialect == "openai":
            out.append(b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": w},
                       "finish_reason": "stop" if last else None}]}).encode() + b"\n\n")
        elif dialect == "dashscope":
            out.append(b"event:result\ndata:" + json.dumps({"output": {"choices": [{"message": {
                "content": w}, "finish_reason": "stop" if last else "null"}]}}).encode() + b"\n\n")
        elif dialect == "qianfan":
            out.append(b"data: " + json.dumps({"id": "q", "result": w, "is_end": last}).encode()
                       + b"\n\n")
        else:
            out.append(f"event:add\ndata:{w}\n\n".encode())
    if end and dialect == "openai":
        out.append(b"data: [DONE]\n\n")
    if end and dialect == "zhipu_v3":
        out.append(b"event:finish\ndata:\nmeta:{}\n\n")
    return out


def auth_error(dialect: str) -> tuple[Reply, type[errors.GLMError]]:
    if dialect == "openai":
        return Reply(401, {"error": {"message": "Incorrect API key", "type": "invalid_request_error",
                                     "code": "invalid_api_key"}}), errors.AuthenticationError
    if dialect == "dashscope":
        return Reply(401, {"code": "InvalidApiKey", "message": "Invalid API-key provided.",
                           "request_id": "r"}), errors.AuthenticationError
    if dialect == "qianfan":
        return Reply(200, {"error_code": 6, "error_msg": "No permission"}), \
            errors.PermissionDeniedError
    return Reply(200, {"code": 1002, "msg": "Authorization Token非法", "success": False}), \
        errors.AuthenticationError


def rate_error(dialect: str) -> Reply:
    if dialect == "openai":
        return Reply(429, {"error": {"message": "Rate limit reached", "type": "requests"}},
                     headers={"Retry-After": "0.05"})
    if dialect == "dashscope":
        return Reply(429, {"code": "Throttling.RateQuota", "message": "rate", "request_id": "r"})
    if dialect == "qianfan":
        return Reply(200, {"error_code": 18, "error_msg": "Open api qps request limit reached"})
    return Reply(200, {"code": 1302, "msg": "rate limit", "success": False})


SERVERS = {"openai": ("oai", "OPENAI_BASE_URL"), "dashscope": ("ds", "DASHSCOPE_BASE_URL"),
           "qianfan": ("qf", "QIANFAN_BASE_URL"), "zhipu_v3": ("v3", "ZHIPUAI_V3_BASE_URL")}


@pytest.fixture(params=sorted(SERVERS))
def dialect(request, monkeypatch):
    name = request.param
    fixture, env = SERVERS[name]
    server = request.getfixturevalue(fixture)
    monkeypatch.setattr("glm_magic.core.responses.backoff_delay", lambda attempt, ra=None: 0.02)
    s = glm_magic.session()
    s.timeout = httpx.Timeout(0.6, connect=0.6)
    s.max_retries = 1
    if name == "qianfan":  # fetch the access token before any scripted reply
        s.client("qianfan").provider.access_token()
    return name, server, env


def call(name: str, stream: bool):
    s = glm_magic.session()
    try:
        return s.complete("hello", provider=name, model=MODEL[name], stream=stream), None
    except errors.GLMError as exc:
        return exc.partial, exc


def closed_port(name: str) -> str:
    return f"http://127.0.0.1:{free_port()}"


def check(name, comp, exc, cls, status, partial=None):
    assert isinstance(exc, cls), repr(exc)
    assert "\n" not in str(exc)
    assert glm_magic.usage().iloc[-1]["status"] == status
    if partial is not None:
        assert comp.text == partial


@pytest.mark.parametrize("stream", [False, True], ids=["client", "client-stream"])
def test_connection_refused(dialect, stream, monkeypatch):
    name, server, env = dialect
    if name == "qianfan":
        glm_magic.session().client("qianfan").provider.base_url = closed_port(name)
    else:
        monkeypatch.setenv(env, closed_port(name))
        glm_magic.session().reset_clients()
    comp, exc = call(name, stream)
    check(name, comp, exc, errors.APIConnectionError, "error")
    record(name, "connection refused", stream, "APIConnectionError")


@pytest.mark.parametrize("stream", [False, True], ids=["client", "client-stream"])
def test_read_timeout_before_first_byte(dialect, stream):
    name, server, _ = dialect
    server.push(Reply(delay=2.0), Reply(delay=2.0))
    t0 = time.perf_counter()
    comp, exc = call(name, stream)
    assert time.perf_counter() - t0 < 5
    check(name, comp, exc, errors.APITimeoutError, "error")
    record(name, "read timeout before the first byte", stream, "APITimeoutError")


@pytest.mark.parametrize(("fault", "reply_kw", "cls"), [
    ("stall mid-stream", {"stall": 3.0}, errors.APITimeoutError),
    ("connection reset mid-stream", {"reset": True},
     (errors.APIConnectionError, errors.ProtocolError)),
    ("stream ends without terminator", {}, errors.ProtocolError),
])
def test_mid_stream_faults_keep_the_partial(dialect, fault, reply_kw, cls):
    name, server, _ = dialect
    server.push(Reply(events=frames(name, ["alpha ", "beta "], end=False), **reply_kw))
    comp, exc = call(name, True)
    check(name, comp, exc, cls, "error", PARTIAL)
    record(name, fault, True, "partial kept")


def test_malformed_event(dialect):
    name, server, _ = dialect
    if name == "zhipu_v3":
        pytest.skip("v3 events carry plain text, not JSON")
    bad = b"event:result\ndata:{oops\n\n" if name == "dashscope" else b"data: {oops\n\n"
    server.push(Reply(events=frames(name, ["alpha ", "beta "], end=False) + [bad]))
    comp, exc = call(name, True)
    check(name, comp, exc, errors.ProtocolError, "error", PARTIAL)
    record(name, "malformed JSON in an event", True, "ProtocolError, partial kept")


@pytest.mark.parametrize("stream", [False, True], ids=["client", "client-stream"])
def test_auth_error_body(dialect, stream):
    name, server, _ = dialect
    reply, cls = auth_error(name)
    server.push(reply, reply)
    n = len(server.received)
    comp, exc = call(name, stream)
    check(name, comp, exc, cls, "error")
    assert len(server.received) == n + 1  # not retried
    record(name, "HTTP 401 / the dialect's auth error", stream, cls.__name__)


@pytest.mark.parametrize("stream", [False, True], ids=["client", "client-stream"])
def test_rate_limit_then_success(dialect, stream):
    name, server, _ = dialect
    server.push(rate_error(name))
    comp, exc = call(name, stream)
    assert exc is None and comp.text.startswith("echo: hello")
    rows = glm_magic.usage()
    assert list(rows["status"]) == ["error", "ok"] and list(rows["attempt"]) == [1, 2]
    record(name, "429 / the dialect's rate limit, then success", stream, "retried, answer")


@pytest.mark.parametrize("stream", [False, True], ids=["client", "client-stream"])
def test_proxy_html_page(dialect, stream):
    name, server, _ = dialect
    page = Reply(502, "<html><head><title>502 Bad Gateway</title></head></html>",
                 content_type="text/html")
    server.push(page, page)
    comp, exc = call(name, stream)
    check(name, comp, exc, errors.ServerError, "error")
    assert "HTML page" in str(exc)
    record(name, "HTML page from a proxy", stream, "ServerError")


def record(name: str, fault: str, stream: bool, outcome: str) -> None:
    OUTCOMES[(fault, f"{name} {'stream' if stream else 'sync'}")] = outcome
