"""Streams of JSON events that are not chat answers (web-search-pro's search steps with
`stream=True`): each SSE `data:` frame parsed into the resource's answer type, up to `[DONE]`.
They are bounded like a chat stream (the response size cap, the SSE decoder's event limit, the
client's read timeout), an error frame mid-stream raises the provider's error, and the call is
reported once — when the stream ends, is closed early, or fails — through `on_end`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from .. import errors
from ..sse import SSEDecoder
from .transport import is_transport_error, too_large, transport_error

OnEnd = Callable[[errors.GLMError | None], None]


class _Events:
    """What the sync and async streams share: decoding, the size cap, the one report."""

    def __init__(self, response: httpx.Response | None, parse: Callable[[Any], Any],
                 provider: str, limit: int, on_end: OnEnd | None,
                 ready: list[Any] | None = None) -> None:
        self._response = response  # None: the server answered with one JSON body (`ready`)
        self._ready = ready or []
        self._parse = parse
        self._provider = provider
        self._limit = limit
        self._on_end = on_end
        self._decoder = SSEDecoder()
        self._size = 0
        self._error: errors.GLMError | None = None  # raised on the next read
        self.done = False  # `[DONE]` arrived

    def _items(self, raw: bytes, final: bool = False) -> list[Any]:
        """The events completed by `raw`. An event that fails to parse (an error frame) is
        raised after the events before it in the same read have been handed out."""
        if self._error is not None:
            raise self._error
        self._size += len(raw)
        if self._size > self._limit:
            raise too_large(self._provider, self._limit, 200)
        events = self._decoder.feed(raw) if raw else []
        if final:
            events += self._decoder.feed(b"\n\n")  # a last frame without its blank line
        out: list[Any] = []
        for ev in events:
            data = ev.data.strip()
            if data == "[DONE]":
                self.done = True
                break
            if not data:
                continue
            try:
                out.append(self._parse(json.loads(data)))
            except (ValueError, TypeError) as exc:
                self._error = errors.ProtocolError(
                    f"a stream event is not a JSON object: {exc}", provider=self._provider)
            except errors.GLMError as err:
                self._error = err
            if self._error is not None:
                if not out:
                    raise self._error
                return out
        return out

    def _failed(self, exc: Exception) -> Exception:
        """What iterating raises for `exc`: our error (reported as the call's end) for a
        failed read or an error event, anything else as it is."""
        if isinstance(exc, errors.GLMError):
            err: errors.GLMError = exc
        elif is_transport_error(exc):
            err = transport_error(exc, self._provider)
        else:
            return exc
        self._report(err)
        return err

    def _report(self, err: errors.GLMError | None) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end(err)


class EventStream(_Events):
    """Iterate to get the events; closing it (or leaving a `with` block) ends the response."""

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._ready
            for raw in self._response.iter_bytes() if self._response is not None else ():
                yield from self._items(raw)
                if self.done:
                    break
                if self._error is not None:
                    self._items(b"")
            else:
                yield from self._items(b"", final=True)
        except Exception as exc:
            raise self._failed(exc) from None
        finally:
            self.close()

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        self._report(None)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncEventStream(_Events):
    """`async for` twin of `EventStream`."""

    async def __aiter__(self) -> AsyncIterator[Any]:
        try:
            for item in self._ready:
                yield item
            async for raw in _chunks(self._response):
                for item in self._items(raw):
                    yield item
                if self.done:
                    break
                if self._error is not None:
                    self._items(b"")
            else:
                for item in self._items(b"", final=True):
                    yield item
        except Exception as exc:
            raise self._failed(exc) from None
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._response is not None:
            await self._response.aclose()
        self._report(None)

    close = aclose

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _chunks(response: httpx.Response | None) -> AsyncIterator[bytes]:
    if response is not None:
        async for raw in response.aiter_bytes():
            yield raw
