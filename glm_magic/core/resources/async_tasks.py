"""`client.chat.asyncCompletions`: Zhipu's asynchronous tasks — submit now, fetch the answer
later (the official SDK's names)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ... import errors
from .sdk_options import split_call_options, with_call_options

if TYPE_CHECKING:
    from ...types import Completion
    from ..base_client import BaseClient


class AsyncCompletions:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def create(self, *, messages: list[dict[str, Any]], model: str | None = None,
               **params: Any) -> Any:
        """Submit a task → a Completion with `id` and `task_status` (PROCESSING)."""
        c = self._client
        body, options = split_call_options(
            {"model": model or c.provider.default_model, "messages": messages}, params)
        return c._json(with_call_options(lambda: c.provider.async_submit(body), options),
                       c.provider.parse_task, body)

    def retrieve_completion_result(self, id: str) -> Any:
        """The task's state: `task_status` PROCESSING | SUCCESS | FAIL, choices on success."""
        c = self._client
        return c._json(lambda: c.provider.async_result(id), c.provider.parse_task,
                       {"model": "", "task_id": id})

    def wait(self, id: str, *, timeout: float = 300.0, poll: float = 1.0) -> Any:
        """Poll with backoff until SUCCESS (→ Completion) or FAIL / timeout (→ GLMError)."""
        if self._client.is_async:
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
        import asyncio

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
