"""Streams behave like the official SDKs' loops expect: every chunk that arrived before an
error is yielded first, and no usage-only chunk the caller did not ask for."""

from __future__ import annotations

import pytest

import glm_magic
from glm_magic import errors
from glm_magic.testing.loopback import Reply, sse
from glm_magic.testing.zhipu import stream_frames

MSGS = [{"role": "user", "content": "hi"}]


def _content_then_error():
    content = stream_frames("one two three", "glm-4-flash", pieces=3, done=False)[:3]
    error = sse({"error": {"code": "1301", "message": "unsafe content"}}, done=False)
    return [b"".join(content + error)]  # one network write: chunks and the error together


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_chunks_before_an_error_in_the_same_read_are_yielded_first(zhipu, kind):
    import asyncio

    zhipu.push(Reply(events=_content_then_error()))
    seen: list[str] = []
    with pytest.raises(errors.GLMError) as info:
        if kind == "sync":
            with glm_magic.Client("zhipu", max_retries=0, record=False) as c:
                for chunk in c.chat.completions.create(model="glm-4-flash", messages=MSGS,
                                                       stream=True):
                    seen.append(chunk.choices[0].delta.content)
        else:
            async def go():
                async with glm_magic.AsyncClient("zhipu", max_retries=0, record=False) as c:
                    stream = await c.chat.completions.create(model="glm-4-flash",
                                                             messages=MSGS, stream=True)
                    async for chunk in stream:
                        seen.append(chunk.choices[0].delta.content)
            asyncio.run(go())
    assert len(seen) == 3 and "".join(seen) == info.value.partial.text


def test_no_usage_only_chunk_unless_asked(oai):
    with glm_magic.Client("openai", max_retries=0, record=False) as c:
        stream = c.chat.completions.create(model="gpt-x", messages=MSGS, stream=True)
        deltas = [chunk.choices[0].delta.content for chunk in stream]  # the SDK's loop
        assert stream.completion().usage.total_tokens == 12  # the usage still counts
        assert "".join(d or "" for d in deltas) == "echo: hi"
        asked = list(c.chat.completions.create(model="gpt-x", messages=MSGS, stream=True,
                                               stream_options={"include_usage": True}))
    assert asked[-1].choices == [] and asked[-1].usage.total_tokens == 12


def test_a_total_only_usage_is_priced_as_an_estimate(zhipu):
    from glm_magic.recording import Call, Recorder

    from glm_magic.types import Choice, Completion, Message, Usage

    rec = Recorder(":memory:")
    call = Call("c1", "zhipu", "glm-4-plus", "api", None,
                [{"role": "user", "content": "hello there, how are you"}], {})
    comp = Completion(provider="zhipu", model="glm-4-plus", usage=Usage(0, 0, 40),
                      choices=[Choice(0, Message("assistant", "fine"), "stop")])
    rec.price(call, comp)
    u = comp.usage
    assert u.estimated and u.prompt_tokens > 0 and u.prompt_tokens + u.completion_tokens == 40
    assert comp.cost > 0 and comp.cost_status == "estimated"


@pytest.mark.parametrize("name", ["ChatGLM-Pro", "chatglm-std", "CHATGLM_LITE"])
def test_the_seeds_model_spellings_price(name):
    from glm_magic import pricing

    assert pricing.lookup("zhipu_v3", name) is not None


def test_qianfan_top_p_is_checked_before_sending(qf):
    with glm_magic.Client("qianfan", max_retries=0, record=False) as c, \
            pytest.raises(errors.BadRequestError, match=r"top_p must be in \(0, 1\]"):
        c.chat.completions.create(model="ERNIE-Speed-8K", messages=MSGS, top_p=1.5)
    assert not qf.requests_to("/chat/")


def test_qianfan_need_clear_history_survives_a_json_answer_to_a_stream(qf):
    answer = qf.app

    def json_body(rec):
        if rec.path == "/oauth/2.0/token":
            return answer(rec)
        return Reply(body={"id": "as-9", "result": "unsafe", "is_truncated": False,
                           "need_clear_history": True, "ban_round": 1,
                           "usage": {"prompt_tokens": 3, "completion_tokens": 1,
                                     "total_tokens": 4}})

    qf.app = json_body
    s = glm_magic.Session()
    s.complete("first", provider="qianfan", model="ERNIE-Speed-8K")  # a stream request
    assert s.chat().messages == []  # cleared, as the flag asks
    assert any("need_clear_history" in n for n in s.drain_notices())
