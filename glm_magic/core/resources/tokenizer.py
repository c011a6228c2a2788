"""`client.tokenizer.create(model=, messages=)`: exact prompt tokens before sending (Zhipu's
`POST /tokenizer`; the local model counts with its own tokenizer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..base_client import BaseClient


class Tokenizer:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def create(self, *, messages: list[dict[str, Any]], model: str | None = None,
               **params: Any) -> Any:
        """A `TokenCount` (`.prompt_tokens`, `.usage.prompt_tokens`); `await` it on an
        AsyncClient. Free: nothing is generated."""
        c = self._client
        body = {"model": model or c.provider.default_model, "messages": messages, **params}
        return c._json(lambda: c.provider.tokenizer_request(body), c.provider.parse_token_count,
                       body)
