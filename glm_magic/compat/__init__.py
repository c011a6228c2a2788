"""The call shapes of the vendor SDKs our users learn from, over glm-magic's client, so their
code runs with only the import changed — and lands in the ledger, respects the budget and can
continue in `%%glm`:

    from glm_magic.compat import zhipuai_v1 as zhipuai   # zhipuai < 2: model_api.invoke, …
    from glm_magic.compat.zhipuai import ZhipuAI         # zhipuai ≥ 2
    from glm_magic.compat.zai import ZhipuAiClient       # zai-sdk (also ZaiClient)
    from glm_magic.compat import dashscope               # Generation.call
    from glm_magic.compat import qianfan                 # ChatCompletion().do
    from glm_magic.compat.openai import OpenAI           # any OpenAI-compatible server

Each module reads its settings as the SDK does (`zhipuai.api_key = ...`, `dashscope.api_key`,
the `ZHIPUAI_*`, `ZAI_*`, `DASHSCOPE_*` and `QIANFAN_*` environment variables). Set a module's
`conversation = "name"` to copy each exchange into that conversation, so
`%%glm --chat name` continues where the SDK code left off."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["dashscope", "openai", "qianfan", "zai", "zhipuai", "zhipuai_v1"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
