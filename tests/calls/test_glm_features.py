"""GLM beyond plain chat: async tasks, images, vision, function calling, web search, thinking."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Literal

import pytest
from IPython.core.error import UsageError

import glm_magic
from glm_magic import AsyncClient, Client, errors
from glm_magic.media import image_part, vision_message
from glm_magic.testing.loopback import Reply, sse
from glm_magic.testing.zhipu import PNG, completion_body
from glm_magic.tools import call_tool, tool_schema

M = [{"role": "user", "content": "hi"}]


# --- async tasks ------------------------------------------------------------------------------------
def test_async_task_client_flow(zhipu):
    with Client(provider="zhipu") as c:
        task = c.chat.asyncCompletions.create(model="glm-4", messages=M, temperature=0.5)
        assert task.id.startswith("task-") and task.task_status == "PROCESSING"
        assert zhipu.received[-1].path == "/api/paas/v4/async/chat/completions"
        assert "stream" not in zhipu.received[-1].json
        r = c.chat.asyncCompletions.retrieve_completion_result(id=task.id)
        assert r.task_status == "PROCESSING" and not r.choices
        done = c.chat.asyncCompletions.wait(task.id, timeout=10, poll=0.01)
    assert done.task_status == "SUCCESS" and done.text == "async echo: hi"
    assert done.usage.prompt_tokens == 11


def test_async_task_fail_timeout_and_unknown_id(zhipu):
    with Client(provider="zhipu") as c:
        task = c.chat.asyncCompletions.create(model="glm-4",
                                              messages=[{"role": "user", "content": "fail"}])
        with pytest.raises(errors.ServerError, match=task.id):
            c.chat.asyncCompletions.wait(task.id, timeout=10, poll=0.01)
        slow = c.chat.asyncCompletions.create(model="glm-4", messages=M)
        with pytest.raises(errors.APITimeoutError, match=slow.id):
            c.chat.asyncCompletions.wait(slow.id, timeout=0.05, poll=0.04)
        with pytest.raises(errors.BadRequestError, match="does not exist"):
            c.chat.asyncCompletions.retrieve_completion_result(id="task-nope")


def test_async_task_on_async_client(zhipu):
    async def main():
        async with AsyncClient(provider="zhipu") as c:
            task = await c.chat.asyncCompletions.create(model="glm-4", messages=M)
            return await c.chat.asyncCompletions.wait(task.id, timeout=10, poll=0.01)

    assert asyncio.run(main()).text == "async echo: hi"


def test_async_task_in_the_magic_with_ledger_and_memory(shell, zhipu, capsys):
    shell.run_cell_magic("glm", "--async -o tid", "later please")
    tid = shell.user_ns["tid"]
    assert f"%glm result {tid}" in capsys.readouterr().out
    assert len(glm_magic.usage()) == 0  # nothing recorded until the result is retrieved
    shell.run_line_magic("glm", f"result {tid}")
    assert "PROCESSING" in capsys.readouterr().out
    tasks = shell.run_line_magic("glm", "tasks")
    assert list(tasks["task_id"]) == [tid] and tasks.iloc[0]["status"] == "PROCESSING"
    shell.run_line_magic("glm", f"result {tid} --wait --timeout 10")
    assert "async echo: later please" in capsys.readouterr().out
    shell.run_line_magic("glm", f"result {tid}")  # fetched again: no second ledger row
    df = glm_magic.usage()
    assert len(df) == 1 and df.iloc[0]["status"] == "ok" and df.iloc[0]["latency_s"] > 0
    assert glm_magic.session().chats["default"].messages[-1]["content"] == \
        "async echo: later please"
    with pytest.raises(UsageError, match="does not exist"):
        shell.run_line_magic("glm", "result task-unknown")


# --- images -------------------------------------------------------------------------------------------
def test_image_generation_client_and_magic(shell, zhipu, tmp_path):
    with Client(provider="zhipu") as c:
        resp = c.images.generations(model="cogview-3", prompt="a cat", size="1024x1024", n=2)
    assert len(resp.data) == 2 and resp.data[0].url.endswith("img0.png")
    assert zhipu.received[-1].json == {"model": "cogview-3", "prompt": "a cat",
                                       "size": "1024x1024", "n": 2}
    from IPython.utils.capture import capture_output

    out = tmp_path / "cat.png"
    with capture_output() as cap:
        shell.run_line_magic("glm", f"image -m cogview-4 --size 512x512 -o pic --save {out} "
                                    "a small cat")
    assert out.read_bytes() == PNG
    assert any("image/png" in o.data for o in cap.outputs)
    assert shell.user_ns["pic"].data[0].url
    row = glm_magic.usage().iloc[-1]
    assert row["model"] == "cogview-4" and row["images"] == 1
    assert row["cost"] == pytest.approx(0.06) and row["cost_status"] == "priced"
    zhipu.push(Reply(body={"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}))
    with capture_output() as cap:
        shell.run_cell_magic("glm", "--image-gen", "a dog")
    assert any("image/png" in o.data for o in cap.outputs)
    assert glm_magic.usage().iloc[-1]["cost"] == pytest.approx(0.1)  # cogview-3 default


# --- vision helpers -------------------------------------------------------------------------------------
def test_image_parts_from_every_source(tmp_path):
    from PIL import Image

    assert image_part("https://x/y.png") == {"type": "image_url",
                                             "image_url": {"url": "https://x/y.png"}}
    assert image_part("data:image/png;base64,QUJD")["image_url"]["url"] == "QUJD"
    assert image_part(b"abc")["image_url"]["url"] == base64.b64encode(b"abc").decode()
    pil = image_part(Image.new("RGB", (4, 4)))
    assert base64.b64decode(pil["image_url"]["url"])[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="6000"):
        image_part(Image.new("1", (6001, 10)))
    with pytest.raises(ValueError, match="5 MB"):
        image_part(b"0" * (5 * 1024 * 1024 + 1))
    with pytest.raises(ValueError, match="not found"):
        image_part(str(tmp_path / "none.png"))
    msg = vision_message("what is this?", b"abc")
    assert msg["content"][0] == {"type": "text", "text": "what is this?"}


# --- function calling ---------------------------------------------------------------------------------------
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict:
    """Current weather for a city.

    city: the city name, e.g. 北京
    unit: c or f
    """
    return {"city": city, "temp": 21, "unit": unit}


def broken(x: int) -> int:
    """Always fails."""
    raise RuntimeError("sensor offline")


def test_tool_schema_from_a_plain_function():
    schema = tool_schema(get_weather)
    fn = schema["function"]
    assert fn["name"] == "get_weather" and fn["description"] == "Current weather for a city."
    assert fn["parameters"]["required"] == ["city"]
    assert fn["parameters"]["properties"]["city"] == {"type": "string",
                                                      "description": "the city name, e.g. 北京"}
    assert fn["parameters"]["properties"]["unit"]["enum"] == ["c", "f"]
    assert call_tool(broken, "broken", '{"x": 1}') == "error: RuntimeError: sensor offline"
    assert call_tool(None, "ghost", "{}").startswith("error: there is no tool")
    assert call_tool(get_weather, "get_weather", "not json").startswith("error: JSONDecodeError")


def tool_call_stream(calls):
    """A stream whose tool-call arguments arrive split across chunks."""
    chunks = []
    for i, (cid, name, args) in enumerate(calls):
        half = len(args) // 2
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "id": cid, "type": "function",
             "function": {"name": name, "arguments": args[:half]}}]}}]})
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "function": {"arguments": args[half:]}}]}}]})
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
                   "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}})
    return Reply(events=sse(*chunks))


def test_streamed_tool_call_deltas_are_assembled(zhipu):
    zhipu.push(tool_call_stream([("call_1", "get_weather", '{"city": "北京", "unit": "c"}'),
                                 ("call_2", "broken", '{"x": 3}')]))
    with Client(provider="zhipu") as c:
        s = c.chat.completions.create(model="glm-4", messages=M, stream=True,
                                      tools=[tool_schema(get_weather)], tool_choice="auto")
        list(s)
    calls = s.completion().choices[0].message.tool_calls
    assert [(t.id, t.function.name, t.function.arguments) for t in calls] == [
        ("call_1", "get_weather", '{"city": "北京", "unit": "c"}'),
        ("call_2", "broken", '{"x": 3}')]
    assert zhipu.received[-1].json["tool_choice"] == "auto"


def test_tools_loop_in_the_magic(shell, zhipu, capsys):
    shell.user_ns.update(get_weather=get_weather, broken=broken)
    zhipu.push(tool_call_stream([("call_1", "get_weather", '{"city": "北京"}'),
                                 ("call_2", "broken", '{"x": 3}')]))
    shell.run_cell_magic("glm", "--tools get_weather,broken", "北京天气怎么样?")
    out = capsys.readouterr().out
    assert '[tool] get_weather({"city": "北京"})' in out and "sensor offline" in out
    final = zhipu.received[-1].json
    tools_sent = [t["function"]["name"] for t in final["tools"]]
    assert tools_sent == ["get_weather", "broken"]
    msgs = final["messages"]
    assert msgs[1]["role"] == "assistant" and msgs[1]["tool_calls"][0]["id"] == "call_1"
    assert msgs[2] == {"role": "tool", "content": json.dumps(
        {"city": "北京", "temp": 21, "unit": "c"}, ensure_ascii=False), "tool_call_id": "call_1"}
    assert msgs[3]["content"] == "error: RuntimeError: sensor offline"
    assert shell.user_ns["_glm"].text.startswith("echo: error: RuntimeError")
    assert len(glm_magic.usage()) == 2  # one ledger row per round
    with pytest.raises(UsageError, match="not a function"):
        shell.run_cell_magic("glm", "--tools nothing_here", "x")


def test_tools_loop_stops_after_max_rounds(shell, zhipu, capsys):
    shell.user_ns["get_weather"] = get_weather
    for _ in range(3):
        zhipu.push(tool_call_stream([("c", "get_weather", '{"city": "x"}')]))
    shell.run_cell_magic("glm", "--tools get_weather --max-rounds 2 --once", "loop")
    assert "stopped after 2 tool rounds" in capsys.readouterr().out
    assert "_once_" not in "".join(glm_magic.session().chats)


# --- web search, retrieval, thinking ---------------------------------------------------------------------------
def test_web_search_results_are_listed(shell, zhipu, capsys):
    refs = [{"title": "GLM-4 发布", "link": "https://example.com/glm4", "content": "..."}]
    zhipu.push(Reply(body={**completion_body("answer", "glm-4"), "web_search": refs}))
    shell.run_cell_magic("glm", "--web-search --no-stream --retrieval kb-123", "news?")
    tools = zhipu.received[-1].json["tools"]
    assert tools == [{"type": "web_search", "web_search": {"enable": True,
                                                           "search_result": True}},
                     {"type": "retrieval", "retrieval": {"knowledge_id": "kb-123"}}]
    assert "GLM-4 发布 https://example.com/glm4" in capsys.readouterr().out


def test_web_is_the_short_spelling_of_web_search(shell, zhipu):
    shell.run_cell_magic("glm", "--web --no-stream", "news?")
    assert zhipu.received[-1].json["tools"] == [
        {"type": "web_search", "web_search": {"enable": True, "search_result": True}}]


def test_thinking_is_streamed_shown_and_kept_out_of_history(shell, zhipu):
    from IPython.utils.capture import capture_output

    chunks = [{"choices": [{"index": 0, "delta": {"reasoning_content": "let me think "}}]},
              {"choices": [{"index": 0, "delta": {"reasoning_content": "hard"}}]},
              {"choices": [{"index": 0, "delta": {"content": "42"}}]},
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 5, "completion_tokens": 30, "total_tokens": 35,
                         "completion_tokens_details": {"reasoning_tokens": 28}}}]
    zhipu.push(Reply(events=sse(*chunks)))
    shell.run_line_magic("config", "GLMMagics.output = 'notebook'")
    with capture_output() as cap:
        shell.run_cell_magic("glm", "--thinking -m glm-4.6", "meaning of life?")
    assert zhipu.received[-1].json["thinking"] == {"type": "enabled"}
    md = [o.data["text/html"] for o in cap.outputs if "glm-thinking" in o.data.get("text/html",
                                                                                    "")][-1]
    assert "<summary>thinking</summary>" in md and "let me think hard" in md
    assert md.rstrip().endswith("<p>42</p>")
    comp = shell.user_ns["_glm"]
    assert comp.choices[0].message.reasoning_content == "let me think hard"
    assert comp.usage.reasoning_tokens == 28
    assert glm_magic.session().chats["default"].messages[-1] == {"role": "assistant",
                                                                 "content": "42"}
    shell.run_cell_magic("glm", "--no-thinking", "again")
    assert zhipu.received[-1].json["thinking"] == {"type": "disabled"}
    assert zhipu.received[-1].json["messages"][1] == {"role": "assistant", "content": "42"}
