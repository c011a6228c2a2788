"""`Client` and `AsyncClient`: the request pipeline (auth → send → retry → error mapping)
over httpx, with the call shape of the official SDKs: `client.chat.completions.create(...)`.
Streams live in `streams.py`, the API surfaces in `resources/`, the bounded transport
(deadlines, size caps, no redirects) in `transport.py`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from .. import errors
from .._secrets import install_log_filter
from ..providers.base import HTTPRequest, Provider
from ..types import Completion
from . import transport
from .async_client import AsyncClient as AsyncClient
from .base_client import DEFAULT_BACKOFF_S as DEFAULT_BACKOFF_S
from .base_client import BaseClient, as_chunk, check_filtered, is_stream, observed
from .event_streams import EventStream, OnEnd
from .hooks import CallObserver
from .replay import replayed
from .responses import MAX_BACKOFF_S as MAX_BACKOFF_S  # re-exported: retry timing lives there
from .responses import MAX_RETRY_AFTER_S as MAX_RETRY_AFTER_S
from .responses import backoff_delay as backoff_delay
from .responses import check_status, parse_body
from .responses import retry_after as retry_after
from .streams import AsyncStream, Stream, StreamCore
from .transport import (
    DEFAULT_TIMEOUT,
    Deadline,
    as_timeout,
    is_transport_error,
)

install_log_filter()
_StreamCore = StreamCore  # the name older code imports
__all__ = ["AsyncClient", "AsyncStream", "BaseClient", "Client", "Stream", "DEFAULT_TIMEOUT"]

_timeout = as_timeout


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
        answer = self._cached(observer, body)
        if answer is not None:  # the response cache: nothing is sent
            return observed(observer, replayed(self.provider, answer, stream, self.is_async))
        try:
            result = self._retrying(
                lambda t0, attempt: self._once(body, stream, timeout, headers, t0, attempt),
                body, observer)
        except errors.GLMError as err:
            if observer is not None:
                observer.failed(err)
            raise
        return observed(observer, result)

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
            if is_stream(r, stream):
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

    def _events(self, build: Callable[[], HTTPRequest], parse: Callable[[Any], Any],
                body: dict, on_end: OnEnd | None = None) -> EventStream:
        """A streamed JSON exchange (web-search-pro): connecting is retried like any call;
        the events are read as they are iterated."""
        def once(t0: float, attempt: int) -> EventStream:
            r, content, _ = self._exchange(build(), self.timeout, True)
            if content is None:
                return EventStream(r, parse, self.provider.name, self.max_response_bytes,
                                   on_end)
            check_status(self.provider, r, content)
            item = parse_body(self.provider, parse, content, r.status_code)
            return EventStream(None, parse, self.provider.name, self.max_response_bytes,
                               on_end, ready=[item])

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
            return Stream(core, None, lambda: None, iter([as_chunk(result)]))
        check_filtered(result)
        return result
