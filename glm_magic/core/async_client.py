"""`AsyncClient`: the asynchronous twin of `Client` — the same pipeline (auth → send → retry →
error mapping) with `await`, over aiohttp's connection pool when httpx-aiohttp is installed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from .. import errors
from ..providers.base import HTTPRequest, Provider
from ..types import Completion
from . import transport
from .base_client import BaseClient, as_chunk, check_filtered, is_stream, observed
from .event_streams import AsyncEventStream, OnEnd
from .hooks import CallObserver
from .replay import replayed
from .responses import check_status, parse_body
from .streams import AsyncStream, aiter_items
from .transport import Deadline, is_transport_error


def async_http(timeout: httpx.Timeout, in_process: Any = None) -> httpx.AsyncClient:
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
        self._http = http_client or async_http(self.timeout, self.provider.http_transport())

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
        answer = self._cached(observer, body)
        if answer is not None:  # the response cache: nothing is sent
            return observed(observer, replayed(self.provider, answer, stream, self.is_async))
        try:
            result = await self._retrying(
                lambda t0, attempt: self._once(body, stream, timeout, headers, t0, attempt),
                body, observer)
        except errors.GLMError as err:
            if observer is not None:
                observer.failed(err)
            raise
        return observed(observer, result)

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
            if is_stream(r, stream):
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

    async def _events(self, build: Callable[[], HTTPRequest], parse: Callable[[Any], Any],
                      body: dict, on_end: OnEnd | None = None) -> AsyncEventStream:
        async def once(t0: float, attempt: int) -> AsyncEventStream:
            r, content, _ = await self._exchange(await self._prepared(build), self.timeout,
                                                 True)
            if content is None:
                return AsyncEventStream(r, parse, self.provider.name, self.max_response_bytes,
                                        on_end)
            check_status(self.provider, r, content)
            item = parse_body(self.provider, parse, content, r.status_code)
            return AsyncEventStream(None, parse, self.provider.name, self.max_response_bytes,
                                    on_end, ready=[item])

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
            return AsyncStream(core, None, lambda: None, aiter_items([as_chunk(result)]))
        check_filtered(result)
        return result
