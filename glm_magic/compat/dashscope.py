"""dashscope's `Generation.call` (Qwen) over glm-magic: replace `import dashscope`
with `from glm_magic.compat import dashscope` and the code runs as written.

    dashscope.api_key = "..."          # or DASHSCOPE_API_KEY
    resp = dashscope.Generation.call(dashscope.Generation.Models.qwen_turbo,
                                     messages=[...], result_format="message")
    if resp.status_code == HTTPStatus.OK:
        resp.output.choices[0]["message"]["content"], resp.usage.output_tokens
    else:
        resp.code, resp.message                        # e.g. 401 InvalidApiKey, not raised

`prompt=` sends `input.prompt`; `stream=True` yields responses whose text grows, or deltas with
`incremental_output=True`. Calls are recorded in the ledger (source "compat") and refused once
the session's budget is spent (that refusal, a transport failure or a bad argument raise)."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from .. import errors
from ..config import env_value, source_of
from . import _common
from ._common import AttrDict, attr_dict

api_key: str | None = None
base_http_api_url: str | None = None  # None: DASHSCOPE_HTTP_BASE_URL, DASHSCOPE_BASE_URL or the default
conversation: str | None = None  # copy each exchange here, so `%%glm --chat NAME` continues

_NOT_SENT = ("history", "plugins", "workspace")


class Role:
    """`from dashscope.api_entities.dashscope_response import Role`."""

    USER = "user"
    SYSTEM = "system"
    ASSISTANT = "assistant"
    BOT = "bot"
    TOOL = "tool"
    ATTACHMENT = "attachment"


class GenerationResponse(AttrDict):
    """`status_code`, `request_id`, `code`, `message`, `output`, `usage`, as the SDK has them;
    `print(resp)` shows it as JSON."""

    @classmethod
    def ok(cls, data: dict[str, Any]) -> GenerationResponse:
        output = attr_dict(data.get("output") or {})
        output.setdefault("text", None)
        output.setdefault("finish_reason", None)  # streamed: the string "null" until the end
        output.setdefault("choices", None)
        usage = attr_dict(data.get("usage") or {})
        return cls(status_code=HTTPStatus.OK, request_id=data.get("request_id") or "", code="",
                   message="", output=output, usage=usage)

    @classmethod
    def failed(cls, err: errors.GLMError) -> GenerationResponse:
        status = err.status or (HTTPStatus.BAD_REQUEST if isinstance(err, errors.BadRequestError)
                                else HTTPStatus.INTERNAL_SERVER_ERROR)
        code = err.code or ("InvalidParameter" if status == HTTPStatus.BAD_REQUEST else "")
        return cls(status_code=int(status), request_id=err.request_id or "", code=code,
                   message=err.message, output=None, usage=None)


def _answered(err: errors.GLMError) -> bool:
    """The server's refusals (and bad arguments) come back as responses, as the SDK returns
    them; a spent budget and transport failures raise."""
    return (bool(err.status or err.code) or type(err) is errors.BadRequestError) and not \
        isinstance(err, errors.BudgetExceededError)


class Generation:
    """`dashscope.Generation`: `Generation.call(...)` and `Generation.Models`."""

    class Models:
        qwen_turbo = "qwen-turbo"
        qwen_plus = "qwen-plus"
        qwen_max = "qwen-max"
        bailian_v1 = "bailian-v1"
        dolly_12b_v2 = "dolly-12b-v2"

    @classmethod
    def call(cls, model: str, prompt: Any = None, history: Any = None,
             api_key: str | None = None, messages: list[dict[str, Any]] | None = None,
             **kwargs: Any) -> GenerationResponse | Iterator[GenerationResponse]:
        """One answer (a `GenerationResponse`) or, with `stream=True`, an iterator of them."""
        if messages is None and prompt is None:
            raise errors.BadRequestError("Generation.call needs messages= or prompt=",
                                         provider="dashscope",
                                         hint='e.g. Generation.call("qwen-turbo", prompt="你好")')
        stream = bool(kwargs.pop("stream", False))
        incremental = bool(kwargs.get("incremental_output", False))
        kwargs.setdefault("result_format", None)  # sent only when asked, as the SDK does
        workspace = kwargs.get("workspace")
        params = {k: v for k, v in kwargs.items() if k not in _NOT_SENT}
        sent = list(messages) if messages is not None else [{"role": "user", "content": prompt}]
        if messages is None:
            params["prompt"] = prompt  # sent as input.prompt
        if stream:
            params["incremental_output"] = True  # deltas on the wire; see _stream for the rest
        headers = {"X-DashScope-WorkSpace": str(workspace)} if workspace else None
        base_url, base_url_from = _base_url()
        client = _common.client("dashscope", api_key=api_key or globals()["api_key"],
                                base_url=base_url, base_url_from=base_url_from)
        try:
            result = client.chat.completions.create(
                model=model, messages=sent, stream=stream, extra_headers=headers, **params)
        except errors.GLMError as err:
            if not _answered(err):
                raise
            failed = GenerationResponse.failed(err)
            return iter([failed]) if stream else failed
        if stream:
            return _stream(result, incremental, sent)
        _common.remember(conversation, sent, result.text)
        return GenerationResponse.ok(result.raw)


def _base_url() -> tuple[str | None, str | None]:
    """The base URL and where it came from. `DASHSCOPE_HTTP_BASE_URL` is read through the
    credential sources, so one from a project `.env` gets a key only from that same file."""
    if base_http_api_url:
        return base_http_api_url, None
    url = env_value("DASHSCOPE_HTTP_BASE_URL")
    return (url, source_of("DASHSCOPE_HTTP_BASE_URL")) if url else (None, None)


def _stream(stream: Any, incremental: bool, sent: list[dict[str, Any]]
            ) -> Iterator[GenerationResponse]:
    """Each event as a response; without `incremental_output` the text is everything so far,
    as the SDK gives it. A failure mid-stream ends the iteration with a failed response."""
    sofar: list[str] = []
    try:
        for chunk in stream:
            sofar.append(chunk.text)
            resp = GenerationResponse.ok(chunk.raw if isinstance(chunk.raw, dict) else {})
            if not incremental:
                _set_text(resp.output, "".join(sofar))
            yield resp
    except errors.GLMError as err:
        if not _answered(err):
            raise
        yield GenerationResponse.failed(err)
    finally:
        stream.close()
    _common.remember(conversation, sent, "".join(sofar))


def _set_text(output: AttrDict, text: str) -> None:
    if output.get("choices"):
        output["choices"][0].setdefault("message", AttrDict())["content"] = text
    else:
        output["text"] = text
