"""zhipuai ≥ 2 (`from zhipuai import ZhipuAI`) over glm-magic: replace the
import with `from glm_magic.compat.zhipuai import ZhipuAI` and the code runs as written, with
the SDK's exception names alongside."""

from __future__ import annotations

from typing import Any

from ..core.client import Client
from ._zhipu_errors import *  # noqa: F403  (the SDK's exception names)


class ZhipuAI(Client):
    """`ZhipuAI(api_key=..., base_url=...)`: a Client for open.bigmodel.cn v4 whose calls are
    recorded with source "compat". An empty `api_key=""` (the tutorials' placeholder) reads
    ZHIPUAI_API_KEY."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("source", "compat")
        super().__init__("zhipu", api_key=api_key or None, base_url=base_url, **kwargs)
