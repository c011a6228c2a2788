"""What `Client` and `AsyncClient` share: the provider and its limits, the API surfaces bound to
the client, who is told of each call (the hooks, or an observer a session pins), the retry
rule, and how a request is built; plus how a whole answer is handed back or turned into the one
chunk of a stream."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from .. import errors
from ..config import env_value, source_of
from ..providers import make_provider
from ..providers.base import HTTPRequest, Provider
from ..types import Chunk, Completion, Usage, text_chunk
from . import responses, transport
from .hooks import AttemptReport, CallHooks, CallObserver, default_hooks
from .resources.batches import Batches
from .resources.chat import Chat
from .resources.embeddings import Embeddings
from .resources.file_parser import FileParser
from .resources.files import Files
from .resources.images import Images
from .resources.tokenizer import Tokenizer
from .resources.web import Moderations, Tools, Videos, WebReader, WebSearch
from .streams import AsyncStream, Stream, StreamCore
from .transport import MAX_RESPONSE_BYTES, Deadline, as_timeout

DEFAULT_BACKOFF_S = 0.5  # backoff_delay's first wait
RESOURCES = ("chat", "images", "embeddings", "tokenizer", "files", "batches", "web_search",
             "web_reader", "moderations", "videos", "tools", "file_parser")


T = TypeVar("T")


def surface(make: Callable[[Any], T]) -> functools.cached_property[T]:
    """An API surface of a client (`client.chat`, `client.files`, …): made from the client
    the first time it is used, then kept on it."""
    return functools.cached_property(make)


class BaseClient:
    def __init__(self, provider: str | Provider | None = None, *, api_key: str | None = None,
                 base_url: str | None = None, auth: str | None = None,
                 timeout: float | httpx.Timeout | None = None, max_retries: int = 3,
                 deadline: float | None = None, max_response_bytes: int = MAX_RESPONSE_BYTES,
                 model_path: str | None = None,
                 on_retry: Callable[[AttemptReport], None] | None = None,
                 record: bool = True, source: str = "client",
                 backoff_s: float = DEFAULT_BACKOFF_S, hooks: CallHooks | None = None,
                 **options: Any) -> None:
        """`timeout` limits each read (and the wait for headers); `deadline` limits a whole
        attempt (default: a non-streamed answer must be complete within the read timeout; a
        stream runs while content keeps coming). `max_response_bytes` caps any response.
        `record`: chat calls are told to `hooks` (default: the ones the package registers,
        which book them in the kernel session's ledger under `source`, `glm_magic.usage()`);
        False leaves them out. `on_retry`: also told of every retried attempt. `backoff_s`:
        the first wait before a retry (doubling each time) when the server names none."""
        if isinstance(provider, Provider):
            self.provider = provider
        else:
            self.provider = make_provider(provider, api_key=api_key, base_url=base_url,
                                          auth=auth, model_path=model_path, **options)
        self.timeout = as_timeout(timeout)
        self.deadline = None if deadline is None else float(deadline)
        self.provider.fetch = functools.partial(transport.small_request,
                                                provider=self.provider.name,
                                                timeout=self.timeout, deadline=self.deadline)
        self.max_response_bytes = int(max_response_bytes)
        self.max_retries = max(0, int(max_retries))
        self.record = bool(record)
        self.source = source
        self.backoff_s = max(0.0, float(backoff_s))
        self.on_retry = on_retry
        self.hooks = hooks
        self._pinned: CallObserver | None = None  # see with_observer
        self._fingerprint = self._credential_fingerprint()

    # the API surfaces, each bound to this client when first used (a session pins a copy of
    # its client on every call: building six surfaces each time was most of that copy's cost)
    chat = surface(Chat)
    images = surface(Images)
    embeddings = surface(Embeddings)
    tokenizer = surface(Tokenizer)
    files = surface(Files)
    batches = surface(Batches)
    web_search = surface(WebSearch)
    web_reader = surface(WebReader)
    moderations = surface(Moderations)
    videos = surface(Videos)
    tools = surface(Tools)
    file_parser = surface(FileParser)

    def recorded_json(self, build: Callable[[], Any], parse: Callable[[Any], Any],
                      body: dict, recorded_as: str, *, stream: bool = False) -> Any:
        """One JSON call priced per call (web search, the reader, moderation, the file
        parser): the hooks are told of it like a chat call, so it is a ledger row under
        `recorded_as` and the budget may refuse it; a failure is a row too. `stream`: the
        answer is a stream of JSON events, reported when it ends."""
        observer = self._observer({"model": recorded_as, "messages": []})
        call = self._events if stream else self._json
        if observer is None:
            return call(build, parse, body)
        started = time.perf_counter()

        def ended(err: errors.GLMError | None = None) -> None:
            if err is not None:
                observer.failed(err)
                return
            observer.finished(Completion(provider=self.provider.name, model=recorded_as,
                                         latency_s=time.perf_counter() - started,
                                         usage=Usage(0, 0, 0), units=1))

        extra = {"on_end": ended} if stream else {}
        if self.is_async:
            async def run() -> Any:
                try:
                    result = await call(build, parse, body, **extra)
                except errors.GLMError as err:
                    ended(err)
                    raise
                if not stream:
                    ended()
                return result
            return run()
        try:
            result = call(build, parse, body, **extra)
        except errors.GLMError as err:
            ended(err)
            raise
        if not stream:
            ended()
        return result

    def with_observer(self, observer: CallObserver) -> Any:
        """This client (same connections, same settings) with every request of one call told
        to `observer`: how a session records the call it is making."""
        other = self._copy()
        other._pinned = observer
        return other

    def with_source(self, source: str, hooks: CallHooks | None = None) -> Any:
        """This client (same connections, same settings) recording its calls under `source`
        through `hooks` (default: the registered ones) — how the magic's tool commands
        become `magic` rows in their session's ledger."""
        other = self._copy()
        other.source, other.record = source, True
        if hooks is not None:
            other.hooks = hooks
        return other

    def _copy(self) -> Any:
        import copy

        other = copy.copy(self)
        for name in RESOURCES:  # the copy's surfaces are bound to the copy
            other.__dict__.pop(name, None)
        return other

    def _observer(self, body: dict) -> CallObserver | None:
        """Who is told of this chat call: the pinned observer, else the hooks' (which may
        refuse the call), else nobody."""
        if self._pinned is not None:
            return self._pinned
        if not self.record:
            return None
        hooks = self.hooks or default_hooks()
        return hooks.started(self.provider, body, self.source) if hooks is not None else None

    def _cached(self, observer: CallObserver | None, body: dict) -> Completion | None:
        """The answer the observer already holds for `body` (the response cache), if any;
        an observer may also refuse the call here (a replay without the answer)."""
        ask = getattr(observer, "cached", None)
        return ask(self.provider, body) if ask is not None else None

    def _credential_fingerprint(self) -> str:
        """A digest (never the key itself) of the environment the credentials came from."""
        import hashlib

        values = "\0".join(f"{env_value(v) or ''}\0{source_of(v)}"
                           for v in self.provider.credential_envs())
        return hashlib.sha256(values.encode("utf-8", "surrogatepass")).hexdigest()

    def credentials_changed(self) -> bool:
        """True when the key or base URL in the environment or `.env` changed since this client
        was made (so a session builds a new one for the next call)."""
        return self._credential_fingerprint() != self._fingerprint

    def __repr__(self) -> str:
        p = self.provider
        return (f"{type(self).__name__}(provider={p.name!r}, base_url={p.base_url!r}, "
                f"api_key={p.masked_key})")

    def _retry_delay(self, err: errors.GLMError, attempt: int) -> float | None:
        forced = getattr(err, "_forced", False)
        ok = err.retryable if forced else self.provider.is_retryable(err)
        if not ok or attempt > self.max_retries:
            return None
        delay = responses.backoff_delay(attempt, err.retry_after)  # one place to tune
        if err.retry_after is None and self.backoff_s != DEFAULT_BACKOFF_S:
            delay *= self.backoff_s / DEFAULT_BACKOFF_S  # the caller's own schedule
        return delay

    def _report(self, attempt: int, err: errors.GLMError, t0: float, body: dict,
                observer: CallObserver | None) -> None:
        if observer is None and self.on_retry is None:
            return
        report = AttemptReport(attempt, err, time.perf_counter() - t0, self.provider.name,
                               str(body.get("model", "")))
        if observer is not None:
            observer.retried(report)
        if self.on_retry is not None:
            self.on_retry(report)

    def _request(self, body: dict, stream: bool, headers: dict[str, str]) -> HTTPRequest:
        self.provider.validate(body)
        req = self.provider.prepare(body, stream)
        req.headers.update(headers)
        return req

    def _build(self, req: HTTPRequest, timeout: httpx.Timeout) -> httpx.Request:
        if req.files is not None:  # multipart: httpx sets the boundary and content type
            return self._http.build_request(req.method, req.url, headers=req.headers,
                                            files=req.files, data=req.data, params=req.params,
                                            timeout=timeout)
        return self._http.build_request(req.method, req.url, headers=req.headers,
                                        json=req.json, params=req.params, timeout=timeout)

    def _core(self, t0: float, attempt: int, body: dict, deadline: Deadline | None
              ) -> StreamCore:
        core = StreamCore(self.provider, t0, attempt, deadline, transport.answer_limit(body),
                          self.max_response_bytes)
        core.hide_usage_chunks = bool(getattr(self.provider, "adds_usage_chunk", False)
                                      and "stream_options" not in body)
        return core


def is_stream(r: httpx.Response, stream: bool) -> bool:
    return stream and r.status_code < 300 and "json" not in r.headers.get("content-type", "")


def observed(observer: CallObserver | None, result: Any) -> Any:
    """Tell the observer how the call ended: now for a whole answer, when the stream ends
    for a stream."""
    if observer is None:
        return result
    if isinstance(result, (Stream, AsyncStream)):
        result.on_done = observer.finished
    else:
        observer.finished(result)
    return result


def as_chunk(c: Completion) -> Chunk:
    """A whole JSON answer to a stream request, as the one chunk of its stream."""
    msg = c.choices[0].message if c.choices else None
    chunk = text_chunk(msg.content or "" if msg else "", model=c.model, id=c.id,
                       usage=c.usage, finish_reason=c.finish_reason or "stop", raw=c.raw,
                       reasoning=msg.reasoning_content if msg else None)
    chunk.web_search = c.web_search
    chunk.request_id = c.request_id
    if c.extra:  # e.g. Qianfan's need_clear_history: the session acts on it
        chunk.extra = dict(c.extra)
    if msg is not None and msg.tool_calls and chunk.choices:
        chunk.choices[0].delta.tool_calls = msg.tool_calls
    return chunk


def check_filtered(c: Completion) -> None:
    if c.finish_reason == "sensitive":
        c.status = "filtered"
        raise errors.ContentFilterError(
            "the answer was blocked by moderation (finish_reason 'sensitive')",
            provider=c.provider, request_id=c.request_id, partial=c)
