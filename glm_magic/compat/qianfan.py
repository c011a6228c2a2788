"""qianfan's `ChatCompletion().do` (ERNIE and deployed models such as ChatGLM3-6B)
over glm-magic: replace `import qianfan` with `from glm_magic.compat import qianfan` and the
code runs as written.

    os.environ["QIANFAN_ACCESS_KEY"] = "..."   # IAM keys: every request signed (bce-auth-v1)
    os.environ["QIANFAN_SECRET_KEY"] = "..."   # or QIANFAN_AK / QIANFAN_SK: the app's token
    resp = qianfan.ChatCompletion().do(endpoint="your_custom_endpoint", messages=[...])
    resp["body"]["result"]
    for r in qianfan.ChatCompletion().do(model="ERNIE-Speed-8K", messages=[...], stream=True):
        r["body"]["result"], r["body"]["is_end"]

Errors raise glm-magic's exceptions, which carry the SDK's names too (`qianfan.errors.
APIError`, `AccessTokenExpiredError`, …) and its `error_code` / `error_msg`. `retry_count`,
`request_timeout` and `backoff_factor` shape the client's retries; they are not sent. Calls
are recorded in the ledger (source "compat") and refused once the session's budget is spent."""

from __future__ import annotations

import os
import types
from collections.abc import Iterator
from typing import Any

from .. import errors as _errors
from . import _common
from ._common import AttrDict

conversation: str | None = None  # copy each exchange here, so `%%glm --chat NAME` continues

_NOT_SENT = ("retry_count", "request_timeout", "backoff_factor", "request_id",
             "retry_jitter", "retry_max_wait_interval", "show_total_latency")

errors = types.SimpleNamespace(  # `from qianfan import errors` / `qianfan.errors.APIError`
    QfError=_errors.QfError, APIError=_errors.APIError,
    AccessTokenExpiredError=_errors.AccessTokenExpiredError,
    InvalidArgumentError=_errors.InvalidArgumentError, RequestError=_errors.RequestError,
    RequestTimeoutError=_errors.RequestTimeoutError)
APIError = _errors.APIError
AccessTokenExpiredError = _errors.AccessTokenExpiredError


def AK(ak: str) -> None:  # noqa: N802  (the SDK's names)
    """`qianfan.AK("...")`: the app's API Key for later calls."""
    os.environ["QIANFAN_AK"] = ak


def SK(sk: str) -> None:  # noqa: N802
    os.environ["QIANFAN_SK"] = sk


def AccessKey(access_key: str) -> None:  # noqa: N802
    """`qianfan.AccessKey("...")`: the IAM Access Key for later calls."""
    os.environ["QIANFAN_ACCESS_KEY"] = access_key


def SecretKey(secret_key: str) -> None:  # noqa: N802
    os.environ["QIANFAN_SECRET_KEY"] = secret_key


class QfResponse(AttrDict):
    """`resp["body"]` (the service's JSON), `resp["code"]` (the HTTP status), `resp.headers`,
    `resp.statistic`, as the SDK's response reads."""

    @classmethod
    def of(cls, body: Any, latency_s: float | None = None) -> QfResponse:
        return cls(code=200, headers={}, body=_common.attr_dict(body or {}),
                   statistic={"request_latency": latency_s or 0.0}, image=None)


class ChatCompletion:
    """`qianfan.ChatCompletion(model=, endpoint=, ak=, sk=, access_key=, secret_key=)`."""

    def __init__(self, model: str | None = None, endpoint: str | None = None,
                 ak: str | None = None, sk: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None,
                 **kwargs: Any) -> None:
        self._model = model
        self._endpoint = endpoint
        self._credentials = {"api_key": ak, "secret_key": sk, "iam_access_key": access_key,
                             "iam_secret_key": secret_key}

    def do(self, messages: Any, model: str | None = None, endpoint: str | None = None,
           stream: bool = False, retry_count: int = 1, request_timeout: float = 60,
           backoff_factor: float = 0, **kwargs: Any) -> QfResponse | Iterator[QfResponse]:
        """One answer, or with `stream=True` an iterator of the streamed pieces."""
        msgs = _as_list(messages)
        options = {k: v for k, v in self._credentials.items() if v}
        client = _common.client("qianfan", timeout=float(request_timeout),
                                max_retries=max(0, int(retry_count) - 1),
                                backoff_s=float(backoff_factor), **options)
        params = {k: v for k, v in kwargs.items() if k not in _NOT_SENT}
        endpoint = endpoint or (None if model else self._endpoint)
        if endpoint:
            params["endpoint"] = endpoint
        name = model or self._model or (endpoint if endpoint else None)
        result = client.chat.completions.create(model=name, messages=msgs, stream=stream,
                                                **params)
        if stream:
            return _pieces(result, msgs)
        _common.remember(conversation, msgs, result.text)
        return QfResponse.of(result.raw, result.latency_s)


def _as_list(messages: Any) -> list[dict[str, Any]]:
    """A list of message dicts, or the SDK's `Messages` object (anything with `_to_list`)."""
    if hasattr(messages, "_to_list"):
        return list(messages._to_list())
    if not isinstance(messages, list):
        raise _errors.BadRequestError("messages must be a list of {role, content} dicts",
                                      provider="qianfan",
                                      hint='e.g. messages=[{"role": "user", "content": "你好"}]')
    return messages


def _pieces(stream: Any, msgs: list[dict[str, Any]]) -> Iterator[QfResponse]:
    sofar: list[str] = []
    try:
        for chunk in stream:
            sofar.append(chunk.text)
            yield QfResponse.of(chunk.raw if isinstance(chunk.raw, dict) else
                                {"result": chunk.text})
    finally:
        stream.close()
    _common.remember(conversation, msgs, "".join(sofar))
