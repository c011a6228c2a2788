"""`client.chat.completions.create(...)`: chat completions, streamed or whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from .async_tasks import AsyncCompletions

if TYPE_CHECKING:
    from ..base_client import BaseClient


class Completions:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def create(self, *, messages: list[dict[str, Any]], model: str | None = None,
               stream: bool = False, timeout: float | httpx.Timeout | None = None,
               extra_headers: dict[str, str] | None = None,
               extra_body: dict[str, Any] | None = None, **params: Any) -> Any:
        """Create a chat completion. Every keyword the API knows passes through as given."""
        from ..transport import as_timeout

        c = self._client
        body = {"model": c.provider.default_model if model in (None, "", "default") else model,
                "messages": messages}
        body.update(params)
        if extra_body:
            body.update(extra_body)
        if body.get("response_format") is not None:  # the form this provider accepts
            from ...providers.formats import adapt_request

            body = adapt_request(body, c.provider)
        return c._create(body, stream, as_timeout(timeout) if timeout is not None
                         else c.timeout, extra_headers or {})


class Chat:
    def __init__(self, client: BaseClient) -> None:
        self.completions = Completions(client)
        self.asyncCompletions = AsyncCompletions(client)
        self.async_completions = self.asyncCompletions
