"""What a response means: HTTP errors mapped to our exception tree (with the server's retry
advice, made safe), bodies parsed into our types, and how long to wait before a retry."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .. import errors
from .._json import loads
from ..providers.base import Provider, body_summary
from . import transport

MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 60.0


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (0.5 s · 2^n, at most 8 s), or the server's Retry-After."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER_S)
    return min(0.5 * 2 ** (attempt - 1), MAX_BACKOFF_S) * random.uniform(0.75, 1.0)


def retry_after(headers: httpx.Headers) -> float | None:
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


def safe_response(r: httpx.Response, content: bytes) -> httpx.Response:
    """The error's response as the SDKs expose it (`err.response.json()`), rebuilt without
    what could carry a key: its request keeps only the method and the URL without its query
    (Qianfan's access token travels there), never the headers; known secrets are scrubbed
    from the body."""
    from .._secrets import scrub

    text = content.decode("utf-8", "replace")
    clean = scrub(text)
    request = httpx.Request(r.request.method, r.request.url.copy_with(query=None)) \
        if _has_request(r) else None
    return httpx.Response(r.status_code, headers={"content-type": r.headers.get(
        "content-type", "application/json")}, content=content if clean == text
        else clean.encode(), request=request)


def _has_request(r: httpx.Response) -> bool:
    try:
        r.request  # noqa: B018  (raises when the response was built without one)
    except RuntimeError:
        return False
    return True


def _error_from_response(provider: Provider, r: httpx.Response, content: bytes
                         ) -> errors.GLMError:
    try:
        body: Any = loads(content)
    except ValueError:
        body = content.decode("utf-8", "replace")
    err = provider.error_from(r.status_code, body, r.headers)
    err.response = safe_response(r, content)
    if type(err) is errors.AuthenticationError:
        err.hint = (f"check the API key: {provider.describe_key()} was sent; it must belong "
                    f"to {provider.name} (a corrected key is used from the next call)")
    err.retry_after = retry_after(r.headers)
    should = r.headers.get("x-should-retry")
    if should in ("true", "false"):
        err.retryable = should == "true"
        err._forced = True  # type: ignore[attr-defined]
    return err


def _json_body(provider: Provider, content: bytes, status: int) -> Any:
    try:
        return loads(content)
    except ValueError:
        text = content[:4096].decode("utf-8", "replace")
        raise errors.ProtocolError(body_summary(text) or "empty response body",
                                   provider=provider.name, status=status) from None


def parse_body(provider: Provider, parse: Callable[[Any], Any], content: bytes, status: int) -> Any:
    """A JSON body of an unexpected shape is a ProtocolError, never a raw TypeError."""
    body = _json_body(provider, content, status)
    try:
        return parse(body)
    except errors.GLMError:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        raise errors.ProtocolError(
            f"unexpected response body: {content[:80].decode('utf-8', 'replace')!r}",
            provider=provider.name, status=status) from None


def check_status(provider: Provider, r: httpx.Response, content: bytes) -> None:
    if r.is_redirect:
        raise transport.refuse_redirect(r, provider.name)
    if r.status_code >= 400:
        raise _error_from_response(provider, r, content)
