"""Streams of chunks: bytes in, `Chunk`s out, with what arrived kept as one `Completion` also
after an error, an interrupt or a limit. `Stream` and `AsyncStream` are the sync and async
faces of one `StreamCore`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .. import errors
from ..providers.base import STOP, Provider
from ..sse import SSEDecoder, SSELimitError
from ..types import Accumulator, Chunk, Completion
from .transport import MAX_RESPONSE_BYTES, Deadline, is_transport_error, too_large, transport_error


class StreamCore:
    """Stream parsing shared by the sync and async streams, with its limits: the response
    size, the answer size (from `max_tokens`) and the idle/total deadline."""

    def __init__(self, provider: Provider, started: float, attempt: int,
                 deadline: Deadline | None = None, answer_limit: int | None = None,
                 max_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.provider = provider
        self.decoder = SSEDecoder()
        self.acc = Accumulator()
        self.started = started
        self.attempt = attempt
        self.ttft_s: float | None = None
        self.ended_s: float | None = None
        self.finished = False
        self.error: errors.GLMError | None = None
        self.deadline = deadline
        self.answer_limit = answer_limit
        self.max_bytes = max_bytes
        self.received = 0
        self.hide_usage_chunks = False  # set when we, not the caller, asked for usage
        self.cached = False  # a replayed answer from the response cache (core.replay)
        self._held_error: BaseException | None = None

    def feed(self, raw: bytes, final: bool = False) -> list[Chunk]:
        if self._held_error is not None:  # raised after the chunks that came before it
            err, self._held_error = self._held_error, None
            raise err
        self.received += len(raw)
        if self.received > self.max_bytes:
            raise too_large(self.provider.name, self.max_bytes)
        try:
            events = self.decoder.flush() if final else self.decoder.feed(raw)
        except SSELimitError as exc:
            raise errors.ProtocolError(str(exc), provider=self.provider.name) from None
        out: list[Chunk] = []
        parse = self._parse
        for ev in events:
            try:
                item = parse(ev)
            except errors.GLMError as exc:
                if not out:
                    raise
                self._held_error = exc  # every chunk before the error is yielded first
                break
            if item is None:
                continue
            if item is STOP:
                self.finished = True
                break
            if self.ttft_s is None:
                self.ttft_s = time.perf_counter() - self.started
            self.acc.add(item)
            if self.hide_usage_chunks and not item.choices:
                continue  # usage we asked for ourselves: in the completion, not the loop
            out.append(item)
        if out:
            if self.deadline is not None:
                self.deadline.content_arrived()
            if self.answer_limit is not None:
                self._check_answer_size()
        elif self.deadline is not None and self.deadline.expired():
            raise self.deadline.error(self.provider.name)
        return out

    def _check_answer_size(self) -> None:
        if self.acc.size > self.answer_limit:  # type: ignore[operator]
            raise errors.ProtocolError(
                f"the answer passed {self.answer_limit:,} characters although max_tokens "
                "limits it far below that; stopped reading", provider=self.provider.name,
                hint="the server ignores max_tokens; check the base URL and model")

    def take(self, chunk: Chunk) -> Chunk:
        """A ready-made chunk (local model, JSON body): time and accumulate it."""
        if self.ttft_s is None:
            self.ttft_s = time.perf_counter() - self.started
        self.acc.add(chunk)
        return chunk

    def _parse(self, ev: Any) -> Any:
        try:
            return self.provider.parse_event(ev)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            # valid JSON of an unexpected shape: a protocol error, not a crash
            raise errors.ProtocolError(f"unexpected stream event: {ev.data[:80]!r}",
                                       provider=self.provider.name) from exc

    def end(self) -> None:
        """The connection closed: was that the end of the answer, or a cut-off?"""
        if self._held_error is not None:
            err, self._held_error = self._held_error, None
            raise err
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
        err = transport_error(exc, self.provider.name, " mid-stream")
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
        c.cached = self.cached
        if self.error is not None:
            c.status = "filtered" if isinstance(self.error, errors.ContentFilterError) else "error"
            c.error = str(self.error)
        elif not self.finished:
            c.status = "interrupted"
        return c


def _failure(exc: BaseException) -> bool:
    return isinstance(exc, errors.GLMError) or is_transport_error(exc)


class Stream:
    """Iterate to get `Chunk`s; `completion()` gives what arrived so far as one Completion,
    also after an error or an interrupt. Closing it ends the HTTP response at once."""

    def __init__(self, core: StreamCore, source: Iterator[bytes] | None,
                 close: Callable[[], None], chunks: Iterator[Chunk] | None = None) -> None:
        self._core = core
        self._source = source
        self._close = close
        self._chunks = chunks  # local provider / non-SSE body: chunks come ready-made
        self.on_done: Callable[[Completion], None] | None = None  # once, when it ends

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
        except Exception as exc:
            if not _failure(exc):
                raise
            raise core.fail(exc) from None
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
        _done(self)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStream:
    """`async for` twin of `Stream`."""

    def __init__(self, core: StreamCore, source: Any, close: Callable[[], Any],
                 chunks: Any = None) -> None:
        self._core = core
        self._source = source
        self._close = close
        self._chunks = chunks
        self.on_done: Callable[[Completion], None] | None = None

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        core = self._core
        try:
            if self._chunks is not None:
                async for chunk in self._chunks:
                    yield core.take(chunk)
                core.finished = True
                core.end()
                return
            async for raw in _bounded(self._source, core):
                for chunk in core.feed(raw):
                    yield chunk
                if core.finished:
                    break
            else:
                for chunk in core.feed(b"", final=True):
                    yield chunk
            core.end()
        except Exception as exc:
            if not _failure(exc):
                raise
            raise core.fail(exc) from None
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
        if hasattr(res, "__await__"):
            await res
        _done(self)

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def aiter_items(items: list[Chunk]) -> AsyncIterator[Chunk]:
    """Ready-made chunks as the async iterator an `AsyncStream` reads."""
    for item in items:
        yield item


def _done(stream: Stream | AsyncStream) -> None:
    """Hand the finished answer (ok, failed or cut short) to `on_done`, once."""
    callback, stream.on_done = stream.on_done, None
    if callback is not None:
        callback(stream._core.completion())


async def _bounded(source: Any, core: StreamCore) -> AsyncIterator[bytes]:
    """Reads that end at the stream's deadline even when the server sends nothing at all."""
    dl = core.deadline
    if dl is None:
        async for raw in source:
            yield raw
        return
    import asyncio

    it = source.__aiter__()
    loop = asyncio.get_running_loop()
    while True:
        left = None if dl.until is None else dl.until - time.monotonic()
        if left is not None and left <= 0:
            raise dl.error(core.provider.name)
        try:
            if left is None:
                raw = await it.__anext__()
            else:
                from .transport import timeout_at

                async with timeout_at(loop.time() + left):
                    raw = await it.__anext__()
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            if not dl.expired():
                raise
            raise dl.error(core.provider.name) from None
        yield raw
