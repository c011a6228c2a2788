"""provider="openai" against a real peer: llama-cpp-python's own OpenAI-compatible server
running the bundled model on loopback (it sends no usage in streams: we count)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

import glm_magic
from glm_magic import Client
from tests.servers import free_port

pytestmark = pytest.mark.local
Q = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def llama_server():
    from glm_magic.providers.local import bundled_model_path

    port = free_port()
    # the bundled base model has no chat template; vicuna's USER:/ASSISTANT: transcript is
    # the server's format closest to what it continues sensibly (stop at "USER:")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", bundled_model_path(),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
         "--chat_format", "vicuna", "--verbose", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_sync_against_llama_server(llama_server):
    with Client(provider="openai", base_url=llama_server) as c:
        r = c.chat.completions.create(model="gemma", messages=Q, temperature=0, max_tokens=24,
                                      stop=["USER:"])
    assert r.text and r.usage.prompt_tokens > 0 and not r.usage.estimated


def test_stream_against_llama_server_counts_usage(llama_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    s = glm_magic.session()
    comp = s.complete("What is the capital of France?", provider="openai", model="gemma",
                      temperature=0, max_tokens=24, stop=["USER:"])
    assert comp.text and comp.usage.estimated and comp.usage.completion_tokens > 0
    row = glm_magic.usage().iloc[-1]
    assert row["provider"] == "openai" and bool(row["usage_estimated"])
    assert row["status"] == "ok" and row["ttft_s"] > 0
