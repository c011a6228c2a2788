"""`Client` and `AsyncClient`: one request pipeline (auth → send → retry → parse) over httpx,
with the call shape of the official SDKs: `client.chat.completions.create(...)`."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from . import errors
from ._json import loads
from ._secrets import install_log_filter, mask
from .config import load_dotenv, source_of
from .providers import make_provider
from .providers.base import STOP, HTTPRequest, Provider, body_summary
from .sse import SSEDecoder
from .types import Accumulator, Chunk, Completion, text_chunk

install_log_filter()
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 60.0


@dataclass
class AttemptReport:
    """A failed attempt that will be retried: what a ledger needs to show it."""

    attempt: int
    error: errors.GLMError
    elapsed_s: float
    provider: str
    model: str


def _timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, httpx.Timeout):
        return value
    return httpx.Timeout(float(value), connect=min(10.0, float(value)))


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (0.5 s · 2^n, at most 8 s), or the server's Retry-After."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER_S)
    return min(0.5 * 2 ** (attempt - 1), MAX_BACKOFF_S) * random.uniform(0.75, 1.0)


def _retry_after(headers: httpx.Headers) -> float | None:
    """The server's requested wait in seconds, made safe: `nan`, `inf`, negative values, far
    dates and garbage never stall or crash a caller (at most MAX_RETRY_AFTER_S)."""
    value = headers.get("retry-after-ms")
    seconds: float | None = None
    if value:
        try:
            seconds = float(value) / 1000
        except ValueError:
            seconds = None
    value = headers.get("retry-after")
    if seconds is None and value:
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, OverflowError, IndexError):
                seconds = None
    if seconds is None or seconds != seconds:  # absent or NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _transport_error(exc: Exception, provider: str, during: str = "") -> errors.GLMError:
    cause = exc.__cause__
    if cause is not None and type(cause).__module__.startswith("aiohttp"):
        # the aiohttp transport maps every ClientConnectionError to ConnectTimeout; a server
        # that hung up mid-answer is a lost connection, not a timeout
        name = type(cause).__name__
        if "Timeout" not in name and not isinstance(cause, asyncio.TimeoutError):
            return errors.APIConnectionError(f"{name}: {cause}{during}".rstrip(": "),
                                             provider=provider)
    if isinstance(exc, httpx.TimeoutException):
        kind = {httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "read",
                httpx.WriteTimeout: "write", httpx.PoolTimeout: "pool"}.get(type(exc), "")
        return errors.APITimeoutError(f"{kind} timeout{during}".strip(), provider=provider)
    msg = str(exc) or type(exc).__name__
    return errors.APIConnectionError(f"{msg}{during}", provider=provider)


def _error_from_response(provider: Provider, r: httpx.Response) -> errors.GLMError:
    try:
        body: Any = r.json()
    except ValueError:
        body = r.text
    err = provider.error_from(r.status_code, body, r.headers)
    if type(err) is errors.AuthenticationError:
        err.hint = (f"check the API key: {provider.describe_key()} was sent; it must belong "
                    f"to {provider.name} (a corrected key is used from the next call)")
    err.retry_after = _retry_after(r.headers)
    should = r.headers.get("x-should-retry")
    if should in ("true", "false"):
        err.retryable = should == "true"
        err._forced = True  # type: ignore[attr-defined]
    return err


def _json_body(provider: Provider, r: httpx.Response) -> Any:
    try:
        return loads(r.content)
    except ValueError as exc:
        raise errors.ProtocolError(body_summary(r.text) or "empty response body",
                                   provider=provider.name, status=r.status_code) from exc


def _parse_completion(provider: Provider, r: httpx.Response) -> Completion:
    body = _json_body(provider, r)
    try:
        return provider.parse_completion(body)
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        raise errors.ProtocolError(f"unexpected response body: {r.text[:80]!r}",
                                   provider=provider.name, status=r.status_code) from exc


class _StreamCore:
    """Stream parsing shared by the sync and async streams: bytes in, chunks out."""

    def __init__(self, provider: Provider, started: float, attempt: int) -> None:
        self.provider = provider
        self.decoder = SSEDecoder()
        self.acc = Accumulator()
        self.started = started
        self.attempt = attempt
        self.ttft_s: float | None = None
        self.ended_s: float | None = None
        self.finished = False
        self.error: errors.GLMError | None = None

    def feed(self, raw: bytes, final: bool = False) -> list[Chunk]:
        events = self.decoder.flush() if final else self.decoder.feed(raw)
        out = []
        parse = self._parse
        for ev in events:
            item = parse(ev)
            if item is None:
                continue
            if item is STOP:
                self.finished = True
                break
            if self.ttft_s is None:
                self.ttft_s = time.perf_counter() - self.started
            self.acc.add(item)
            out.append(item)
        return out

    def take(self, chunk: Chunk) -> Chunk:
        """A ready-made chunk (local model, JSON body): time and accumulate it."""
        if self.ttft_s is None:
            self.ttft_s = time.perf_counter() - self.started
        self.acc.add(chunk)
        return chunk

    def _parse(self, ev: Any) -> Any:
        try:
            return self.provider.parse_event(ev)
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            # valid JSON of an unexpected shape: a protocol error, not a crash
            raise errors.ProtocolError(f"unexpected stream event: {ev.data[:80]!r}",
                                       provider=self.provider.name) from exc

    def end(self) -> None:
        """The connection closed: was that the end of the answer, or a cut-off?"""
        self.ended_s = time.perf_counter()
        if not self.finished and (self.provider.needs_terminator and not self.acc.finish_reason):
            raise errors.ProtocolError("the stream ended before its terminator (truncated answer)",
                                       provider=self.provider.name)
        self.finished = True
        if self.acc.finish_reason == "sensitive":
            raise errors.ContentFilterError(
                "the answer was stopped by moderation (finish_reason 'sensitive')",
                provider=self.provider.name, request_id=self.acc.request_id)

    def fail(self, exc: BaseException) -> errors.GLMError:
        self.ended_s = time.perf_counter()
        if isinstance(exc, errors.GLMError):
            err = exc
        else:
            err = _transport_error(exc, self.provider.name, " mid-stream")
        self.error = err
        err.partial = self.completion()
        err.attempt = self.attempt  # type: ignore[attr-defined]
        return err

    def completion(self) -> Completion:
        c = self.acc.completion(self.provider.name)
        end = self.ended_s or time.perf_counter()
        c.latency_s = end - self.started
        c.ttft_s = self.ttft_s
        c.attempt = self.attempt
        if self.error is not None:
            c.status = "filtered" if isinstance(self.error, errors.ContentFilterError) else "error"
            c.error = str(self.error)
        elif not self.finished:
            c.status = "interrupted"
        return c


class Stream:
    """Iterate to get `Chunk`s; `completion()` gives what arrived so far as one Completion,
    also after an error or an interrupt. Closing it ends the HTTP response at once."""

    def __init__(self, core: _StreamCore, source: Iterator[bytes] | None,
                 close: Callable[[], None], chunks: Iterator[Chunk] | None = None) -> None:
        self._core = core
        self._source = source
        self._close = close
        self._chunks = chunks  # local provider / non-SSE body: chunks come ready-made

    def __iter__(self) -> Iterator[Chunk]:
        core = self._core
        try:
            if self._chunks is not None:
                for chunk in self._chunks:
                    yield core.take(chunk)
                core.finished = True
                core.end()
                return
            for raw in self._source:  # type: ignore[union-attr]
                yield from core.feed(raw)
                if core.finished:
                    break
            else:
                yield from core.feed(b"", final=True)
            core.end()
        except (errors.GLMError, httpx.HTTPError) as exc:
            raise core.fail(exc) from exc
        finally:
            self.close()

    def completion(self) -> Completion:
        return self._core.completion()

    @property
    def text(self) -> str:
        return self._core.acc.text

    def close(self) -> None:
        if self._core.ended_s is None:
            self._core.ended_s = time.perf_counter()
        self._close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStream:
    """`async for` twin of `Stream`."""

    def __init__(self, core: _StreamCore, source: Any, close: Callable[[], Any],
                 chunks: Any = None) -> None:
        self._core = core
        self._source = source
        self._close = close
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        core = self._core
        try:
            if self._chunks is not None:
                async for chunk in self._chunks:
                    yield core.take(chunk)
                core.finished = True
                core.end()
                return
            async for raw in self._source:
                for chunk in core.feed(raw):
                    yield chunk
                if core.finished:
                    break
            else:
                for chunk in core.feed(b"", final=True):
                    yield chunk
            core.end()
        except (errors.GLMError, httpx.HTTPError) as exc:
            raise core.fail(exc) from exc
        finally:
            await self.aclose()

    def completion(self) -> Completion:
        return self._core.completion()

    @property
    def text(self) -> str:
        return self._core.acc.text

    async def aclose(self) -> None:
        if self._core.ended_s is None:
            self._core.ended_s = time.perf_counter()
        res = self._close()
        if asyncio.iscoroutine(res):
            await res

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Completions:
    def __init__(self, client: _BaseClient) -> None:
        self._client = client

    def create(self, *, messages: list[dict[str, Any]], model: str | None = None,
               stream: bool = False, timeout: float | httpx.Timeout | None = None,
               extra_headers: dict[str, str] | None = None,
               extra_body: dict[str, Any] | None = None, **params: Any) -> Any:
        """Create a chat completion. Every keyword the API knows passes through as given."""
        body = {"model": model or self._client.provider.default_model, "messages": messages}
        body.update(params)
        if extra_body:
            body.update(extra_body)
        return self._client._create(body, stream, _timeout(timeout) if timeout is not None
                                    else self._client.timeout, extra_headers or {})


class _AsyncCompletions:
    """Zhipu's asynchronous tasks: submit now, fetch the answer later (the SDK's names)."""

    def __init__(self, client: _BaseClient) -> None:
        self._client = client

    def create(self, *, messages: list[dict[str, Any]], model: str | None = None,
               **params: Any) -> Any:
        """Submit a task → a Completion with `id` and `task_status` (PROCESSING)."""
        c = self._client
        body = {"model": model or c.provider.default_model, "messages": messages, **params}
        return c._json(lambda: c.provider.async_submit(body), c.provider.parse_task, body)

    def retrieve_completion_result(self, id: str) -> Any:
        """The task's state: `task_status` PROCESSING | SUCCESS | FAIL, choices on success."""
        c = self._client
        return c._json(lambda: c.provider.async_result(id), c.provider.parse_task,
                       {"model": "", "task_id": id})

    def wait(self, id: str, *, timeout: float = 300.0, poll: float = 1.0) -> Any:
        """Poll with backoff until SUCCESS (→ Completion) or FAIL / timeout (→ GLMError)."""
        if isinstance(self._client, AsyncClient):
            return self._await(id, timeout, poll)
        deadline = time.monotonic() + timeout
        delay = poll
        while True:
            result = self.retrieve_completion_result(id)
            done = _task_done(result, id)
            if done is not None:
                return done
            if time.monotonic() + delay > deadline:
                raise _task_timeout(id, timeout, self._client.provider.name)
            time.sleep(delay)
            delay = min(delay * 1.5, 10.0)

    async def _await(self, id: str, timeout: float, poll: float) -> Any:
        deadline = time.monotonic() + timeout
        delay = poll
        while True:
            result = await self.retrieve_completion_result(id)
            done = _task_done(result, id)
            if done is not None:
                return done
            if time.monotonic() + delay > deadline:
                raise _task_timeout(id, timeout, self._client.provider.name)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 10.0)


def _task_done(result: Completion, task_id: str) -> Completion | None:
    status = (result.task_status or "").upper()
    if status == "SUCCESS":
        return result
    if status == "FAIL":
        raise errors.ServerError(f"async task {task_id} failed", provider=result.provider,
                                 request_id=result.request_id,
                                 hint="the provider gave up on this task; submit it again")
    return None


def _task_timeout(task_id: str, timeout: float, provider: str) -> errors.APITimeoutError:
    return errors.APITimeoutError(
        f"async task {task_id} still processing after {timeout:g} s", provider=provider,
        hint=f"fetch it later: %glm result {task_id} (or retrieve_completion_result)")


class _Chat:
    def __init__(self, client: _BaseClient) -> None:
        self.completions = _Completions(client)
        self.asyncCompletions = _AsyncCompletions(client)
        self.async_completions = self.asyncCompletions


class _Images:
    def __init__(self, client: _BaseClient) -> None:
        self._client = client

    def generations(self, *, prompt: str, model: str = "cogview-3", size: str | None = None,
                    n: int | None = None, **params: Any) -> Any:
        """Generate images (CogView): an ImagesResponse with `data[i].url` (or `b64_json`)."""
        c = self._client
        body = {"model": model, "prompt": prompt, "size": size, "n": n, **params}
        body = {k: v for k, v in body.items() if v is not None}
        return c._json(lambda: c.provider.image_request(body), c.provider.parse_images, body)


class _BaseClient:
    def __init__(self, provider: str | Provider | None = None, *, api_key: str | None = None,
                 base_url: str | None = None, auth: str | None = None,
                 timeout: float | httpx.Timeout | None = None, max_retries: int = 3,
                 model_path: str | None = None,
                 on_retry: Callable[[AttemptReport], None] | None = None,
                 **options: Any) -> None:
        load_dotenv()
        if isinstance(provider, Provider):
            self.provider = provider
        else:
            self.provider = make_provider(provider, api_key=api_key, base_url=base_url,
                                          auth=auth, model_path=model_path, **options)
        self.timeout = _timeout(timeout)
        self.max_retries = max(0, int(max_retries))
        self.on_retry = on_retry
        self.chat = _Chat(self)
        self.images = _Images(self)
        self._fingerprint = self._credential_fingerprint()

    def _credential_fingerprint(self) -> str:
        """A digest (never the key itself) of the environment the credentials came from."""
        import hashlib

        load_dotenv()  # one stat; re-read only when .env changed
        values = "\0".join(f"{os.environ.get(v, '')}\0{source_of(v)}"
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
        return backoff_delay(attempt, err.retry_after)

    def _report(self, attempt: int, err: errors.GLMError, t0: float, body: dict) -> None:
        if self.on_retry is not None:
            self.on_retry(AttemptReport(attempt, err, time.perf_counter() - t0,
                                        self.provider.name, str(body.get("model", ""))))

    def _request(self, body: dict, stream: bool, headers: dict[str, str]) -> HTTPRequest:
        self.provider.validate(body)
        req = self.provider.prepare(body, stream)
        req.headers.update(headers)
        return req


class Client(_BaseClient):
    """Synchronous client. `Client()` picks the provider from the environment (zhipu when
    ZHIPUAI_API_KEY is set, else the bundled local model)."""

    def __init__(self, provider: str | Provider | None = None, **kwargs: Any) -> None:
        http_client = kwargs.pop("http_client", None)
        super().__init__(provider, **kwargs)
        self._http = http_client or httpx.Client(timeout=self.timeout, follow_redirects=True)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self, body: dict, stream: bool, timeout: httpx.Timeout,
                headers: dict[str, str]) -> Completion | Stream:
        if self.provider.local:
            return self.provider.create(body, stream)  # type: ignore[attr-defined]
        return self._retrying(
            lambda t0, attempt: self._once(body, stream, timeout, headers, t0, attempt), body)

    def _retrying(self, once: Callable[[float, int], Any], body: dict) -> Any:
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
                self._report(attempt, err, t0, body)
                time.sleep(delay)

    def _json(self, build: Callable[[], HTTPRequest], parse: Callable[[Any], Any],
              body: dict) -> Any:
        """One JSON request/response exchange (tasks, images) with the same retries."""
        def once(t0: float, attempt: int) -> Any:
            req = build()
            try:
                r = self._http.request(req.method, req.url, headers=req.headers, json=req.json,
                                       params=req.params, timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise _transport_error(exc, self.provider.name) from exc
            if r.status_code >= 400:
                raise _error_from_response(self.provider, r)
            return parse(_json_body(self.provider, r))

        return self._retrying(once, body)

    def _once(self, body: dict, stream: bool, timeout: httpx.Timeout, headers: dict[str, str],
              t0: float, attempt: int) -> Completion | Stream:
        req = self._request(body, stream, headers)
        name = self.provider.name
        request = self._http.build_request(req.method, req.url, headers=req.headers,
                                           json=req.json, params=req.params, timeout=timeout)
        try:
            r = self._http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, name) from exc
        if stream and r.status_code < 400 and "json" not in r.headers.get("content-type", ""):
            core = _StreamCore(self.provider, t0, attempt)
            return Stream(core, r.iter_bytes(), r.close)
        try:
            if stream:
                r.read()
        except httpx.HTTPError as exc:
            raise _transport_error(exc, name) from exc
        finally:
            r.close()
        if r.status_code >= 400:
            raise _error_from_response(self.provider, r)
        result = _parse_completion(self.provider, r)
        result.latency_s, result.attempt = time.perf_counter() - t0, attempt
        if stream:  # the server answered a stream request with one JSON body
            core = _StreamCore(self.provider, t0, attempt)
            return Stream(core, None, lambda: None, iter([_as_chunk(result)]))
        _check_filtered(result)
        return result


def _async_http(timeout: httpx.Timeout) -> httpx.AsyncClient:
    """httpx's API over aiohttp's connection pool when httpx-aiohttp is installed: httpx's own
    async pool serialises badly at high concurrency (200 requests at concurrency 32 took
    0.71 s with it and 0.085 s with aiohttp in bench/); plain httpx otherwise."""
    try:
        from httpx_aiohttp import HttpxAiohttpClient
    except ImportError:  # pragma: no cover
        return httpx.AsyncClient(timeout=timeout, follow_redirects=True)
    return HttpxAiohttpClient(timeout=timeout, follow_redirects=True)


class AsyncClient(_BaseClient):
    """Asynchronous twin of `Client`: `await client.chat.completions.create(...)`."""

    def __init__(self, provider: str | Provider | None = None, **kwargs: Any) -> None:
        http_client = kwargs.pop("http_client", None)
        super().__init__(provider, **kwargs)
        self._http = http_client or _async_http(self.timeout)

    async def close(self) -> None:
        await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _create(self, body: dict, stream: bool, timeout: httpx.Timeout,
                      headers: dict[str, str]) -> Completion | AsyncStream:
        if self.provider.local:
            return await self.provider.acreate(body, stream)  # type: ignore[attr-defined]
        return await self._retrying(
            lambda t0, attempt: self._once(body, stream, timeout, headers, t0, attempt), body)

    async def _retrying(self, once: Callable[[float, int], Any], body: dict) -> Any:
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
                self._report(attempt, err, t0, body)
                await asyncio.sleep(delay)

    async def _json(self, build: Callable[[], HTTPRequest], parse: Callable[[Any], Any],
                    body: dict) -> Any:
        async def once(t0: float, attempt: int) -> Any:
            req = await asyncio.to_thread(build) if getattr(self.provider, "blocking_auth",
                                                            False) else build()
            try:
                r = await self._http.request(req.method, req.url, headers=req.headers,
                                             json=req.json, params=req.params,
                                             timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise _transport_error(exc, self.provider.name) from exc
            if r.status_code >= 400:
                raise _error_from_response(self.provider, r)
            return parse(_json_body(self.provider, r))

        return await self._retrying(once, body)

    async def _once(self, body: dict, stream: bool, timeout: httpx.Timeout,
                    headers: dict[str, str], t0: float, attempt: int) -> Completion | AsyncStream:
        req = await asyncio.to_thread(self._request, body, stream, headers) \
            if getattr(self.provider, "blocking_auth", False) else self._request(body, stream, headers)
        name = self.provider.name
        request = self._http.build_request(req.method, req.url, headers=req.headers,
                                           json=req.json, params=req.params, timeout=timeout)
        try:
            r = await self._http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, name) from exc
        if stream and r.status_code < 400 and "json" not in r.headers.get("content-type", ""):
            core = _StreamCore(self.provider, t0, attempt)
            return AsyncStream(core, r.aiter_bytes(), r.aclose)
        try:
            if stream:
                await r.aread()
        except httpx.HTTPError as exc:
            raise _transport_error(exc, name) from exc
        finally:
            await r.aclose()
        if r.status_code >= 400:
            raise _error_from_response(self.provider, r)
        result = _parse_completion(self.provider, r)
        result.latency_s, result.attempt = time.perf_counter() - t0, attempt
        if stream:
            core = _StreamCore(self.provider, t0, attempt)
            return AsyncStream(core, None, lambda: None, _aiter([_as_chunk(result)]))
        _check_filtered(result)
        return result


async def _aiter(items: list[Chunk]) -> AsyncIterator[Chunk]:
    for item in items:
        yield item


def _as_chunk(c: Completion) -> Chunk:
    msg = c.choices[0].message if c.choices else None
    return text_chunk(msg.content or "" if msg else "", model=c.model, id=c.id, usage=c.usage,
                      finish_reason=c.finish_reason or "stop", raw=c.raw,
                      reasoning=msg.reasoning_content if msg else None)


def _check_filtered(c: Completion) -> None:
    if c.finish_reason == "sensitive":
        c.status = "filtered"
        raise errors.ContentFilterError(
            "the answer was blocked by moderation (finish_reason 'sensitive')",
            provider=c.provider, request_id=c.request_id, partial=c)

