"""zhipuai ≥ 2 (`from zhipuai import ZhipuAI`) over glm-magic: replace the import with
`from glm_magic.compat.zhipuai import ZhipuAI` and the code runs as written — the same
requests, the SDK's exceptions by HTTP status (`except zhipuai.APIStatusError`, or
`zhipuai.core._errors.APIRequestFailedError`), a moderated answer returned with
`finish_reason == "sensitive"` rather than raised."""

from __future__ import annotations

from typing import Any

from ..core.client import Client
from . import core
from .sdk_client import SDKProvider, sdk_client_options, sdk_shaped
from .sdk_errors import *  # noqa: F403  (the SDK's exception names)
from .sdk_errors import __all__ as _error_names

__version__ = "2.1.5"  # the zhipuai release whose behaviour this module follows
__all__ = ["ZhipuAI", "__version__", "core", *_error_names]


@sdk_shaped
class ZhipuAI(Client):
    """`ZhipuAI(api_key=..., base_url=...)`: a Client for open.bigmodel.cn v4 whose calls are
    recorded with source "compat". An empty `api_key=""` (the tutorials' placeholder) reads
    ZHIPUAI_API_KEY."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("source", "compat")
        provider = SDKProvider(api_key or None, base_url, **sdk_client_options(kwargs))
        super().__init__(provider, **kwargs)
