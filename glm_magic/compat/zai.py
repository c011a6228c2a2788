"""zai-sdk, Zhipu's current SDK (`from zai import ZhipuAiClient, ZaiClient`), over glm-magic:
replace the import with `from glm_magic.compat.zai import ZhipuAiClient` and the code runs as
written. `ZhipuAiClient` talks to open.bigmodel.cn (prices in CNY), `ZaiClient` to api.z.ai
(prices in USD); both read `ZAI_API_KEY` and `ZAI_BASE_URL` when no argument is given, under
the same source rules as every key (the environment, or a project `.env` whose base URL gets
a key only from that same file). Errors are the SDK's classes by HTTP status
(`zai.core._errors`), and a moderated answer is returned with `finish_reason == "sensitive"`."""

from __future__ import annotations

from typing import Any, ClassVar

from ..core.client import Client
from . import core
from .sdk_client import SDKProvider, sdk_client_options, sdk_shaped
from .sdk_errors import *  # noqa: F403  (the SDK's exception names)
from .sdk_errors import ZaiError
from .sdk_errors import __all__ as _error_names

__version__ = "0.2.2"  # the zai-sdk release whose behaviour this module follows
__all__ = ["ZaiClient", "ZhipuAiClient", "__version__", "core", *_error_names]


class ZaiProvider(SDKProvider):
    """Zhipu v4 with zai-sdk's variable names."""

    key_env = "ZAI_API_KEY"
    base_url_env = "ZAI_BASE_URL"


class ZaiPlatformProvider(ZaiProvider):
    default_base_url = "https://api.z.ai/api/paas/v4"


class _SDKClient(Client):
    provider_class: ClassVar[type[ZaiProvider]] = ZaiProvider

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("source", "compat")
        provider = self.provider_class(api_key, base_url, **sdk_client_options(kwargs))
        if not provider.has_key:
            raise ZaiError("api_key not provided, please provide it through parameters or "
                           "environment variables")
        super().__init__(provider, **kwargs)


@sdk_shaped
class ZhipuAiClient(_SDKClient):
    """`ZhipuAiClient(api_key=...)`: open.bigmodel.cn v4, recorded with source "compat"."""


@sdk_shaped
class ZaiClient(_SDKClient):
    """`ZaiClient(api_key=...)`: api.z.ai (Z.ai, the international platform; USD prices)."""

    provider_class = ZaiPlatformProvider
