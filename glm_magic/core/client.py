"""`Client` and `AsyncClient`: the request pipeline (auth → send → retry → error mapping)
over httpx, with the call shape of the official SDKs: `client.chat.completions.create(...)`.
Streams live in `streams.py`, the API surfaces in `resources/`, the bounded transport
(deadlines, size caps, no redirects) in `transport.py`."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from .. import errors
from .._secrets import install_log_filter, mask
from ..config import env_value, source_of
from ..providers import make_provider
from ..providers.base import HTTPRequest, Provider
from ..types import Chunk, Completion, text_chunk
from . import transport
from .hooks import AttemptReport, CallHooks, CallObserver, default_hooks
from .resources.batches import Batches
from .resources.chat import Chat
from .resources.embeddings import Embeddings
from .resources.files import Files
from .resources.images import Images
from .resources.tokenizer import Tokenizer
from .responses import MAX_BACKOFF_S as MAX_BACKOFF_S  # re-exported: retry timing lives there
from .responses import MAX_RETRY_AFTER_S as MAX_RETRY_AFTER_S
from .responses import backoff_delay, check_status, parse_body
from .responses import retry_after as retry_after
from .streams import AsyncStream, Stream, StreamCore
from .transport import (
    DEFAULT_TIMEOUT,
    MAX_RESPONSE_BYTES,
    Deadline,
    as_timeout,
    is_transport_error,
)

install_log_filter()
_StreamCore = StreamCore  # the name older code imports
__all__ = ["AsyncClient", "AsyncStream", "Client", "Stream", "DEFAULT_TIMEOUT"]


_timeout = as_timeout
DEFAULT_BACKOFF_S = 0.5  # backoff_delay's first wait


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
        self._attach()
        self._fingerprint = self._credential_fingerprint()

    def _attach(self) -> None:
        """The API surfaces, each bound to this client."""
        self.chat = Chat(self)
        self.images = Images(self)
        self.embeddings = Embeddings(self)
        self.tokenizer = Tokenizer(self)
        self.files = Files(self)
        self.batches = Batches(self)

    def with_observer(self, observer: CallObserver) -> Any:
        """This client (same connections, same settings) with every request of one call told
        to `observer`: how a session records the call it is making."""
        import copy

        other = copy.copy(self)
        other._pinned = observer
        other._attach()
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
                f"api_key={mask(getattr(p, '_api_key', None))})")

    def _retry_delay(self, err: errors.GLMError, attempt: int) -> float | None:
        forced = getattr(err, "_forced", False)
        ok = err.retryable if forced else self.provider.is_retryable(err)
        if not ok or attempt > self.max_retries:
            return None
        delay = backoff_delay(attempt, err.retry_after)
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


def _is_stream(r: httpx.Response, stream: bool) -> bool:
    return stream and r.status_code < 300 and "json" not in r.headers.get("content-type", "")


class Client(BaseClient):
    """Synchronous client. `Client()` picks the provider from the environment (zhipu when
    ZHIPUAI_API_KEY is set, else the bundled local model)."""

    is_async = False

    def __init__(self, provider: str | Provider | None = None, **kwargs: Any) -> None:
        http_client = kwargs.pop("http_client", None)
        super().__init__(provider, **kwargs)
        self._http = http_client or transport.sync_http(
            self.timeout, self.provider.http_transport(),
            plain_http=self.provider.base_url.startswith("http://"))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self, body: dict, stream: bool, timeout: httpx.Timeout,
                headers: dict[str, str]) -> Completion | Stream:
        observer = self._observer(body)
        try:
            result = self._retrying(
                lambda t0, attempt: self._once(body, stream, timeout, headers, t0, attempt),
                body, observer)
        except errors.GLMError as err:
            if observer is not None:
                observer.failed(err)
            raise
        return _observed(observer, result)

    def _retrying(self, once: Callable[[float, int], Any], body: dict,
                  observer: CallObserver | None = None) -> Any:
        """Run `once(t0, attempt)` until it succeeds or the error is final (see retry rules)."""
        attempt, refreshed = 0, False
        while True:
            attempt += 1
            t0 = time.perf_counter()
            try:
                return once(t0, attempt)
            except errors.GLMError as err:
                if not refreshed and self.provider.on_auth_failure(err):
                    refreshed = True
                    continue
                delay = self._retry_delay(err, attempt)
                err.attempt = attempt  # type: ignore[attr-defined]
                if delay is None:
                    raise
                self._report(attempt, err, t0, body, observer)
                time.sleep(delay)

    def _exchange(self, req: HTTPRequest, timeout: httpx.Timeout, stream: bool
                  ) -> tuple[httpx.Response, bytes | None, Deadline]:
        """Send; for a streamed answer return the open response, else read the whole body
        (bounded in time and size). Transport failures become our errors, with nothing of
        the request (headers, token-bearing URLs) left in the exception chain."""
        name = self.provider.name
        headers_by, body_by = transport.attempt_deadlines(timeout, self.deadline, stream)
        try:
            r = transport.send(self._http, self._build(req, timeout), headers_by)
            if _is_stream(r, stream):
                transport.follow(r, body_by)
                return r, None, body_by
            if stream:  # a JSON answer to a stream request (an error, or one whole body)
                body_by = transport.attempt_deadlines(timeout, self.deadline, False)[1]
            return r, transport.read_body(r, body_by, name, self.max_response_bytes), body_by
        except errors.GLMError:
            raise
        except Exception as exc:
            if not is_transport_error(exc):
                raise
            err = transport.transport_error(exc, name)
        raise err

    def _json(self, build: Callable[[], HTTPRequest], parse: Callable[[Any], Any],
              body: dict) -> Any:
        """One JSON request/response exchange (tasks, images) with the same retries."""
        def once(t0: float, attempt: int) -> Any:
            r, content, _ = self._exchange(build(), self.timeout, False)
            check_status(self.provider, r, content or b"")
            return parse_body(self.provider, parse, content or b"", r.status_code)

        return self._retrying(once, body, self._pinned)

    def _raw(self, build: Callable[[], HTTPRequest]) -> Any:
        """A download (a file's bytes) with the same retries and size cap."""
        from ..types import FileContent

        def once(t0: float, attempt: int) -> Any:
            r, content, _ = self._exchange(build(), self.timeout, False)
            check_status(self.provider, r, content or b"")
            return FileContent(content or b"")

        return self._retrying(once, {"model": ""})

    def _once(self, body: dict, stream: bool, timeout: httpx.Timeout, headers: dict[str, str],
              t0: float, attempt: int) -> Completion | Stream:
        r, content, body_by = self._exchange(self._request(body, stream, headers), timeout,
                                             stream)
        if content is None:
            return Stream(self._core(t0, attempt, body, body_by), r.iter_bytes(), r.close)
        check_status(self.provider, r, content)
        result = parse_body(self.provider, self.provider.parse_completion, content, r.status_code)
        result.latency_s, result.attempt = time.perf_counter() - t0, attempt
        if stream:  # the server answered a stream request with one JSON body
            core = self._core(t0, attempt, body, None)
            return Stream(core, None, lambda: None, iter([_as_chunk(result)]))
        _check_filtered(result)
        return result


def _async_http(timeout: httpx.Timeout, in_process: Any = None) -> httpx.AsyncClient:
    """httpx's API over aiohttp's connection pool when httpx-aiohttp is installed: httpx's own
    async pool serialises badly at high concurrency (200 requests at concurrency 32 took
    0.71 s with it and 0.085 s with aiohttp in bench/); plain httpx otherwise. Redirects are
    never followed (they could take the key to another host). `in_process`: a transport that
    answers without the network (the local model)."""
    if in_process is not None:
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=in_process)
    try:
        from httpx_aiohttp import HttpxAiohttpClient
    except ImportError:  # pragma: no cover
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    return HttpxAiohttpClient(timeout=timeout, follow_redirects=False)


class AsyncClient(BaseClient):
    """Asynchronous twin of `Client`: `await client.chat.completions.create(...)`."""

    is_async = True

    def __init__(self, provider: str | Provider | None = None, **kwargs: Any) -> None:
        http_client = kwargs.pop("http_client", None)
        super().__init__(provider, **kwargs)
        self._http = http_client or _async_http(self.timeout, self.provider.http_transport())

    async def close(self) -> None:
        await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _create(self, body: dict, stream: bool, timeout: httpx.Timeout,
                      headers: dict[str, str]) -> Completion | AsyncStream:
        observer = self._observer(body)
        try:
            result = await self._retrying(
                lambda t0, attempt: self._once(body, stream, timeout, headers, t0, attempt),
                body, observer)
        except errors.GLMError as err:
            if observer is not None:
                observer.failed(err)
            raise
        return _observed(observer, result)

    async def _retrying(self, once: Callable[[float, int], Any], body: dict,
                        observer: CallObserver | None = None) -> Any:
        import asyncio

        attempt, refreshed = 0, False
        while True:
            attempt += 1
            t0 = time.perf_counter()
            try:
                return await once(t0, attempt)
            except errors.GLMError as err:
                if not refreshed and await asyncio.to_thread(self.provider.on_auth_failure, err):
                    refreshed = True
                    continue
                delay = self._retry_delay(err, attempt)
                err.attempt = attempt  # type: ignore[attr-defined]
                if delay is None:
                    raise
                self._report(attempt, err, t0, body, observer)
                await asyncio.sleep(delay)

    async def _prepared(self, build: Callable[[], HTTPRequest]) -> HTTPRequest:
        if getattr(self.provider, "blocking_auth", False):  # a token fetch blocks: a thread
            import asyncio

            return await asyncio.to_thread(build)
        return build()

    async def _exchange(self, req: HTTPRequest, timeout: httpx.Timeout, stream: bool
                        ) -> tuple[httpx.Response, bytes | None, Deadline]:
        name = self.provider.name
        headers_by, body_by = transport.attempt_deadlines(timeout, self.deadline, stream)
        try:
            r = await transport.asend(self._http, self._build(req, timeout), headers_by, name)
            if _is_stream(r, stream):
                return r, None, body_by
            if stream:
                body_by = transport.attempt_deadlines(timeout, self.deadline, False)[1]
            content = await transport.aread_body(r, body_by, name, self.max_response_bytes)
            return r, content, body_by
        except errors.GLMError:
            raise
        except Exception as exc:
            if not is_transport_error(exc):
                raise
            err = transport.transport_error(exc, name)
        raise err

    async def _json(self, build: Callable[[], HTTPRequest], parse: Callable[[Any], Any],
                    body: dict) -> Any:
        async def once(t0: float, attempt: int) -> Any:
            r, content, _ = await self._exchange(await self._prepared(build), self.timeout,
                                                 False)
            check_status(self.provider, r, content or b"")
            return parse_body(self.provider, parse, content or b"", r.status_code)

        return await self._retrying(once, body, self._pinned)

    async def _raw(self, build: Callable[[], HTTPRequest]) -> Any:
        from ..types import FileContent

        async def once(t0: float, attempt: int) -> Any:
            r, content, _ = await self._exchange(await self._prepared(build), self.timeout,
                                                 False)
            check_status(self.provider, r, content or b"")
            return FileContent(content or b"")

        return await self._retrying(once, {"model": ""})

    async def _once(self, body: dict, stream: bool, timeout: httpx.Timeout,
                    headers: dict[str, str], t0: float, attempt: int) -> Completion | AsyncStream:
        req = await self._prepared(lambda: self._request(body, stream, headers))
        r, content, body_by = await self._exchange(req, timeout, stream)
        del req
        if content is None:
            return AsyncStream(self._core(t0, attempt, body, body_by), r.aiter_bytes(),
                               r.aclose)
        check_status(self.provider, r, content)
        result = parse_body(self.provider, self.provider.parse_completion, content, r.status_code)
        result.latency_s, result.attempt = time.perf_counter() - t0, attempt
        if stream:
            core = self._core(t0, attempt, body, None)
            return AsyncStream(core, None, lambda: None, _aiter([_as_chunk(result)]))
        _check_filtered(result)
        return result


def _observed(observer: CallObserver | None, result: Any) -> Any:
    """Tell the observer how the call ended: now for a whole answer, when the stream ends
    for a stream."""
    if observer is None:
        return result
    if isinstance(result, (Stream, AsyncStream)):
        result.on_done = observer.finished
    else:
        observer.finished(result)
    return result


async def _aiter(items: list[Chunk]) -> AsyncIterator[Chunk]:
    for item in items:
        yield item


def _as_chunk(c: Completion) -> Chunk:
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


def _check_filtered(c: Completion) -> None:
    if c.finish_reason == "sensitive":
        c.status = "filtered"
        raise errors.ContentFilterError(
            "the answer was blocked by moderation (finish_reason 'sensitive')",
            provider=c.provider, request_id=c.request_id, partial=c)

