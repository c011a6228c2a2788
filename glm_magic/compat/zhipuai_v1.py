"""zhipuai < 2 (the legacy v3 model API) over glm-magic: replace `import zhipuai`
with `from glm_magic.compat import zhipuai_v1 as zhipuai` and the code runs as written.

    zhipuai.api_key = "..."            # or ZHIPUAI_API_KEY
    resp = zhipuai.model_api.invoke(model="chatglm_pro", prompt=[...])
    resp["data"]["choices"][0]["content"]            # quoted exactly as the SDK returns it
    for event in zhipuai.model_api.sse_invoke(model=..., prompt=[...]).events():
        event.event, event.data, event.meta          # add | finish | error | interrupted

Answers are the server's own envelopes (`code`, `msg`, `success`, `data`); a business error
comes back as such an envelope, not an exception, as it did. Calls are recorded in the
ledger (source "compat") and refused once the session's budget is spent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .. import errors
from ..core.streams import Stream
from . import _common
from ._zhipu_errors import *  # noqa: F403  (the SDK's exception names)

api_key: str | None = None
api_timeout_seconds: float = 300
model_api_url: str | None = None  # the v3 base URL; None: ZHIPUAI_V3_BASE_URL or the default
conversation: str | None = None  # copy each exchange here, so `%%glm --chat NAME` continues

_TASKS: dict[str, dict[str, Any]] = {}  # task id → the request, until its result is recorded


def _client() -> Any:
    return _common.client("zhipu_v3", api_key=api_key, base_url=model_api_url,
                          timeout=api_timeout_seconds)


def _request(kwargs: dict[str, Any]) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    params = dict(kwargs)
    model = params.pop("model", None)
    prompt = params.pop("prompt", None)
    if not model or not isinstance(prompt, list):
        raise errors.BadRequestError("model_api calls need model= and prompt=[{role, content}]",
                                     provider="zhipu_v3",
                                     hint='e.g. invoke(model="chatglm_pro", prompt=[{"role": '
                                          '"user", "content": "你好"}])')
    params.pop("incremental", None)  # streams ask for deltas; see SSEClient
    return str(model), prompt, params


def _envelope(err: errors.GLMError) -> dict[str, Any]:
    """A refused call as the SDK returned it: the server's code and message, success False."""
    code = err.error_code if err.code else err.status
    return {"code": code, "msg": err.message, "success": False}


def _answered(err: errors.GLMError) -> bool:
    """True when the server answered (a business error), False for our own refusals and
    transport failures, which raise as they did."""
    return bool(err.code or err.status) and not isinstance(err, errors.BudgetExceededError)


@dataclass
class Event:
    """One server-sent event as zhipuai 1.x yields it: `event` is add / finish / error /
    interrupted, `data` the text, `meta` the JSON text of a finish event's usage."""

    event: str
    data: str
    id: str | None = None
    meta: str | None = None


class SSEClient:
    """`sse_invoke(...)`'s result: iterate `events()`. Errors and moderation stops arrive as
    `error` / `interrupted` events after every piece of text that came before them."""

    def __init__(self, stream: Stream | None, incremental: bool, prompt: list[dict[str, Any]],
                 refused: errors.GLMError | None = None) -> None:
        self._stream = stream
        self._incremental = incremental
        self._prompt = prompt
        self._refused = refused  # the server refused the call before any text

    def events(self) -> Iterator[Event]:
        if self._stream is None:
            yield Event("error", self._refused.message if self._refused else "")
            return
        sofar: list[str] = []
        try:
            for chunk in self._stream:
                raw = chunk.raw if isinstance(chunk.raw, dict) else {}
                kind = raw.get("event") or "add"
                if kind == "finish":
                    yield Event("finish", raw.get("data") or "", raw.get("id"), raw.get("meta"))
                    continue
                sofar.append(chunk.text)
                data = chunk.text if self._incremental else "".join(sofar)
                yield Event(kind, data, raw.get("id"))
        except errors.GLMError as err:
            raw = getattr(err, "sse_event", None)
            if raw is None:
                raise
            yield Event(raw["event"], raw.get("data") or "", raw.get("id"), raw.get("meta"))
        finally:
            self._stream.close()
        _common.remember(conversation, self._prompt, "".join(sofar))

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


class model_api:  # noqa: N801  (the SDK's name)
    """The v1 SDK's `zhipuai.model_api`."""

    @staticmethod
    def invoke(**kwargs: Any) -> dict[str, Any]:
        """One whole answer: the `{code, msg, success, data: {choices, usage, …}}` envelope."""
        model, prompt, params = _request(kwargs)
        try:
            comp = _client().chat.completions.create(model=model, messages=prompt, **params)
        except errors.GLMError as err:
            if _answered(err):
                return _envelope(err)
            raise
        _common.remember(conversation, prompt, comp.text)
        return comp.raw

    @staticmethod
    def async_invoke(**kwargs: Any) -> dict[str, Any]:
        """Submit a task: the envelope with `data.task_id` and `task_status` PROCESSING."""
        model, prompt, params = _request(kwargs)
        try:
            task = _client().chat.asyncCompletions.create(model=model, messages=prompt,
                                                          **params)
        except errors.GLMError as err:
            if _answered(err):
                return _envelope(err)
            raise
        _TASKS[task.id] = {"model": model, "messages": prompt}
        return task.raw

    @staticmethod
    def query_async_invoke_result(task_id: str) -> dict[str, Any]:
        """The task's envelope; its usage is recorded once, when it first reads SUCCESS."""
        from ..accounting.recording import direct_call, record_direct

        c = _client()
        try:
            result = c.chat.asyncCompletions.retrieve_completion_result(task_id)
        except errors.GLMError as err:
            if _answered(err):
                return _envelope(err)
            raise
        request = _TASKS.get(task_id)
        if (result.task_status or "").upper() == "SUCCESS" and request is not None:
            del _TASKS[task_id]
            record_direct(direct_call(c.provider.name, request, "compat"), result)
            _common.remember(conversation, request["messages"], result.text)
        return result.raw

    @staticmethod
    def sse_invoke(**kwargs: Any) -> SSEClient:
        """A stream of events; `incremental=False` gives the text so far in each `add`."""
        incremental = bool(kwargs.get("incremental", True))
        model, prompt, params = _request(kwargs)
        try:
            stream = _client().chat.completions.create(model=model, messages=prompt,
                                                       stream=True, **params)
        except errors.GLMError as err:
            if _answered(err):
                return SSEClient(None, incremental, prompt, err)
            raise
        return SSEClient(stream, incremental, prompt)
