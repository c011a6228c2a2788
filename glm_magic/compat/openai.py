"""The openai SDK's client (`from openai import OpenAI`, e.g. for a GLM gateway) over glm-magic:
replace the import with `from glm_magic.compat.openai import OpenAI` and the code runs as
written against any OpenAI-compatible server."""

from __future__ import annotations

from typing import Any

from ..core.client import Client


class OpenAI(Client):
    """`OpenAI(api_key=..., base_url=...)`: a Client for an OpenAI-compatible endpoint
    (OPENAI_API_KEY / OPENAI_BASE_URL when not given), recorded with source "compat"."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("source", "compat")
        super().__init__("openai", api_key=api_key or None, base_url=base_url, **kwargs)
