"""`client.embeddings.create(...)`: vectors for texts, in the SDKs' shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .sdk_options import split_call_options, with_call_options

if TYPE_CHECKING:
    from ..base_client import BaseClient


class Embeddings:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def create(self, *, input: str | list[str], model: str | None = None,
               dimensions: int | None = None, encoding_format: str | None = None,
               **params: Any) -> Any:
        """Embed `input` (a string or a list of strings): an EmbeddingsResponse with
        `data[i].embedding` and `usage.prompt_tokens`. `await` it on an AsyncClient. `extra_body` is merged into the
        request, as the SDKs do."""
        c = self._client
        body, options = split_call_options(
            {"model": model or c.provider.default_embedding_model or c.provider.default_model,
             "input": input, "dimensions": dimensions, "encoding_format": encoding_format},
            params)
        return c._json(with_call_options(lambda: c.provider.embedding_request(body), options),
                       c.provider.parse_embeddings, body)
