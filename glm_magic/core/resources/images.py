"""`client.images.generations(...)`: image generation (CogView)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .sdk_options import split_call_options, with_call_options

if TYPE_CHECKING:
    from ..base_client import BaseClient


class Images:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def generations(self, *, prompt: str, model: str = "cogview-3", size: str | None = None,
                    n: int | None = None, **params: Any) -> Any:
        """Generate images (CogView): an ImagesResponse with `data[i].url` (or `b64_json`)."""
        c = self._client
        body, options = split_call_options(
            {"model": model, "prompt": prompt, "size": size, "n": n}, params)
        return c._json(with_call_options(lambda: c.provider.image_request(body), options),
                       c.provider.parse_images, body)
