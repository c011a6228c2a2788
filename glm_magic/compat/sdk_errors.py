"""The exceptions of Zhipu's SDKs (zhipuai v4 and zai-sdk share them), and how the drop-in
clients raise them: by HTTP status, as the SDKs do (400 `APIRequestFailedError`, 401
`APIAuthenticationError`, 429 `APIReachLimitError`, 500 `APIInternalError`, 503
`APIServerFlowExceedError`, any other status `APIStatusError`; a timeout `APITimeoutError`, a
lost connection `APIConnectionError`, neither of them an `APIStatusError`), with `.response`,
`.status_code` and the SDK's `str()` — `Error code: 400, with error text {...}`.

Each raised error is also an instance of glm-magic's own class for it (a 400 with business code
1301 is both `APIRequestFailedError` and `glm_magic.ContentFilterError`), so code written
against either tree catches it."""

from __future__ import annotations

import functools
from typing import Any

from .. import errors

__all__ = ["APIAuthenticationError", "APIConnectionError", "APIInternalError",
           "APIReachLimitError", "APIRequestFailedError", "APIResponseError",
           "APIResponseValidationError", "APIServerFlowExceedError", "APIStatusError",
           "APITimeoutError", "ZaiError", "ZhipuAIError"]


class ZhipuAIError(Exception):
    """The SDKs' base exception (`zai.core.ZaiError` is the same class here)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def __str__(self) -> str:
        from .._secrets import scrub

        return scrub(str(self.args[0]) if self.args else "")


ZaiError = ZhipuAIError


class WithResponse:
    """`.response` and `.status_code`, as the SDKs' errors that came with an answer have."""

    status: int | None = None

    def keep(self, response: Any) -> None:
        self.response = response
        self.status = getattr(response, "status_code", None)

    @property
    def status_code(self) -> int | None:
        return self.status


class APIStatusError(WithResponse, ZhipuAIError):
    """An HTTP error answer: `.status_code` and `.response` (`.response.json()`)."""

    def __init__(self, message: str, *, response: Any) -> None:
        super().__init__(message)
        self.keep(response)


class APIRequestFailedError(APIStatusError):
    """HTTP 400."""


class APIAuthenticationError(APIStatusError):
    """HTTP 401."""


class APIReachLimitError(APIStatusError):
    """HTTP 429 (rate limits, concurrency 1302, arrears 1113)."""


class APIInternalError(APIStatusError):
    """HTTP 500."""


class APIServerFlowExceedError(APIStatusError):
    """HTTP 503."""


class APIResponseError(ZhipuAIError):
    """A failure without an HTTP error status: `.message`, `.request`, `.json_data`."""

    def __init__(self, message: str, request: Any = None, json_data: object = None) -> None:
        self.message = message
        self.request = request
        self.json_data = json_data
        super().__init__(message)


class APIResponseValidationError(WithResponse, APIResponseError):
    """A response whose data does not fit the expected shape."""

    def __init__(self, response: Any, json_data: object | None, *,
                 message: str | None = None) -> None:
        super().__init__(message or "Data returned by API invalid for expected schema.",
                         getattr(response, "request", None), json_data)
        self.keep(response)


class APIConnectionError(APIResponseError):
    def __init__(self, *, message: str = "Connection error.", request: Any = None) -> None:
        super().__init__(message, request, json_data=None)


class APITimeoutError(APIConnectionError):
    def __init__(self, request: Any = None) -> None:
        super().__init__(message="Request timed out.", request=request)


BY_STATUS = {400: APIRequestFailedError, 401: APIAuthenticationError,
             429: APIReachLimitError, 500: APIInternalError, 503: APIServerFlowExceedError}


@functools.cache
def _both(sdk: type, ours: type) -> type:
    """The class raised: the SDK's first (its `__str__` wins), then glm-magic's."""
    return type(sdk.__name__, (sdk, ours), {"__module__": __name__,
                                            "__qualname__": sdk.__name__})


def sdk_error(err: errors.GLMError) -> BaseException:
    """`err` as the SDKs would raise it, keeping everything glm-magic knew about it
    (provider, business code, request id, the partial answer)."""
    if isinstance(err, ZhipuAIError):
        return err
    response = err.response
    if isinstance(err, errors.APITimeoutError):
        sdk: type = APITimeoutError
        message = "Request timed out."
    elif isinstance(err, errors.APIConnectionError) or (
            err.status is None and isinstance(err, errors.ProtocolError)):
        sdk, message = APIConnectionError, "Connection error."
    elif err.status is not None:
        sdk = BY_STATUS.get(err.status, APIStatusError)
        text = response.text.strip() if response is not None else err.message
        message = f"Error code: {err.status}, with error text {text}"
    else:  # no HTTP status (a business error inside a 200, a refused call): ours as it is
        return err
    made = _both(sdk, type(err))
    out = made.__new__(made)
    out.__dict__.update(err.__dict__)
    out.args = (message,)
    if issubclass(sdk, APIResponseError):
        out.message, out.request, out.json_data = message, getattr(
            response, "request", None), None
    out.__traceback__ = err.__traceback__
    return out
