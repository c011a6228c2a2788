"""The dialect servers live in glm_magic.testing.dialects (tutorials use them too)."""

from glm_magic.testing.dialects import (  # noqa: F401
    DashScopeServer,
    OpenAIServer,
    QianfanServer,
    ZhipuV3Server,
    qianfan_error,
)
