"""One exception tree for every provider. Each error knows provider, business code, HTTP status
and request id, and `str(err)` is a single line with a hint for the fix, never a secret."""

from __future__ import annotations

from ._secrets import scrub
from .sanitize import terminal_safe


class GLMError(Exception):
    """Base of every error glm-magic raises for a failed call."""

    hint = ""
    retryable = False

    def __init__(self, message: str = "", *, provider: str = "", code: str | None = None,
                 status: int | None = None, request_id: str | None = None,
                 hint: str | None = None, retry_after: float | None = None,
                 partial: object = None) -> None:
        self.message = terminal_safe(scrub(" ".join(str(message).split())))
        self.provider = provider
        self.code = None if code is None else str(code)
        self.status = status
        self.request_id = request_id
        if hint is not None:
            self.hint = hint
        self.retry_after = retry_after
        self.partial = partial  # the Completion with what arrived before the failure, if any
        self.response = None  # the HTTP error's response, made safe (core.responses)
        super().__init__(self.message)

    def __str__(self) -> str:
        where = []
        if self.code:
            where.append(f"code {self.code}")
        if self.status:
            where.append(f"HTTP {self.status}")
        if self.request_id:
            where.append(f"request {self.request_id}")
        head = f"[{self.provider}] " if self.provider else ""
        detail = f" ({', '.join(where)})" if where else ""
        hint = f" — {self.hint}" if self.hint else ""
        # Python prints the class name before this; `describe(err)` adds it for one-line UIs
        return scrub(f"{head}{self.message}{detail}{hint}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    # the attribute names SDK users read in their except clauses
    @property
    def status_code(self) -> int | None:
        return self.status

    @property
    def error_code(self) -> int | str | None:
        return int(self.code) if self.code and self.code.lstrip("-").isdigit() else self.code

    @property
    def error_msg(self) -> str:
        return self.message

    @property
    def req_id(self) -> str | None:
        return self.request_id


def describe(err: BaseException) -> str:
    """`AuthenticationError: [zhipu] … — hint`: the one line a notebook or panel shows."""
    return f"{type(err).__name__}: {err}"


class AuthenticationError(GLMError):
    hint = "check the API key (env var or api_key=) and that it belongs to this provider"


class PermissionDeniedError(AuthenticationError):
    hint = "this key has no access to that model or feature; check the console's permissions"


class RateLimitError(GLMError):
    hint = "too many requests; retried with backoff — lower concurrency or wait a moment"
    retryable = True


class QuotaExceededError(GLMError):
    hint = "the account is out of balance or its daily quota; top up or wait for the reset (never retried)"


class ContentFilterError(GLMError):
    hint = "the provider's moderation blocked this exchange; rephrase and start a fresh conversation (--new)"


class BadRequestError(GLMError):
    hint = "the request was rejected as invalid; check the model name and parameters"


class NotFoundError(BadRequestError):
    hint = "check the model name / endpoint and the base URL"


class ServerError(GLMError):
    hint = "the provider had an internal error; it was retried — try again later"
    retryable = True


class APITimeoutError(GLMError):
    hint = "no answer in time; raise timeout= or check the network"
    retryable = True


class APIConnectionError(GLMError):
    hint = "could not reach the server; check the base URL, proxy and network"
    retryable = True


class ProtocolError(GLMError):
    hint = "the server sent a malformed or truncated response; try again"


class ConfigurationError(GLMError):
    """Something is missing on our side (a key, a package); nothing was sent."""

    hint = ""


class ConversationBusyError(GLMError):
    """Another call is answering in this conversation; nothing was sent."""

    hint = "wait for the other answer, or use another conversation"


class InvalidAnswerError(GLMError):
    """A structured answer did not match its schema, also after the repairs allowed."""

    hint = "make the prompt clearer, simplify the schema, or allow more repairs (--max-repairs, max_repairs=)"


class CacheMissError(GLMError):
    """The response cache is in replay mode and holds no answer for this request; nothing was
    sent."""

    hint = ("record it once with the cache on (%config GLMSettings.cache = 'on', or --cache), "
            "or leave replay mode")


class BudgetExceededError(GLMError):
    hint = "raise it with %glm budget AMOUNT CURRENCY (or GLMMagics.budget), or use a free model"


# --- the official SDKs' names, as aliases in this tree, so code that catches them keeps working
# zhipuai ≥ 2 (`from zhipuai import APIReachLimitError`): HTTP 400 / 401 / 429 / 500 / 503
ZhipuAIError = GLMError
APIStatusError = GLMError
APIRequestFailedError = BadRequestError
APIAuthenticationError = AuthenticationError
APIReachLimitError = RateLimitError
APIInternalError = ServerError
APIServerFlowExceedError = ServerError
# qianfan (`from qianfan.errors import AccessTokenExpiredError`): a token that stayed refused
# after the one refresh every call makes on error 110/111
QfError = GLMError
APIError = GLMError
AccessTokenExpiredError = AuthenticationError
InvalidArgumentError = BadRequestError
RequestError = APIConnectionError
RequestTimeoutError = APITimeoutError

__all__ = [n for n in dir() if n.endswith("Error")] + ["describe"]
