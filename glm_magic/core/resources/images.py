"""`client.images.generations(...)`: image generation (CogView)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..base_client import BaseClient


class Images:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def generations(self, *, prompt: str, model: str = "cogview-3", size: str | None = None,
                    n: int | None = None, **params: Any) -> Any:
        """Generate images (CogView): an ImagesResponse with `data[i].url` (or `b64_json`)."""
        c = self._client
        body = {"model": model, "prompt": prompt, "size": size, "n": n, **params}
        body = {k: v for k, v in body.items() if v is not None}
        return c._json(lambda: c.provider.image_request(body), c.provider.parse_images, body)
