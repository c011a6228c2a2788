"""`client.embeddings.create(...)`: vectors for texts, in the SDKs' shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..base_client import BaseClient


class Embeddings:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def create(self, *, input: str | list[str], model: str | None = None,
               dimensions: int | None = None, encoding_format: str | None = None,
               **params: Any) -> Any:
        """Embed `input` (a string or a list of strings): an EmbeddingsResponse with
        `data[i].embedding` and `usage.prompt_tokens`. `await` it on an AsyncClient."""
        c = self._client
        body = {"model": model or c.provider.default_embedding_model or c.provider.default_model,
                "input": input, "dimensions": dimensions, "encoding_format": encoding_format,
                **params}
        body = {k: v for k, v in body.items() if v is not None}
        return c._json(lambda: c.provider.embedding_request(body), c.provider.parse_embeddings,
                       body)
