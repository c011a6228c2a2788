"""The zhipuai SDK's exception names (aliases in glm-magic's own tree), so `except` clauses
written for it keep working; both zhipuai drop-in modules export them."""

from ..errors import (
           APIAuthenticationError,
           APIConnectionError,
           APIInternalError,
           APIReachLimitError,
           APIRequestFailedError,
           APIServerFlowExceedError,
           APIStatusError,
           APITimeoutError,
           ZhipuAIError,
)

__all__ = ["APIAuthenticationError", "APIConnectionError", "APIInternalError",
           "APIReachLimitError", "APIRequestFailedError", "APIServerFlowExceedError",
           "APIStatusError", "APITimeoutError", "ZhipuAIError"]
