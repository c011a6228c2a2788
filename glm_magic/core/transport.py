"""How bytes travel, bounded: deadlines per attempt, caps on what a server may send, redirects
refused, and every transport failure (httpx or aiohttp) mapped to one of our errors.

httpx's `timeout` limits each socket read only, so a server trickling a byte a second (or a
stream of keep-alive pings) could hold a call forever. A `Deadline` says when the current
attempt must be done: the sync path enforces it inside every socket read (a wrapper around
httpcore's network backend), the async path with `asyncio` timeouts around the send and a
check after every read."""

from __future__ import annotations

import sys
import time
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from .. import errors

DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
MAX_RESPONSE_BYTES = 64 * 2**20  # a decoded body or stream; far above any real answer
ANSWER_CHARS_PER_TOKEN = 32  # generous: no tokenizer makes tokens longer than this
ANSWER_SLACK_CHARS = 65536


def as_timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, httpx.Timeout):
        return value
    return httpx.Timeout(float(value), connect=min(10.0, float(value)))


def timeout_at(when: float) -> Any:
    """asyncio's `timeout_at` (Python 3.11+; aiohttp brings async-timeout, same API, on
    3.10), imported when first used: a sync-only program never loads asyncio."""
    try:
        from asyncio import timeout_at
    except ImportError:  # pragma: no cover
        from async_timeout import timeout_at  # type: ignore[no-redef]
    return timeout_at(when)


class Deadline:
    """When the current wait must end (a `time.monotonic()` instant, or None) and why.
    Streams move it forward on every piece of content: keep-alive pings do not count."""

    __slots__ = ("until", "why", "idle", "total_by")

    def __init__(self, until: float | None, why: str, idle: float | None = None,
                 total_by: float | None = None) -> None:
        self.until = until
        self.why = why
        self.idle = idle
        self.total_by = total_by

    def expired(self) -> bool:
        return self.until is not None and time.monotonic() >= self.until

    def content_arrived(self) -> None:
        """A stream delivered content: the idle clock starts again (never past the total)."""
        if self.idle is not None:
            until = time.monotonic() + self.idle
            self.until = until if self.total_by is None else min(until, self.total_by)

    def error(self, provider: str) -> errors.APITimeoutError:
        return errors.APITimeoutError(self.why, provider=provider)


def attempt_deadlines(timeout: httpx.Timeout, deadline: float | None, stream: bool
                      ) -> tuple[Deadline, Deadline]:
    """(headers, body) deadlines for one attempt starting now. Headers must come within the
    read timeout; a whole answer within `deadline` (default: the read timeout); a stream may
    run as long as content keeps coming, at most `deadline` when one is set."""
    now = time.monotonic()
    read = timeout.read
    first = min((v for v in (read, deadline) if v), default=None)
    headers = Deadline(None if first is None else now + first,
                       f"read timeout: no response headers within {first:g} s" if first
                       else "")
    if not stream:
        total = deadline or read
        return headers, Deadline(None if total is None else now + total,
                                 f"read timeout: the answer was not complete within {total:g} s"
                                 if total else "")
    total_by = now + deadline if deadline else None
    idle_until = now + read if read else None
    until = min((v for v in (idle_until, total_by) if v is not None), default=None)
    why = (f"read timeout: no content for {read:g} s (keep-alive pings do not count)"
           if read else "")
    if deadline:
        why = f"{why}, or the stream's {deadline:g} s deadline passed" if why else \
            f"read timeout: the stream passed its {deadline:g} s deadline"
    return headers, Deadline(until, why, idle=read, total_by=total_by)


# --- sync: the deadline inside every socket read ----------------------------------------------
_SENDING: ContextVar[Deadline | None] = ContextVar("glm_magic_sending", default=None)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads end at the current deadline as well as at the read
    timeout: a trickling server cannot stretch a call."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self.deadline: Deadline | None = None  # the streaming response reading from it

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        dl = _SENDING.get() or self.deadline
        if dl is None or dl.until is None:
            return self._inner.read(max_bytes, timeout)
        left = dl.until - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout(f"deadline: {dl.why}")
        if timeout is not None and timeout < left:
            return self._inner.read(max_bytes, timeout)
        try:
            return self._inner.read(max_bytes, left)
        except httpcore.ReadTimeout:
            if dl.expired():
                raise httpcore.ReadTimeout(f"deadline: {dl.why}") from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def sync_http(timeout: httpx.Timeout, in_process: httpx.BaseTransport | None = None,
              plain_http: bool = False) -> httpx.Client:
    """An httpx.Client whose sockets honour deadlines and which never follows a redirect (a
    redirect to another host would take the request, and its key, with it). `in_process`: a
    transport that answers without the network (the local model). `plain_http`: the base URL
    is http:// (a server on this machine or network) — no CA bundle is loaded, which is 17 ms
    of a first cell; with redirects refused, no request can reach an https URL."""
    client = httpx.Client(timeout=timeout, follow_redirects=False, transport=in_process,
                          verify=not plain_http)
    for transport in [client._transport, *client._mounts.values()]:  # noqa: SLF001
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return client


def send(http: httpx.Client, request: httpx.Request, headers_by: Deadline) -> httpx.Response:
    """Send and receive the headers by the deadline; the body is read by the caller."""
    token = _SENDING.set(headers_by)
    try:
        return http.send(request, stream=True)
    finally:
        _SENDING.reset(token)


def follow(response: httpx.Response, body_by: Deadline) -> None:
    """Let the response's socket reads end at `body_by` from now on."""
    stream = response.extensions.get("network_stream")
    if isinstance(stream, _DeadlineStream):
        stream.deadline = body_by


def read_body(response: httpx.Response, body_by: Deadline, provider: str,
              limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """The decoded body, at most `limit` bytes, by the deadline (a gzip bomb or an endless
    body fails early with a ProtocolError instead of filling memory)."""
    follow(response, body_by)
    token = _SENDING.set(body_by)
    parts: list[bytes] = []
    size = 0
    try:
        for part in response.iter_bytes():
            size += len(part)
            if size > limit:
                raise too_large(provider, limit, response.status_code)
            parts.append(part)
    finally:
        _SENDING.reset(token)
        response.close()
    return b"".join(parts)


AUTH_RESPONSE_BYTES = 64 * 1024  # a token answer is a few hundred bytes


def small_request(method: str, url: str, *, provider: str, timeout: httpx.Timeout,
                  deadline: float | None = None, limit: int = AUTH_RESPONSE_BYTES,
                  **kwargs: Any) -> tuple[int, bytes]:
    """One bounded request outside the call pipeline (a token fetch): the same deadlines
    inside socket reads, a small size cap on the decoded body, redirects refused. Returns
    (status, body); transport failures are our errors."""
    http = sync_http(timeout, plain_http=url.startswith("http://"))
    try:
        headers_by, body_by = attempt_deadlines(timeout, deadline, stream=False)
        try:
            response = send(http, http.build_request(method, url, **kwargs), headers_by)
            if response.is_redirect:
                response.close()
                raise refuse_redirect(response, provider)
            return response.status_code, read_body(response, body_by, provider, limit)
        except errors.GLMError:
            raise
        except Exception as exc:
            if is_transport_error(exc):
                raise transport_error(exc, provider) from None
            raise
    finally:
        http.close()


# --- async: asyncio timeouts around the send, checks after every read -------------------------
async def asend(http: httpx.AsyncClient, request: httpx.Request, headers_by: Deadline,
                provider: str) -> httpx.Response:
    import asyncio

    if headers_by.until is None:
        return await http.send(request, stream=True)
    loop_deadline = asyncio.get_running_loop().time() + (headers_by.until - time.monotonic())
    try:
        async with timeout_at(loop_deadline):
            return await http.send(request, stream=True)
    except asyncio.TimeoutError:
        raise headers_by.error(provider) from None


async def aread_body(response: httpx.Response, body_by: Deadline, provider: str,
                     limit: int = MAX_RESPONSE_BYTES) -> bytes:
    import asyncio

    parts: list[bytes] = []
    size = 0

    async def collect() -> None:
        nonlocal size
        async for part in response.aiter_bytes():
            size += len(part)
            if size > limit:
                raise too_large(provider, limit, response.status_code)
            parts.append(part)

    try:
        if body_by.until is None:
            await collect()
        else:
            loop_deadline = asyncio.get_running_loop().time() + (body_by.until - time.monotonic())
            try:
                async with timeout_at(loop_deadline):
                    await collect()
            except asyncio.TimeoutError:
                raise body_by.error(provider) from None
    finally:
        await response.aclose()
    return b"".join(parts)


def too_large(provider: str, limit: int, status: int | None = None) -> errors.ProtocolError:
    return errors.ProtocolError(
        f"the response passed {limit // 2**20} MiB; stopped reading", provider=provider,
        status=status, hint="a real answer is far smaller: check the base URL, or raise "
        "max_response_bytes= if you expect this")


def answer_limit(body: dict[str, Any]) -> int | None:
    """Characters of answer (text + reasoning) allowed for a request with `max_tokens`: a
    server that ignores the limit is stopped instead of streaming forever."""
    mt = body.get("max_tokens", body.get("max_new_tokens"))
    if isinstance(mt, bool) or not isinstance(mt, int) or mt <= 0:
        return None
    return mt * ANSWER_CHARS_PER_TOKEN + ANSWER_SLACK_CHARS


# --- errors -------------------------------------------------------------------------------------
def _aio_timeout() -> type[BaseException]:
    """asyncio's timeout class, without importing asyncio when nothing async ran (it is the
    builtin TimeoutError from Python 3.11; a class of its own before)."""
    aio = sys.modules.get("asyncio")
    return aio.TimeoutError if aio is not None else TimeoutError


def is_transport_error(exc: BaseException) -> bool:
    """True for failures of the connection or the HTTP framing, whatever library raised them."""
    if isinstance(exc, (httpx.HTTPError, httpcore.NetworkError, httpcore.ProtocolError,
                        httpcore.TimeoutException, OSError, EOFError, _aio_timeout())):
        return True
    root = type(exc).__module__.split(".", 1)[0]
    return root in ("aiohttp", "h11", "httpcore", "yarl", "ssl")


def transport_error(exc: BaseException, provider: str, during: str = "") -> errors.GLMError:
    """One of our errors for a transport failure: a timeout, a lost connection, or a server
    that broke the HTTP framing (bad status line, oversized or too many headers, bad chunks)."""
    if isinstance(exc, errors.GLMError):
        return exc
    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) else None
    raw = cause if cause is not None and type(cause).__module__.startswith("aiohttp") else exc
    name = type(raw).__name__
    text = str(raw)
    if text.startswith("deadline: "):
        return errors.APITimeoutError(text[len("deadline: "):] + during, provider=provider)
    if type(raw).__module__.startswith("aiohttp"):
        import aiohttp

        if isinstance(raw, (aiohttp.ServerTimeoutError, _aio_timeout())):
            return errors.APITimeoutError(f"read timeout{during}", provider=provider)
        if isinstance(raw, aiohttp.ClientResponseError) or "http_exceptions" in \
                type(raw).__module__ or isinstance(raw, aiohttp.ClientPayloadError):
            return errors.ProtocolError(f"malformed HTTP response ({name}: {text}){during}",
                                        provider=provider)
        # the aiohttp transport maps every ClientConnectionError to ConnectTimeout; a server
        # that hung up mid-answer is a lost connection, not a timeout
        return errors.APIConnectionError(f"{name}: {text}{during}".rstrip(": "),
                                         provider=provider)
    if isinstance(exc, httpx.TimeoutException):
        kind = {httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "read",
                httpx.WriteTimeout: "write", httpx.PoolTimeout: "pool"}.get(type(exc), "")
        return errors.APITimeoutError(f"{kind} timeout{during}".strip(), provider=provider)
    if isinstance(exc, _aio_timeout()):
        return errors.APITimeoutError(f"timeout{during}", provider=provider)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.DecodingError, httpcore.ProtocolError)):
        return errors.ProtocolError(f"malformed HTTP response ({text or name}){during}",
                                    provider=provider)
    return errors.APIConnectionError(f"{text or name}{during}", provider=provider)


def refuse_redirect(response: httpx.Response, provider: str) -> errors.GLMError:
    """A redirect is never followed: it could take the request and its key to another host."""
    where = response.headers.get("location", "")
    target = httpx.URL(response.url).join(where) if where else None
    dest = f"{target.scheme}://{target.host}{target.path}" if target else "nowhere"
    return errors.BadRequestError(
        f"the server answered {response.status_code} redirect to {dest}; not followed",
        provider=provider, status=response.status_code,
        hint="redirects are not followed so the key stays with the host you chose; if you "
        "trust the new address, set base_url to it")
