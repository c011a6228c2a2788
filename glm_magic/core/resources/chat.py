"""`client.chat.completions.create(...)`: chat completions, streamed or whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from .async_tasks import AsyncCompletions

if TYPE_CHECKING:
    from ..base_client import BaseClient


def chat_body(provider: Any, model: str | None, messages: list[dict[str, Any]],
              params: dict[str, Any], extra_body: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """The request body of a chat call as the client hands it to the provider (and as the
    response cache keys it): the model (the provider's default for None/"default"), the
    messages, the parameters, `extra_body` merged, `response_format` in the form this
    provider accepts."""
    body = {"model": provider.default_model if model in (None, "", "default") else model,
            "messages": messages}
    body.update(params)
    if extra_body:
        body.update(extra_body)
    if body.get("response_format") is not None:
        from ...providers.formats import adapt_request

        body = adapt_request(body, provider)
    return body


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
        body = chat_body(c.provider, model, messages, params, extra_body)
        return c._create(body, stream, as_timeout(timeout) if timeout is not None
                         else c.timeout, extra_headers or {})


class Chat:
    def __init__(self, client: BaseClient) -> None:
        self.completions = Completions(client)
        self.asyncCompletions = AsyncCompletions(client)
        self.async_completions = self.asyncCompletions
