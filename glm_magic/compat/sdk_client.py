"""What makes a glm-magic `Client` behave like Zhipu's SDK clients at the surface: its
resources raise the SDK's exceptions (`sdk_errors`), and an answer stopped by moderation
(`finish_reason == "sensitive"`) is returned — or, streamed, yielded to its end — instead of
raised, as the SDKs do. The call itself is glm-magic's: ledger row, budget, cache, retries."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from .. import errors
from ..core.base_client import RESOURCES
from ..core.client import Client
from ..core.event_streams import AsyncEventStream, EventStream
from ..core.streams import AsyncStream, Stream
from ..providers.zhipu import ZhipuProvider
from .sdk_errors import sdk_error


def moderated(err: errors.GLMError) -> bool:
    """A content-filter stop the SDK reports in the answer (not an HTTP 400/1301)."""
    return isinstance(err, errors.ContentFilterError) and err.status is None


class SDKStream:
    """A stream whose errors are the SDK's and which simply ends at a moderation stop (its
    last chunk carries `finish_reason == "sensitive"`). Everything else is the stream's."""

    def __init__(self, inner: Stream | AsyncStream) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._inner
        except errors.GLMError as err:
            if not moderated(err):
                raise sdk_error(err) from None

    async def __aiter__(self) -> AsyncIterator[Any]:
        try:
            async for chunk in self._inner:  # type: ignore[union-attr]
                yield chunk
        except errors.GLMError as err:
            if not moderated(err):
                raise sdk_error(err) from None

    def __enter__(self) -> SDKStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()

    async def __aenter__(self) -> SDKStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        closing = getattr(self._inner, "aclose", None)
        if closing is not None:
            await closing()
        else:  # a stream whose close is synchronous
            self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _shaped_result(result: Any) -> Any:
    if isinstance(result, (Stream, AsyncStream, EventStream, AsyncEventStream)):
        return SDKStream(result)
    return result


def _answer_or_raise(err: errors.GLMError) -> Any:
    if moderated(err) and err.partial is not None:
        return err.partial  # the SDK returns the completion with finish_reason "sensitive"
    raise sdk_error(err) from None


async def _awaited(pending: Any) -> Any:
    try:
        return _shaped_result(await pending)
    except errors.GLMError as err:
        return _answer_or_raise(err)


def sdk_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except errors.GLMError as err:
            return _answer_or_raise(err)
        if inspect.isawaitable(result):
            return _awaited(result)
        return _shaped_result(result)

    return call


class SDKResource:
    """A client resource (`chat`, `chat.completions`, `files`, …) seen through the SDK's
    error and moderation behaviour; attributes that are not resources pass through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if callable(value):
            return sdk_call(value)
        if type(value).__module__.startswith("glm_magic.core.resources"):
            return SDKResource(value)
        return value

    def __repr__(self) -> str:
        return f"<{type(self._inner).__name__}>"


def sdk_shaped(cls: type[Client]) -> type[Client]:
    """Give a Client subclass SDK-shaped resources (one wrapper per resource, cached like
    the client's own)."""
    for name in RESOURCES:
        plain = getattr(Client, name)

        def shaped(self: Any, plain: Any = plain) -> SDKResource:
            return SDKResource(plain.func(self))

        prop = functools.cached_property(shaped)
        prop.__set_name__(cls, name)
        setattr(cls, name, prop)
    return cls


class SDKProvider(ZhipuProvider):
    """Zhipu v4 as the SDK clients configure it: `custom_headers=` sent with every request,
    and `disable_token_cache=False` signing a JWT from the `id.secret` key instead of
    sending the key itself."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *,
                 custom_headers: Mapping[str, str] | None = None,
                 disable_token_cache: bool = True, **options: Any) -> None:
        options.setdefault("auth", "key" if disable_token_cache else "jwt")
        super().__init__(api_key, base_url, **options)
        self.custom_headers = dict(custom_headers or {})

    def auth_headers(self) -> dict[str, str]:
        return {**self.custom_headers, **super().auth_headers()}


def sdk_client_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The SDK constructor's keywords that configure the provider, taken out of `kwargs`
    (the rest go to `Client`); `http_client`, `_strict_response_validation` and
    `source_channel` have no effect here and are dropped."""
    for ignored in ("_strict_response_validation", "source_channel"):
        kwargs.pop(ignored, None)
    return {k: kwargs.pop(k) for k in ("custom_headers", "disable_token_cache", "auth")
            if k in kwargs}
