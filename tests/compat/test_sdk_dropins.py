"""Code written for Zhipu's SDKs (zai-sdk and zhipuai v4), run twice against the same loopback
server: once with the SDK itself and once with only the import changed to glm-magic's drop-in.
Each scenario is written as the SDKs' own integration tests are; the requests the server
received (method, path, JSON body) must be the same, and so must what the code sees.

A JSON `null` the SDK sends for an argument left unset counts as absent (the server treats
them alike); everything else is compared exactly."""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from glm_magic.testing.batches import multipart
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import API_KEY, zhipu_error

SDKS = {"zai-sdk": ("zai", "glm_magic.compat.zai", "ZaiClient"),
        "zhipuai": ("zhipuai", "glm_magic.compat.zhipuai", "ZhipuAI")}


VENDOR_SDKS = Path(__file__).resolve().parents[2] / "build" / "vendor-sdks"  # make vendor-sdks


def _module(name: str) -> Any:
    """The SDK itself (zai-sdk from the venv, zhipuai from `make vendor-sdks`), or ours."""
    if "." in name:
        return importlib.import_module(name)
    if VENDOR_SDKS.is_dir() and str(VENDOR_SDKS) not in sys.path:
        sys.path.append(str(VENDOR_SDKS))
    return pytest.importorskip(name)


SERVER_IDS = re.compile(r"\b(file-|batch_|task-)[0-9a-f]{8,12}\b")  # the server's own


def wire(server: Any) -> list[tuple[str, str, Any, dict]]:
    """What the server received, comparable across clients: ids the server made up in each
    run read as `<id>`."""
    out = []
    for r in server.received:
        body: Any = r.body
        if r.headers.get("content-type", "").startswith("application/json") and r.body:
            body = _no_nulls(json.loads(SERVER_IDS.sub(r"\1<id>", r.body.decode())))
        elif r.body and b"Content-Disposition" in r.body:
            body = {name: (filename, data if filename else data.decode())
                    for name, (filename, data) in multipart(r).items()}
        elif r.body:
            body = r.body
        query = {k: v for k, v in sorted(r.query.items())}
        out.append((r.method, SERVER_IDS.sub(r"\1<id>", r.path), body, query))
    return out


def _no_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def both(zhipu: Any, monkeypatch: Any, family: str, scenario: Callable[[Any, Any], Any]
         ) -> tuple[Any, Any]:
    """Run `scenario(module, make_client)` with the SDK, then with the drop-in; return both
    (result, wire) pairs."""
    monkeypatch.setenv("ZAI_API_KEY", API_KEY)
    monkeypatch.setenv("ZAI_BASE_URL", zhipu.base_url)
    sdk_name, ours_name, client_name = SDKS[family]
    runs = []
    for name in (sdk_name, ours_name):
        module = _module(name)
        zhipu.reset()

        def make(module: Any = module, **kw: Any) -> Any:
            if client_name == "ZhipuAI":
                kw.setdefault("api_key", API_KEY)
                kw.setdefault("base_url", zhipu.base_url)
            return getattr(module, client_name)(**kw)

        wants_server = "server" in scenario.__code__.co_varnames[:scenario.__code__.co_argcount]
        result = scenario(module, make, zhipu) if wants_server else scenario(module, make)
        runs.append((result, wire(zhipu)))
    return runs[0], runs[1]


CHAT = [{"role": "user", "content": "tell me a joke"}]


def chat_sampling(zai: Any, make: Any) -> Any:
    client = make()
    response = client.chat.completions.create(
        request_id="req-1", model="glm-4.7", messages=CHAT, top_p=0.7, temperature=0,
        max_tokens=2000, user_id="12345678")
    return response.choices[0].message.content, response.usage.total_tokens


def chat_stream(zai: Any, make: Any) -> Any:
    client = make()
    pieces = []
    for chunk in client.chat.completions.create(model="glm-4.7", messages=CHAT, stream=True,
                                                temperature=1):
        pieces.append(chunk.choices[0].delta.content)
    return "".join(p or "" for p in pieces)


def chat_extra_body(zai: Any, make: Any) -> Any:
    client = make()
    response = client.chat.completions.create(
        model="glm-4.7", messages=CHAT, extra_body={"temperature": 0.5, "user_id": "u-1"})
    return response.choices[0].message.content


def async_chat(zai: Any, make: Any) -> Any:
    client = make()
    task = client.chat.asyncCompletions.create(
        model="glm-4.7", messages=CHAT, extra_body={"temperature": 0.3, "max_tokens": 50})
    done = client.chat.asyncCompletions.retrieve_completion_result(id=task.id)
    return (task.task_status, sorted(task.model_dump()), task.model_dump()["model"],
            done.task_status, sorted(done.model_dump()))


def async_chat_result(zai: Any, make: Any) -> Any:
    client = make()
    task = client.chat.asyncCompletions.create(model="glm-4.7", messages=CHAT)
    for _ in range(10):
        done = client.chat.asyncCompletions.retrieve_completion_result(id=task.id)
        if done.task_status == "SUCCESS":
            break
    return (done.task_status, sorted(done.model_dump()), done.choices[0].message.content,
            done.usage.total_tokens)


def embeddings_dimensions(zai: Any, make: Any) -> Any:
    client = make()
    response = client.embeddings.create(model="embedding-3", input="hello", dimensions=512,
                                        extra_body={"model_version": "v1"})
    return response.data[0].object, len(response.data[0].embedding)


def embeddings_extra_dimensions(zai: Any, make: Any) -> Any:
    client = make()
    response = client.embeddings.create(model="embedding-3", input=["a", "b"],
                                        extra_body={"dimensions": 4})
    return [len(d.embedding) for d in response.data]


def images(zai: Any, make: Any) -> Any:
    client = make()
    response = client.images.generations(model="cogview-4", prompt="a cat",
                                         extra_body={"user_id": "u-2"})
    return len(response.data)


def files_and_batches(zai: Any, make: Any) -> Any:
    client = make()
    line = {"custom_id": "r1", "method": "POST", "url": "/v4/chat/completions",
            "body": {"model": "glm-4-flash", "messages": CHAT}}
    uploaded = client.files.create(file=("batchinput.jsonl", json.dumps(line).encode()),
                                   purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v4/chat/completions",
                                  completion_window="24h", metadata={"description": "job"})
    listed = client.batches.list(limit=10)
    deleted = client.files.delete(uploaded.id)
    return (batch.input_file_id == uploaded.id, len(listed.data), listed.has_next_page(),
            deleted.deleted)


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


def _tool_call_answer(server: Any, index: bool = True) -> None:
    from glm_magic.testing.zhipu import completion_body

    body = completion_body("", "glm-4.7")
    body["choices"][0]["finish_reason"] = "tool_calls"
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", **({"index": 0} if index else {}),
         "function": {"name": "get_weather", "arguments": '{"city": "Beijing"}'}}]}
    server.push(Reply(body=body))


def tool_call_round_trip(zai: Any, make: Any, server: Any, index: bool = True) -> Any:
    """The SDKs' function-call example: the answer's message goes back as `model_dump()`."""
    client = make()
    _tool_call_answer(server, index)
    messages = [{"role": "user", "content": "weather in Beijing?"}]
    response = client.chat.completions.create(model="glm-4.7", messages=messages, tools=TOOLS)
    call = response.choices[0].message.tool_calls[0]
    messages.append(response.choices[0].message.model_dump())
    messages.append({"role": "tool", "content": "sunny", "tool_call_id": call.id})
    final = client.chat.completions.create(model="glm-4.7", messages=messages, tools=TOOLS)
    return call.function.name, call.model_dump(), final.choices[0].message.content


def tool_call_without_index(zai: Any, make: Any, server: Any) -> Any:
    """A server that sends no `index` in a message's tool calls gets none back."""
    return tool_call_round_trip(zai, make, server, index=False)


def streamed_tool_call(zai: Any, make: Any, server: Any) -> Any:
    def frame(delta: dict, finish: str | None = None) -> bytes:
        event = {"id": "c1", "created": 1, "model": "glm-4.7", "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(event)}\n\n".encode()

    server.push(Reply(events=[
        frame({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type":
               "function", "function": {"name": "get_weather", "arguments": ""}}]}),
        frame({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        frame({"tool_calls": [{"index": 0, "function": {"arguments": '"Beijing"}'}}]}),
        frame({}, "tool_calls"), b"data: [DONE]\n\n"]))
    seen = []
    for chunk in make().chat.completions.create(model="glm-4.7", messages=CHAT, tools=TOOLS,
                                                stream=True):
        for tc in chunk.choices[0].delta.tool_calls or []:
            seen.append((tc.index, tc.id, tc.function.name, tc.function.arguments))
    return seen


def web_search(zai: Any, make: Any) -> Any:
    client = make()
    response = client.web_search.web_search(
        search_engine="search_pro", search_query="GLM-5.3 release", count=2,
        search_recency_filter="oneWeek", content_size="high",
        extra_body={"search_domain_filter": "example.com"})
    return ([(r.title, r.link, r.refer) for r in response.search_result],
            response.search_intent[0].keywords)


def web_reader(zai: Any, make: Any) -> Any:
    client = make()
    response = client.web_reader.web_reader(url="https://example.com/a", return_format="markdown",
                                            timeout=20, retain_images=False)
    return response.reader_result.title, response.reader_result.content


def moderation(zai: Any, make: Any) -> Any:
    client = make()
    safe = client.moderations.create(model="moderation", input="a kind sentence")
    risky = client.moderations.create(model="moderation",
                                      input={"type": "text", "text": "unsafe words"})
    return safe.model_dump()["result_list"][0]["risk_level"], risky.result_list[0]["risk_level"]


def video(zai: Any, make: Any) -> Any:
    client = make()
    task = client.videos.generations(model="cogvideox-3", prompt="a cat on a boat",
                                     quality="speed", with_audio=True, size="1920x1080",
                                     fps=30)
    for _ in range(5):
        done = client.videos.retrieve_videos_result(id=task.id)
        if done.task_status == "SUCCESS":
            break
    return task.task_status, done.task_status, done.video_result[0].url.endswith(".mp4")


def search_agent(zai: Any, make: Any) -> Any:
    client = make()
    response = client.tools.web_search(
        model="web-search-pro", messages=[{"content": "hello", "role": "user"}], stream=False,
        request_id="req-7", recent_days=7)
    calls = response.choices[0].message.tool_calls
    return ([c.type for c in calls], [r.title for r in calls[1].search_result],
            calls[0].search_intent[0].intent, response.choices[0].finish_reason)


def search_agent_stream(zai: Any, make: Any) -> Any:
    client = make()
    seen = []
    for item in client.tools.web_search(model="web-search-pro", stream=True,
                                        messages=[{"content": "hello", "role": "user"}]):
        choice = item.choices[0]
        calls = choice.delta.tool_calls or []
        seen.append(([(c.index, c.type) for c in calls], choice.finish_reason))
    return seen


def _docx(tmp: Path) -> Path:
    from glm_magic.testing.zhipu_tools import sample_docx

    return Path(sample_docx(str(tmp / "report.docx"), ["Quarterly report", "Sales rose 4%."]))


def file_parser(zai: Any, make: Any) -> Any:
    import tempfile

    client = make()
    with tempfile.TemporaryDirectory() as tmp, open(_docx(Path(tmp)), "rb") as f:
        task = client.file_parser.create(file=f, file_type="DOCX", tool_type="lite")
    # zai-sdk answers an httpx.Response, zhipuai v4 its binary content: both have `.content`
    results = [json.loads(client.file_parser.content(task.task_id, format_type="text").content)
               for _ in range(2)]
    link = json.loads(client.file_parser.content(task.task_id,
                                                 format_type="download_link").content)
    return (task.success, [(r["status"], r.get("content")) for r in results],
            link["status"], link["parsing_result_url"].endswith(".zip"))


def file_parser_sync(zai: Any, make: Any) -> Any:
    client = make()
    done = client.file_parser.create_sync(file=("notes.md", b"# Notes\n\nShip it."),
                                          file_type="MD", tool_type="prime-sync")
    return done.status, done.content


ZAI_ONLY = {"web_reader", "file_parser_sync"}  # not in the zhipuai v4 SDK

SCENARIOS = [chat_sampling, chat_stream, chat_extra_body, async_chat, async_chat_result,
             embeddings_dimensions, embeddings_extra_dimensions, images, files_and_batches,
             tool_call_round_trip, tool_call_without_index, streamed_tool_call, web_search,
             web_reader, moderation, video, search_agent, search_agent_stream, file_parser,
             file_parser_sync]


@pytest.mark.parametrize("family", list(SDKS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_sdk_code_sends_the_same_requests(zhipu, monkeypatch, family, scenario):
    if family == "zhipuai" and scenario.__name__ in ZAI_ONLY:
        pytest.skip("the zhipuai v4 SDK has no such resource")
    (sdk_result, sdk_wire), (our_result, our_wire) = both(zhipu, monkeypatch, family, scenario)
    assert our_wire == sdk_wire
    assert our_result == sdk_result


def test_extra_body_is_merged_not_sent_as_a_key(zhipu, monkeypatch):
    (_, sdk_wire), (result, wire_) = both(zhipu, monkeypatch, "zai-sdk",
                                          embeddings_extra_dimensions)
    assert result == [4, 4]  # the server honoured dimensions=4
    assert all("extra_body" not in (body or {}) for _, _, body, _ in wire_ if
               isinstance(body, dict))


# --- errors: the SDK's classes by HTTP status ---------------------------------------------------
ERRORS = [(400, "1301", "APIRequestFailedError"), (401, "1002", "APIAuthenticationError"),
          (429, "1113", "APIReachLimitError"), (429, "1302", "APIReachLimitError"),
          (500, "500", "APIInternalError"), (503, "1305", "APIServerFlowExceedError"),
          (404, "1211", "APIStatusError")]


@pytest.mark.parametrize("family", list(SDKS))
@pytest.mark.parametrize(("status", "code", "cls"), ERRORS)
def test_errors_are_the_sdks_classes_by_status(zhipu, monkeypatch, family, status, code, cls):
    def failing(zai: Any, make: Any) -> Any:
        zhipu.push(*[zhipu_error(code, "refused", status)] * 8)
        client = make(max_retries=0)
        try:
            client.chat.completions.create(model="glm-4.7", messages=CHAT)
        except zai.core._errors.APIStatusError as err:
            return (type(err).__name__, err.status_code, err.response.json(), str(err),
                    isinstance(err, getattr(zai.core._errors, cls)))
        return None

    (sdk, _), (ours, _) = both(zhipu, monkeypatch, family, failing)
    assert sdk is not None and sdk[0] == cls and sdk[4]
    assert ours == sdk


def test_our_own_classes_still_catch_the_sdk_shaped_errors(zhipu, monkeypatch):
    import glm_magic
    from glm_magic.compat import zai

    monkeypatch.setenv("ZAI_API_KEY", API_KEY)
    monkeypatch.setenv("ZAI_BASE_URL", zhipu.base_url)
    zhipu.push(zhipu_error("1301", "unsafe content", 400))
    with pytest.raises(glm_magic.ContentFilterError) as caught:
        zai.ZhipuAiClient(max_retries=0).chat.completions.create(model="glm-4.7", messages=CHAT)
    err = caught.value
    assert isinstance(err, zai.APIRequestFailedError) and err.code == "1301"
    assert str(err).startswith("Error code: 400, with error text {")
    # the response kept for `.response` carries neither the key nor the request's headers
    assert API_KEY not in repr(err.__dict__) and not err.response.request.headers.get(
        "authorization")


@pytest.mark.parametrize("family", list(SDKS))
def test_connection_and_timeout_errors_are_not_status_errors(monkeypatch, family):
    _, ours_name, client_name = SDKS[family]
    module = importlib.import_module(ours_name)
    make = getattr(module, client_name)
    kw = {"api_key": API_KEY, "base_url": "http://127.0.0.1:9/api/paas/v4", "max_retries": 0}
    with pytest.raises(module.APIConnectionError) as caught:
        make(**kw).chat.completions.create(model="glm-4.7", messages=CHAT)
    assert not isinstance(caught.value, module.APIStatusError)
    assert str(caught.value) == "Connection error."


# --- a moderated answer is returned, as the SDK does ---------------------------------------------
@pytest.mark.parametrize("family", list(SDKS))
@pytest.mark.parametrize("stream", [False, True])
def test_sensitive_finish_is_returned_not_raised(zhipu, monkeypatch, family, stream):
    from glm_magic.testing.zhipu import completion_body, stream_frames

    def moderated(zai: Any, make: Any) -> Any:
        if stream:
            frames = stream_frames("partial", "glm-4.7")
            frames = [f.replace(b'"stop"', b'"sensitive"') for f in frames]
            zhipu.push(Reply(events=frames))
            out = [(c.choices[0].delta.content, c.choices[0].finish_reason) for c in
                   make().chat.completions.create(model="glm-4.7", messages=CHAT, stream=True)]
            return "".join(t or "" for t, _ in out), out[-1][1]
        body = completion_body("partial", "glm-4.7")
        body["choices"][0]["finish_reason"] = "sensitive"
        zhipu.push(Reply(body=body))
        response = make().chat.completions.create(model="glm-4.7", messages=CHAT)
        return response.choices[0].message.content, response.choices[0].finish_reason

    (sdk, _), (ours, _) = both(zhipu, monkeypatch, family, moderated)
    assert sdk[1] == "sensitive"
    assert ours == sdk


# --- the zai clients ---------------------------------------------------------------------------
def test_zai_clients_read_their_own_variables_and_prices(zhipu, monkeypatch):
    from glm_magic.compat import zai

    monkeypatch.delenv("ZAI_API_KEY", raising=False)
    monkeypatch.delenv("ZAI_BASE_URL", raising=False)
    with pytest.raises(zai.ZaiError, match="api_key not provided"):
        zai.ZhipuAiClient()
    assert zai.ZhipuAiClient(api_key="k.s").provider.base_url == \
        "https://open.bigmodel.cn/api/paas/v4"
    made = zai.ZaiClient(api_key="k.s")
    assert made.provider.base_url == "https://api.z.ai/api/paas/v4"
    assert made.provider.pricing_key() == "zai"  # USD prices on api.z.ai
    monkeypatch.setenv("ZAI_API_KEY", API_KEY)
    monkeypatch.setenv("ZAI_BASE_URL", zhipu.base_url)
    client = zai.ZhipuAiClient(custom_headers={"X-Team": "data"})
    assert client.chat.completions.create(model="glm-4.7", messages=CHAT).choices[0] \
        .message.content == "echo: tell me a joke"
    sent = zhipu.received[-1]
    assert sent.headers["x-team"] == "data"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in repr(client) and API_KEY not in repr(client.chat)


def test_disable_token_cache_false_signs_a_jwt(zhipu, monkeypatch):
    from glm_magic.compat import zai

    client = zai.ZhipuAiClient(api_key=API_KEY, base_url=zhipu.base_url,
                               disable_token_cache=False)
    client.chat.completions.create(model="glm-4.7", messages=CHAT)
    token = zhipu.received[-1].headers["authorization"][7:]
    assert token != API_KEY and token.count(".") == 2  # a JWT, signed from id.secret


def test_zai_key_in_a_project_env_file_goes_only_to_its_own_base_url(tmp_path, monkeypatch):
    """The same source rule as every key: a base URL from a project .env gets a key only
    from that same file — never the user's ZAI_API_KEY."""
    from glm_magic import errors
    from glm_magic.compat import zai

    monkeypatch.setenv("ZAI_API_KEY", "user.key")
    monkeypatch.delenv("ZAI_BASE_URL", raising=False)
    (tmp_path / ".env").write_text("ZAI_BASE_URL=http://127.0.0.1:9/evil\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises((errors.ConfigurationError, zai.ZaiError)) as caught:
        zai.ZhipuAiClient(max_retries=0).chat.completions.create(model="glm-4.7",
                                                                 messages=CHAT)
    assert "user.key" not in str(caught.value)
    assert "ZAI_BASE_URL" in str(caught.value)


def test_sdk_version_and_error_module_paths():
    from glm_magic.compat import zai, zhipuai

    assert zai.__version__ and zhipuai.__version__
    assert zai.core._errors.APIResponseValidationError is zhipuai.core._errors \
        .APIResponseValidationError
    assert issubclass(zai.APITimeoutError, zai.APIConnectionError)
    assert issubclass(zai.APIConnectionError, zai.APIResponseError)


def test_printed_answers_show_the_sdks_fields(zhipu, monkeypatch):
    """`print(response)` names the same fields as the SDK's (ours adds `object`, as the
    OpenAI SDK has it), nested objects included: no bookkeeping such as `estimated`."""
    def printed(zai: Any, make: Any) -> Any:
        client = make()
        answer = client.chat.completions.create(model="glm-4.7", messages=CHAT)
        return set(re.findall(r"(\w+)=", str(answer)))

    (sdk_fields, _), (our_fields, _) = both(zhipu, monkeypatch, "zai-sdk", printed)
    assert our_fields - {"object"} == sdk_fields
    assert {"prompt_tokens_details", "completion_tokens_details"} <= our_fields
