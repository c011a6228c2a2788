"""The bundled local model through the same call shapes as the HTTP providers."""

from __future__ import annotations

import asyncio

import pytest

from glm_magic import AsyncClient, Client, errors

pytestmark = pytest.mark.local
Q = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def local():
    with Client(provider="local") as c:
        yield c


def test_non_stream_answers_with_usage(local):
    r = local.chat.completions.create(messages=Q, temperature=0, max_tokens=32)
    assert "Paris" in r.choices[0].message.content
    assert r.provider == "local" and r.model.startswith("gemma-3-270m")
    assert r.usage.prompt_tokens > 5 and r.usage.completion_tokens > 0
    assert r.finish_reason in ("stop", "length")


def test_stream_matches_non_stream_at_temperature_zero(local):
    whole = local.chat.completions.create(messages=Q, temperature=0, max_tokens=32).text
    s = local.chat.completions.create(messages=Q, temperature=0, max_tokens=32, stream=True)
    parts = [c.choices[0].delta.content for c in s]
    assert len([p for p in parts if p]) > 2  # really streamed, piece by piece
    comp = s.completion()
    assert comp.text == whole
    assert comp.usage.completion_tokens >= len([p for p in parts if p])
    assert comp.ttft_s is not None and not comp.usage.estimated


def test_model_is_loaded_once(local):
    from glm_magic.providers import local as local_mod

    local.chat.completions.create(messages=Q, temperature=0, max_tokens=4)
    with Client(provider="local") as other:
        other.chat.completions.create(messages=Q, temperature=0, max_tokens=4)
    chat_models = [key for key in local_mod._models if not key[2]]  # key[2]: embedding
    assert len(chat_models) == 1


def test_max_tokens_and_stop(local):
    r = local.chat.completions.create(messages=Q, temperature=0, max_tokens=2)
    assert r.usage.completion_tokens <= 2 and r.finish_reason == "length"


def test_async_local_stream(local):
    async def main():
        c = AsyncClient(provider="local")
        s = await c.chat.completions.create(messages=Q, temperature=0, max_tokens=16,
                                            stream=True)
        return "".join([ch.text async for ch in s])

    assert "Paris" in asyncio.run(main())


def test_missing_model_file_is_clear(monkeypatch):
    monkeypatch.setenv("GLM_MAGIC_LOCAL_MODEL", "/nonexistent/model.gguf")
    with Client(provider="local") as c, pytest.raises(errors.ConfigurationError,
                                                      match="not found"):
        c.chat.completions.create(messages=Q)


def test_transcript_prompt_for_base_models():
    from glm_magic.providers.local import transcript

    assert transcript([{"role": "system", "content": "Be brief."},
                       {"role": "user", "content": "Hi"}]) == \
        "System: Be brief.\nUser: Hi\nAssistant:"


def test_default_provider_falls_back_to_local_once(capsys):
    from glm_magic import providers

    providers._notified_fallback = False
    assert Client().provider.name == "local"
    Client()
    out = capsys.readouterr().out  # a notice, not an error: stdout, not red stderr
    assert out.count("using the bundled local model") == 1 and "ZHIPUAI_API_KEY" in out
